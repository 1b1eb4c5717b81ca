"""A service built and run exactly like the real ones (services.common.web), plus one slow
route: what SIGTERM does to a request in flight. Run as `python -m tests.support.slow_service`
with the counter's environment (COUNTER_DATABASE_URL, AMQP_URL, HTTP_PORT)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.common.config import Settings
from services.common.web import create_base_app, run
from tests.support.infra import ROOT

SLOW_SECONDS = 1.5


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(SLOW_SECONDS)
    return web.json_response({"finished": True})


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(settings, ROOT / "services" / "counter")
    app.router.add_get("/slow", slow)
    return app


if __name__ == "__main__":
    run(create_app, "counter", 0)
