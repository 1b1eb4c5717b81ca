"""The counter service running in-process on its own fresh database and RabbitMQ vhost, for
the test_counter_* modules: readers with their own address and browser, articles fed to
the read model through the broker, view batches published as the ingest would, and a
barrier that waits until every view answered so far is counted."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from services.common.config import Settings
from services.common.events import topology
from services.common.events.envelope import CloudEvent, source_of
from services.common.vietnam import VIETNAM, vn_day
from services.common.web import POOL
from services.counter.app import create_app
from services.counter.config import CounterSettings
from services.counter.domain import is_bot
from tests.support.amqp import publish_event
from tests.support.infra import (
    Database,
    create_database,
    create_vhost,
    delete_vhost,
    drop_database,
)
from tests.support.keys import KeyPair, claims, new_keypair, sign
from tests.support.polling import eventually

BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " Chrome/120.0.0.0 Safari/537.36"
)
# Every view to this article is from a new reader: the barrier's own views.
MARKER_ARTICLE = 999_999


def browser(name: str) -> str:
    """A distinct, real-looking browser user agent per reader."""
    agent = f"{BROWSER} Visitor/{name}"
    assert not is_bot(agent), f"crawlerdetect takes {agent!r} for a bot: pick another name"
    return agent


class FakeClock:
    """The service's clock: fixed at 10:01 today in Vietnam (so half an hour later is still
    today, and a bucket boundary is never crossed by accident), moved by hand."""

    def __init__(self) -> None:
        today = vn_day(datetime.now(UTC))
        self.now = datetime(today.year, today.month, today.day, 10, 1, tzinfo=VIETNAM)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    @property
    def today(self) -> str:
        return vn_day(self.now).isoformat()


@dataclass
class Counter:
    client: TestClient
    pool: asyncpg.Pool
    database: Database
    amqp_url: str
    keys: KeyPair
    clock: FakeClock
    _markers: itertools.count = field(default_factory=lambda: itertools.count(1))
    _versions: dict[int, int] = field(default_factory=dict)

    # --- readers --------------------------------------------------------------------------

    async def beacon(
        self,
        article_id: int,
        agent: str = BROWSER,
        address: str = "203.0.113.1",
        content_type: str = "text/plain;charset=UTF-8",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> ClientResponse:
        """What navigator.sendBeacon sends for a reader at `address` using `agent`."""
        data = body if body is not None else b'{"article_id": %d}' % article_id
        return await self.client.post(
            "/api/v1/views",
            data=data,
            headers={
                "Content-Type": content_type,
                "User-Agent": agent,
                "X-Forwarded-For": address,
                **(headers or {}),
            },
        )

    async def pixel(
        self,
        query: str,
        agent: str = BROWSER,
        address: str = "203.0.113.1",
        method: str = "GET",
        headers: dict[str, str] | None = None,
    ) -> ClientResponse:
        return await self.client.request(
            method,
            f"/v.gif?{query}",
            headers={
                "User-Agent": agent,
                "X-Forwarded-For": address,
                "Accept": "image/*",
                **(headers or {}),
            },
        )

    # --- counts ---------------------------------------------------------------------------

    async def total(self, article_id: int) -> int:
        value = await self.pool.fetchval(
            "SELECT counted FROM article_totals WHERE article_id = $1", article_id
        )
        return int(value or 0)

    async def keys_of(self, article_id: int) -> int:
        return int(
            await self.pool.fetchval(
                "SELECT count(*) FROM view_keys WHERE article_id = $1", article_id
            )
        )

    async def settle(self) -> None:
        """Wait until every view answered so far is counted. The counting consumer counts
        one group of batches at a time, in the order they were delivered, and a marker view
        answered now is in a later batch than all of them (in the same group or a later
        one), so once the marker is counted, so are they."""
        before = await self.total(MARKER_ARTICLE)
        # A new address too: one address counts only so many agents (fair counts).
        marker = next(self._markers)
        response = await self.beacon(
            MARKER_ARTICLE, agent=browser(f"marker{marker}"), address=f"2001:db8:ffff::{marker:x}"
        )
        assert response.status == 204, await response.text()
        await eventually(
            lambda: self._total_above(MARKER_ARTICLE, before),
            interval=0.02,
            message="the marker view counted",
        )

    async def _total_above(self, article_id: int, value: int) -> bool:
        return await self.total(article_id) > value

    # --- articles -------------------------------------------------------------------------

    async def publish_article(self, article_id: int) -> None:
        """article.published through the broker; returns once ingest takes its views."""
        await self.send_article_event(article_id, "article.published")
        await eventually(
            lambda: self.countable(article_id),
            interval=0.02,
            message=f"article {article_id} countable",
        )

    async def send_article_event(self, article_id: int, type_: str, **data: Any) -> CloudEvent:
        """The article's next version as `type_`, with `data`'s fields besides (e.g.
        imported_views); returns the event, for a test to deliver it again."""
        version = self._versions[article_id] = self._versions.get(article_id, 0) + 1
        event = article_event(article_id, type_, version, **data)
        await publish_event(self.amqp_url, event)
        return event

    async def countable(self, article_id: int) -> bool:
        """Whether ingest would take a view (a HEAD of the pixel counts nothing)."""
        response = await self.pixel(f"a={article_id}", method="HEAD")
        return response.status == 200

    # --- the internal exchange ------------------------------------------------------------

    async def publish_batch(self, views: list[dict[str, Any]]) -> CloudEvent:
        """A views.batch as an ingest instance would publish it (a new event id each time)."""
        event = CloudEvent(
            "views.batch", source_of("counter"), "batch", {"version": 1, "views": views}
        )
        connection = await aio_pika.connect(self.amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(topology.INTERNAL_EXCHANGE, ensure=False)
            await exchange.publish(
                aio_pika.Message(
                    event.to_json(),
                    message_id=event.id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key="views.batch",
                mandatory=True,
            )
        return event

    def auth(self, *roles: str) -> dict[str, str]:
        token = sign(self.keys, claims(roles=list(roles)))
        return {"Authorization": f"Bearer {token}"}


def article_event(article_id: int, type_: str, version: int, **extra: Any) -> CloudEvent:
    if type_ == "article.unpublished":
        data: dict[str, Any] = {
            "id": article_id,
            "version": version,
            "unpublished_at": "2026-11-28T09:00:00+07:00",
        }
    else:
        data = {
            "id": article_id,
            "version": version,
            "slug": f"tin-so-{article_id}",
            "title": f"Hội nghị tổng kết công tác thi đua số {article_id}",
            "url": f"/tin/tin-so-{article_id}-{article_id}",
            "category": {"slug": "tinh-hinh-hoat-dong", "name": "Tình hình hoạt động"},
            "published_at": "2026-11-28T08:00:00+07:00",
            "updated_at": "2026-11-28T08:00:00+07:00",
            **extra,
        }
    return CloudEvent(type_, source_of("articles"), str(article_id), data)


def counter_settings(database: Database, amqp_url: str, keys: KeyPair) -> Settings:
    return Settings(
        service="counter",
        database_url=database.dsn("counter"),
        amqp_url=amqp_url,
        auth_public_key=keys.public_pem,
        # The test client is the gateway: its X-Forwarded-For names the reader.
        trusted_proxies=["127.0.0.1", "::1"],
        relay_poll_seconds=0.5,
        # One article event at a time, in queue order. (The counting consumer's prefetch
        # is its own: twice its group, events/grouping.py.)
        consumer_prefetch=1,
    )


FAST = CounterSettings(counts_interval=0.1, article_reload=60.0)


@asynccontextmanager
async def running_counter() -> AsyncIterator[Counter]:
    """The app on a fresh database and vhost (so counts and taps see only this module's
    doings), removed afterwards. The barrier's marker article is published."""
    database, vhost = create_database(), create_vhost()
    try:
        await topology.apply(vhost.url)
        keys = new_keypair()
        clock = FakeClock()
        app = create_app(counter_settings(database, vhost.url, keys), FAST, clock)
        # No access log, as in production (it would write addresses and user agents).
        async with TestClient(TestServer(app, access_log=None)) as client:
            counter = Counter(client, app[POOL], database, vhost.url, keys, clock)
            await counter.publish_article(MARKER_ARTICLE)
            yield counter
    finally:
        drop_database(database)
        delete_vhost(vhost)
