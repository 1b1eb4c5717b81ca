"""The role matrix's stack: the three services in-process on one database and one vhost,
signing and verifying with one key pair as deployed, with an account of every role, the
accounts that must be refused (disabled, must change their password) and tokens that must
be refused (another key, expired, another issuer), and sample rows for path parameters."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestServer

from services.articles import actions, store
from services.articles.app import create_app as create_articles
from services.articles.config import DESK_CSRF, ArticlesConfig
from services.articles.tokens import TokenIssuer
from services.common import db
from services.common.config import Settings
from services.common.events import topology
from services.common.web import POOL
from services.counter.app import create_app as create_counter
from services.counter.config import CounterSettings
from services.feedback.app import create_app as create_feedback
from services.feedback.config import FORM_SIGNER, FeedbackConfig
from tests.support.articles import PASSWORD, PNG
from tests.support.documents import PDF_BYTES
from tests.support.infra import create_database, create_vhost, delete_vhost, drop_database
from tests.support.keys import KeyPair, claims, new_keypair, sign
from tests.support.service_apps import running_settings

SERVICES = ("articles", "feedback", "counter")
ROLES = ("author", "editor", "moderator", "admin")
# Accounts and tokens that must be refused wherever a sign-in is needed. The disabled and
# the must-change accounts hold every role (admin), so that a refusal is theirs alone.
REFUSED_ACCOUNTS = ("disabled", "must-change")
BAD_TOKENS = ("forged", "expired", "wrong-issuer")
IDENTITIES = ("anonymous", *ROLES, *REFUSED_ACCOUNTS, *BAD_TOKENS)
# Only articles owns the users table and checks an account on every request; feedback
# and counter can check a token's signature and lifetime only, so a disabled account's
# token (or one that must change its password) works there until it expires (10 minutes:
# docs/architecture.md, "Sign-in").
ACTIVE_CHECKED = frozenset({"articles"})


@dataclass(frozen=True)
class Identity:
    name: str
    token: str | None = None
    # The roles a service that only verifies the token sees (None: no valid token).
    token_roles: frozenset[str] | None = None
    # Whether articles' account check lets it through.
    active: bool = False

    def roles_at(self, service: str) -> frozenset[str] | None:
        """The roles this identity holds at `service`, or None when it is nobody there."""
        if self.token_roles is None:
            return None
        if service in ACTIVE_CHECKED and not self.active:
            return None
        return self.token_roles


@dataclass
class Stack:
    servers: dict[str, TestServer]
    apps: dict[str, web.Application]
    admin_pool: asyncpg.Pool
    identities: dict[str, Identity]
    # Values for the path parameters of the routes (an existing article's id, ...).
    samples: dict[str, Any] = field(default_factory=dict)

    def port(self, service: str) -> int:
        port = self.servers[service].port
        assert port is not None, f"{service} is not started"
        return port

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.port(service)}"

    def csrf(self, service: str, identity: Identity) -> str:
        """A valid desk-form CSRF token for this identity's token (a form it could have
        been shown): so a refused post is refused for the role, not for the form."""
        session = identity.token or ""
        if service == "articles":
            return self.apps["articles"][DESK_CSRF].token(session)
        return self.apps["feedback"][FORM_SIGNER].csrf_token(session)

    async def digest(self) -> dict[str, str]:
        """A fingerprint of every row of every service's tables, to show that refused
        requests changed nothing."""
        async with self.admin_pool.acquire() as conn:
            tables = await conn.fetch(
                """SELECT schemaname, tablename FROM pg_tables
                    WHERE schemaname = ANY($1::text[]) ORDER BY 1, 2""",
                list(SERVICES),
            )
            found = {}
            for row in tables:
                name = f'"{row["schemaname"]}"."{row["tablename"]}"'
                found[name] = await conn.fetchval(
                    f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                    f"FROM {name} t"
                )
            return found


async def _arrange(stack: Stack, issuer: TokenIssuer, keys: KeyPair) -> None:
    """Accounts, tokens and the sample rows the matrix's paths name."""
    pool = stack.apps["articles"][POOL]
    accounts = {}
    async with pool.acquire() as conn:
        for name in (*ROLES, *REFUSED_ACCOUNTS):
            roles = ("admin",) if name in REFUSED_ACCOUNTS else (name,)
            accounts[name] = await actions.create_user(
                conn,
                f"matran.{name.replace('-', '')}.{uuid.uuid4().hex[:6]}",
                PASSWORD,
                roles=roles,
                display_name="Nguyễn Văn Ma Trận",
            )
    tokens = {name: issuer.issue(user)[0] for name, user in accounts.items()}
    async with pool.acquire() as conn:
        await store.set_disabled(conn, accounts["disabled"].id, True)
        await conn.execute(
            "UPDATE users SET must_change_password = true WHERE id = $1",
            accounts["must-change"].id,
        )
    identities = {"anonymous": Identity("anonymous")}
    for name in (*ROLES, *REFUSED_ACCOUNTS):
        identities[name] = Identity(
            name, tokens[name], frozenset(accounts[name].roles), active=name in ROLES
        )
    admin_claims = claims(accounts["admin"].id, roles=["admin"])
    now = int(time.time())
    identities["forged"] = Identity("forged", sign(new_keypair(), admin_claims))
    identities["expired"] = Identity(
        "expired", sign(keys, admin_claims | {"iat": now - 7200, "exp": now - 3600})
    )
    identities["wrong-issuer"] = Identity(
        "wrong-issuer", sign(keys, admin_claims | {"iss": "bantin-somewhere-else"})
    )
    stack.identities = identities
    stack.samples = await _samples(stack, accounts["author"].id)


