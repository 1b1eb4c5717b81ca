"""What every service's app shares (services/common/web.py), on a real server, database
and broker: health and readiness, metrics, the cross-site guard, the client address."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.common.config import Settings
from services.common.errors import error_middleware
from services.common.web import SETTINGS, client_address, create_base_app, same_origin_changes
from tests.support.infra import Database


async def change(request: web.Request) -> web.Response:
    return web.json_response({"changed": True, "address": client_address(request)})


def settings(database: Database, amqp_url: str, proxies: list[str]) -> Settings:
    return Settings(
        service="counter",
        database_url=database.dsn("counter"),
        amqp_url=amqp_url,
        trusted_proxies=proxies,
    )


@pytest.fixture
async def client(database: Database, amqp_url: str, tmp_path: Path) -> AsyncIterator[TestClient]:
    (tmp_path / "probe" / "migrations").mkdir(parents=True)
    app = create_base_app(settings(database, amqp_url, ["127.0.0.1"]), tmp_path / "probe")
    app.router.add_post("/api/v1/change", change)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_health_readiness_and_metrics(client: TestClient) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"] == {"database": "ok", "broker": "ok"}
    metrics = await (await client.get("/metrics")).text()
    assert "bantin_outbox_oldest_unsent_seconds" in metrics


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Cookie": "bantin_session=t", "Sec-Fetch-Site": "cross-site"}, 403),
        ({"Cookie": "bantin_session=t", "Sec-Fetch-Site": "same-site"}, 403),
        ({"Cookie": "bantin_session=t", "Origin": "https://ke-gian.example"}, 403),
        ({"Cookie": "bantin_session=t", "Sec-Fetch-Site": "same-origin"}, 200),
        ({"Cookie": "bantin_session=t"}, 200),  # no browser hints: SameSite=Lax guards it
        ({"Sec-Fetch-Site": "cross-site"}, 200),  # no session: nothing to ride on
        ({"Cookie": "bantin_session=t", "Authorization": "Bearer x", "Origin": "https://x"}, 200),
        # Regression: any Authorization header used to skip the check, while a non-Bearer
        # one left the cookie to authenticate the request.
        ({"Cookie": "bantin_session=t", "Authorization": "Basic eDp5", "Origin": "https://x"}, 403),
        ({"Cookie": "bantin_session=t", "Authorization": "Bearer ", "Origin": "https://x"}, 403),
        ({"Cookie": "bantin_session=t", "Authorization": "x", "Sec-Fetch-Site": "cross-site"}, 403),
    ],
)
async def test_changes_riding_on_the_session_cookie_from_another_site_are_refused(
    headers: dict[str, str], status: int
) -> None:
    app = web.Application(middlewares=[error_middleware, same_origin_changes])
    app.router.add_post("/api/v1/change", change)
    app[SETTINGS] = Settings(service="counter", database_url="", amqp_url="")
    async with TestClient(TestServer(app)) as client:
        response = await client.post("/api/v1/change", headers=headers)
        assert response.status == status
        if status == 403:
            assert (await response.json())["code"] == "cross_site_request"
        same_host = await client.post(
            "/api/v1/change",
            headers={"Cookie": "bantin_session=t", "Origin": f"http://{client.host}:{client.port}"},
        )
        assert same_host.status == 200


async def test_forwarded_address_is_believed_only_from_a_trusted_proxy(
    database: Database, amqp_url: str
) -> None:
    for proxies, expected in ((["127.0.0.1"], "203.0.113.9"), (["10.0.0.1"], "127.0.0.1")):
        app = web.Application()
        app[SETTINGS] = settings(database, amqp_url, proxies)
        app.router.add_post("/api/v1/change", change)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            response = await client.post(
                "/api/v1/change", headers={"X-Forwarded-For": "203.0.113.9"}
            )
            assert (await response.json())["address"] == expected
