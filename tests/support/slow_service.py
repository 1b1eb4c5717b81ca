"""A service built and run exactly like the real ones (services.common.web), plus one slow
route and a count of the slow requests it holds: what SIGTERM does to a request in flight.
Run as `python -m tests.support.slow_service` with the counter's environment
(COUNTER_DATABASE_URL, AMQP_URL, HTTP_PORT)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.common.config import Settings
from services.common.web import create_base_app, run
from tests.support.infra import ROOT

SLOW_SECONDS = 1.5
IN_FLIGHT = web.AppKey("in_flight", list)


async def slow(request: web.Request) -> web.Response:
    held = request.app[IN_FLIGHT]
    held.append(request)
    try:
        await asyncio.sleep(SLOW_SECONDS)
    finally:
        held.remove(request)
    return web.json_response({"finished": True})


async def in_flight(request: web.Request) -> web.Response:
    """How many /slow requests the handler holds now."""
    return web.json_response({"slow": len(request.app[IN_FLIGHT])})


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(settings, ROOT / "services" / "counter")
    app[IN_FLIGHT] = []
    app.router.add_get("/slow", slow)
    app.router.add_get("/slow/in-flight", in_flight)
    return app


if __name__ == "__main__":
    run(create_app, "counter", 0)