async def _samples(stack: Stack, author_id: int) -> dict[str, Any]:
    """Rows for the path parameters, made through the API as an editor would."""
    editor = {"Authorization": f"Bearer {stack.identities['editor'].token}"}
    async with aiohttp.ClientSession(stack.url("articles"), headers=editor) as api:

        async def made(path: str, **kwargs: Any) -> dict[str, Any]:
            async with api.post(path, **kwargs) as response:
                assert response.status in (200, 201), (path, await response.text())
                return dict(await response.json())

        category = await made("/api/v1/categories", json={"name": "Chuyên mục ma trận"})
        tag = await made("/api/v1/tags", json={"name": "thẻ ma trận"})
        topic = await made("/api/v1/topics", json={"name": "Dòng sự kiện ma trận"})
        body = {
            "title": "Bản tin của ma trận quyền",
            "summary": "Tóm tắt.",
            "body_html": "<p>Nội dung.</p>",
            "byline": "Phóng viên",
            "category_id": category["id"],
        }
        published = await made("/api/v1/articles", json=body)
        await made(f"/api/v1/articles/{published['id']}/publish")
        # The editor's draft: no one else may see or change it.
        draft = await made("/api/v1/articles", json=body | {"title": "Bản nháp của biên tập"})
        document = aiohttp.FormData()
        document.add_field("file", PDF_BYTES, filename="qd.pdf", content_type="application/pdf")
        doc = await made(f"/api/v1/articles/{draft['id']}/documents", data=document)
        image = aiohttp.FormData()
        image.add_field("file", PNG, filename="a.png", content_type="image/png")
        picture = await made("/api/v1/images", data=image)
    async with aiohttp.ClientSession(stack.url("feedback")) as reader:
        item = {
            "article_id": None,
            "author_name": "Trần Thị Bạn Đọc",
            "email": "ban.doc@example.vn",
            "body": "Đề nghị đăng lịch tiếp công dân của phường trên trang tin.",
        }
        async with reader.post("/api/v1/feedback", json=item) as response:
            assert response.status == 202, await response.text()
            feedback = await response.json()
    pool = stack.apps["articles"][POOL]
    async with pool.acquire() as conn:
        job = await store.insert_import_job(conn, author_id, "a.jsonl", "jsonl")
    return {
        "article": published["id"],
        "slug": published.get("slug", "ban-tin"),
        "draft": draft["id"],
        "category": category["id"],
        "category_slug": category.get("slug", "chuyen-muc"),
        "tag": tag["id"],
        "topic": topic["id"],
        "document": doc["id"],
        "image": picture.get("id", 1),
        "user": author_id,
        "job": job.id,
        "feedback": feedback.get("id", 1),
        "revision": 1,
        "page": "gioi-thieu",
    }


@asynccontextmanager
async def running_stack() -> AsyncIterator[Stack]:
    database, vhost, keys = create_database(), create_vhost(), new_keypair()
    try:
        await topology.apply(vhost.url)

        def settings(service: str) -> Settings:
            return running_settings(service, database, vhost, keys)

        apps = {
            "articles": create_articles(settings("articles"), ArticlesConfig()),
            "feedback": create_feedback(
                settings("feedback"), FeedbackConfig(b"matrix-tests-form-secret-32-byte")
            ),
            "counter": create_counter(settings("counter"), CounterSettings()),
        }
        servers = {name: TestServer(app, host="127.0.0.1") for name, app in apps.items()}
        for server in servers.values():
            await server.start_server()
        admin_pool = await db.create_pool(database.admin_dsn, max_size=2)
        stack = Stack(servers, apps, admin_pool, {})
        try:
            await _arrange(stack, TokenIssuer(keys.private_pem), keys)
            yield stack
        finally:
            await admin_pool.close()
            for server in servers.values():
                await server.close()
    finally:
        drop_database(database)
        delete_vhost(vhost)
