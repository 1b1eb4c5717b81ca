"""The feedback service running in-process on its own fresh database and RabbitMQ vhost,
for the test_feedback_* modules: tokens by role, articles fed
to the read model through the broker, signed form stamps, and row counts."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

from services.articles.domain import User
from services.articles.tokens import TokenIssuer
from services.common.config import Settings
from services.common.events import topology
from services.common.events.envelope import CloudEvent, source_of
from services.common.web import POOL
from services.feedback.app import create_app
from services.feedback.config import FeedbackConfig
from services.feedback.spam import FormSigner
from tests.support.amqp import publish_event
from tests.support.infra import create_database, create_vhost, delete_vhost, drop_database
from tests.support.keys import KeyPair, new_keypair
from tests.support.polling import eventually

FORM_SECRET = b"feedback-tests-form-secret-32-by"
MODERATOR_NAME = "Phạm Kiểm Duyệt"


@dataclass
class Service:
    client: TestClient
    pool: asyncpg.Pool
    amqp_url: str
    keys: KeyPair
    signer: FormSigner

    def token(self, *roles: str, name: str = MODERATOR_NAME, user_id: int = 5) -> str:
        now = datetime.now(UTC)
        user = User(user_id, f"user{user_id}", name, frozenset(roles), False, now, now)
        return TokenIssuer(self.keys.private_pem).issue(user)[0]

    def auth(self, *roles: str, name: str = MODERATOR_NAME) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(*roles, name=name)}"}

    def stamp(self, key: str, age_seconds: float = 10.0) -> str:
        """A form stamp as if the form for `key` had been rendered `age_seconds` ago."""
        return self.signer.issue(key, time.time() - age_seconds)

    async def count(self, table: str) -> int:
        return int(await self.pool.fetchval(f"SELECT count(*) FROM {table}"))

    async def counts(self) -> tuple[int, int]:
        """(feedback rows, outbox rows): what a refused request must leave unchanged."""
        return await self.count("feedback"), await self.count("outbox")

    async def publish_article(
        self, article_id: int, version: int = 1, title: str = "", *, applied: bool = True
    ) -> str:
        """An article.published event through the broker; returns once the consumer has
        handled it (and, if `applied`, the read model shows it). The title defaults to one
        naming the article."""
        title = title or f"Hội nghị triển khai công tác thi đua số {article_id}"
        data = {
            "id": article_id,
            "version": version,
            "slug": f"hoi-nghi-{article_id}",
            "title": title,
            "url": f"/tin/hoi-nghi-{article_id}-{article_id}",
            "category": {"slug": "tinh-hinh-hoat-dong", "name": "Tình hình hoạt động"},
            "published_at": "2026-11-28T08:00:00+07:00",
            "updated_at": "2026-11-28T08:00:00+07:00",
        }
        await self._send(
            CloudEvent("article.published", source_of("articles"), str(article_id), data)
        )
        if applied:
            await eventually(
                lambda: self._has_article(article_id, True, title),
                message=f"article {article_id} published in the read model",
            )
        return title

    async def unpublish_article(self, article_id: int, version: int) -> None:
        data = {"id": article_id, "version": version, "unpublished_at": "2026-11-29T08:00:00+07:00"}
        await self._send(
            CloudEvent("article.unpublished", source_of("articles"), str(article_id), data)
        )
        await eventually(
            lambda: self._has_article(article_id, False),
            message=f"article {article_id} unpublished in the read model",
        )

    async def _send(self, event: CloudEvent) -> None:
        """Publish, then wait until the consumer has handled the event (applied or found
        stale: either way it is in handled_events)."""
        await publish_event(self.amqp_url, event)
        await eventually(
            lambda: self._handled(event.id), message=f"{event.type} {event.id} handled"
        )

    async def _handled(self, event_id: str) -> bool:
        return bool(
            await self.pool.fetchval(
                "SELECT EXISTS (SELECT 1 FROM handled_events WHERE event_id = $1)", event_id
            )
        )

    async def _has_article(
        self, article_id: int, published: bool, title: str | None = None
    ) -> bool:
        row = await self.pool.fetchrow(
            "SELECT title, published FROM articles WHERE id = $1", article_id
        )
        return (
            row is not None
            and row["published"] is published
            and (title is None or row["title"] == title)
        )


def form_stamp_in(page: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', page)
    assert found, "the form carries no signed stamp"
    return found[1]


@asynccontextmanager
async def running_service(
    daily_limit: int = 10_000,
    trusted_proxies: tuple[str, ...] = (),
    per_minute: int = 10_000,
    banned_words: tuple[str, ...] = (),
    relay_poll_seconds: float = 0.5,
) -> AsyncIterator[Service]:
    """The app on a fresh database and vhost (so counts and taps see only this module's
    doings), removed afterwards. Every test request comes from one address, so the limits
    per address (daily and per minute) are high unless a test sets them."""
    database, vhost = create_database(), create_vhost()
    try:
        await topology.apply(vhost.url)
        keys = new_keypair()
        settings = Settings(
            service="feedback",
            database_url=database.dsn("feedback"),
            amqp_url=vhost.url,
            auth_public_key=keys.public_pem,
            relay_poll_seconds=relay_poll_seconds,
            trusted_proxies=list(trusted_proxies),
        )
        app = create_app(
            settings, FeedbackConfig(FORM_SECRET, daily_limit, per_minute, banned_words)
        )
        async with TestClient(TestServer(app)) as client:
            yield Service(client, app[POOL], vhost.url, keys, FormSigner(FORM_SECRET))
    finally:
        drop_database(database)
        delete_vhost(vhost)
