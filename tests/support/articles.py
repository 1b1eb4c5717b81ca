"""The harness of the articles tests: the service in-process (TestServer) on a database and
a RabbitMQ vhost of its own, users of every role with their tokens, and helpers that
create content through the API."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from services.articles import actions
from services.articles.app import create_app
from services.articles.config import ArticlesConfig
from services.articles.domain import User
from services.articles.tokens import TokenIssuer
from services.common import db
from services.common.auth import ACCESS_COOKIE
from services.common.config import Settings
from services.common.events import topology
from tests.support import keys
from tests.support.infra import create_database, create_vhost, delete_vhost, drop_database

PASSWORD = "mật khẩu đủ dài 2024"
# A 1 x 1 transparent PNG that decodes (uploads are decoded before they are stored).
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc````\x00\x00\x00\x05\x00\x01\xa5\xf6E@\x00"
    b"\x00\x00\x00IEND\xaeB`\x82"
)


@dataclass
class Account:
    user: User
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def cookie(self) -> dict[str, str]:
        """The token as a browser holds it: the access token cookie (no sign-in session)."""
        return {"Cookie": f"{ACCESS_COOKIE}={self.token}"}


@dataclass
class Site:
    client: TestClient
    amqp_url: str
    admin_dsn: str
    pool: asyncpg.Pool  # as the articles role, for arranging and checking rows
    issuer: TokenIssuer
    accounts: dict[str, Account]

    async def new_account(self, *roles: str) -> Account:
        async with self.pool.acquire() as conn:
            user = await actions.create_user(
                conn,
                f"u.{uuid.uuid4().hex[:10]}",
                PASSWORD,
                roles=roles,
                display_name="Nguyễn Văn Biên",
            )
        token, _ = self.issuer.issue(user)
        return Account(user, token)

    def auth(self, role: str) -> dict[str, str]:
        return self.accounts[role].headers

    async def category(self, name: str | None = None) -> dict[str, Any]:
        name = name or f"Chuyên mục {uuid.uuid4().hex[:6]}"
        response = await self.client.post(
            "/api/v1/categories", json={"name": name}, headers=self.auth("editor")
        )
        assert response.status == 201, await response.text()
        return dict(await response.json())

    async def draft(self, role: str = "editor", **fields: Any) -> dict[str, Any]:
        if "category_id" not in fields:
            fields["category_id"] = (await self.category())["id"]
        body = {
            "title": f"Bản tin thử {uuid.uuid4().hex[:6]}",
            "summary": "Tóm tắt bản tin.",
            "body_html": "<p>Nội dung bản tin.</p>",
            "byline": "Hồng Tươi (VP HND)",
            **fields,
        }
        body = {name: value for name, value in body.items() if value is not None}  # None: left out
        response = await self.client.post("/api/v1/articles", json=body, headers=self.auth(role))
        assert response.status == 201, await response.text()
        return dict(await response.json())

    async def published(self, **fields: Any) -> dict[str, Any]:
        draft = await self.draft(**fields)
        response = await self.client.post(
            f"/api/v1/articles/{draft['id']}/publish", headers=self.auth("editor")
        )
        assert response.status == 200, await response.text()
        return dict(await response.json())


async def post_form(
    client: TestClient, path: str, data: dict[str, str], **kwargs: Any
) -> ClientResponse:
    """Post a sign-in or password form as a browser does: the form is fetched first (its
    CSRF cookie goes into the client's jar, its token into the fields). A test-client
    `post`'s other arguments pass through."""
    form_path = path if path != "/dang-xuat" else "/dang-nhap"
    page = await client.get(form_path)
    found = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert found, f"no CSRF token in {form_path}"
    return await client.post(path, data={**data, "csrf": found[1]}, **kwargs)


@asynccontextmanager
async def running_site(trusted_proxies: list[str] | None = None) -> AsyncIterator[Site]:
    """The articles service on a database and vhost of its own (tests here count events
    and rows), with an admin, an editor, an author and a moderator. Each test module
    makes its own, as a module-scoped fixture named `site`. With `trusted_proxies` (the
    test client's 127.0.0.1), a test plays the gateway: X-Forwarded-For names the reader's
    address and X-Forwarded-Proto the scheme their browser used."""
    database = create_database()
    vhost = create_vhost()
    key_pair = keys.new_keypair()
    try:
        await topology.apply(vhost.url)
        settings = Settings(
            service="articles",
            database_url=database.dsn("articles"),
            amqp_url=vhost.url,
            auth_public_key=key_pair.public_pem,
            auth_private_key=key_pair.private_pem,
            relay_poll_seconds=0.5,
            trusted_proxies=trusted_proxies or [],
        )
        app = create_app(settings, ArticlesConfig(site_url="https://tin.example.vn"))
        async with TestClient(TestServer(app)) as client:
            pool = await db.create_pool(database.dsn("articles"), max_size=3)
            harness = Site(
                client=client,
                amqp_url=vhost.url,
                admin_dsn=database.admin_dsn,
                pool=pool,
                issuer=TokenIssuer(key_pair.private_pem),
                accounts={},
            )
            for role in ("admin", "editor", "author", "moderator"):
                harness.accounts[role] = await harness.new_account(role)
            try:
                yield harness
            finally:
                await pool.close()
    finally:
        delete_vhost(vhost)
        drop_database(database)
