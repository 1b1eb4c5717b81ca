"""Malformed and hostile AMQP messages on every queue a service consumes, against the real
consumers of the three services (their apps started on one database and one vhost, as in
production) and the real broker. Each hostile message is parked on the queue's parking
queue with its reason, at once, and the good message published right after it is applied:
no hostile input crashes a consumer or blocks the next message.

An older version of an item (a replay) is not hostile but normal out-of-order delivery:
it is acknowledged as stale, changes nothing and is not parked.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import pytest
from aiohttp import web
from prometheus_client import REGISTRY

from services.articles.app import create_app as articles_app
from services.articles.config import ArticlesConfig
from services.common import db
from services.common.config import Settings
from services.common.events import topology
from services.common.events.consumer import MAX_EVENT_BYTES
from services.common.events.envelope import EXCHANGE, CloudEvent, source_of
from services.common.vietnam import vn_day
from services.counter.app import create_app as counter_app
from services.counter.config import CounterSettings
from services.feedback.app import create_app as feedback_app
from services.feedback.config import FeedbackConfig
from tests.support.amqp import drain, message_counts
from tests.support.infra import (
    Database,
    Vhost,
    create_database,
    create_vhost,
    delete_vhost,
    drop_database,
)
from tests.support.keys import new_keypair
from tests.support.polling import eventually
from tests.support.service_apps import running_settings

ITEMS = itertools.count(1000)
TODAY = vn_day(datetime.now(UTC)).isoformat()


# --- the good messages of each queue, and where they show ----------------------------------


def article(item: int, version: int) -> CloudEvent:
    data = {
        "id": item,
        "version": version,
        "slug": f"tin-{item}",
        "title": f"Bản tin số {item}",
        "url": f"/tin/tin-{item}-{item}",
        "category": {"slug": "tin-tuc", "name": "Tin tức"},
        "published_at": "2026-11-28T08:00:00+07:00",
        "updated_at": "2026-11-28T08:00:00+07:00",
    }
    return CloudEvent("article.published", source_of("articles"), str(item), data)


def approved(item: int, version: int) -> CloudEvent:
    data = {
        "id": item,
        "version": version,
        "article_id": None,
        "author_name": "Bạn đọc",
        "body": f"Góp ý số {item}, bản {version}",
        "approved_at": "2026-11-28T08:00:00+07:00",
        "updated_at": "2026-11-28T08:00:00+07:00",
    }
    return CloudEvent("feedback.approved", source_of("feedback"), str(item), data)


def submitted(item: int, version: int) -> CloudEvent:
    data = {
        "id": item,
        "version": version,
        "article_id": None,
        "target": "site",
        "submitted_at": "2026-11-28T08:00:00+07:00",
    }
    return CloudEvent("feedback.submitted", source_of("feedback"), str(item), data)


def counted(item: int, version: int) -> CloudEvent:
    data = {"article_id": item, "version": version, "total": 10 * version, "today": 1, "day": TODAY}
    return CloudEvent("views.counted", source_of("counter"), str(item), data)


def batch(item: int, version: int) -> CloudEvent:
    """A views.batch with one new view of `item` (the version is always 1 for batches)."""
    view = {"article_id": item, "key": uuid.uuid4().hex * 2, "day": TODAY}
    return CloudEvent(
        "views.batch", source_of("counter"), str(uuid.uuid4()), {"version": 1, "views": [view]}
    )


@dataclass(frozen=True)
class Target:
    """A queue, its good events, and the read model that shows them: `state` is the item's
    version there (for view batches: its count of views, one per batch)."""

    queue: str
    service: str
    good: Callable[[int, int], CloudEvent]
    state: str
    exchange: str = EXCHANGE

    @property
    def routing_key(self) -> str:
        return topology.queue(self.queue).routing_keys[0]

    @property
    def versioned(self) -> bool:
        return topology.queue(self.queue).versioned


TARGETS = [
    Target(
        "articles.views-counted", "articles", counted,
        "SELECT version FROM article_views WHERE article_id = $1",
    ),
    Target(
        "articles.feedback-public", "articles", approved,
        "SELECT version FROM public_feedback WHERE id = $1",
    ),
    Target(
        "articles.feedback-cases", "articles", submitted,
        "SELECT version FROM feedback_cases WHERE id = $1",
    ),
    Target(
        "feedback.article-state", "feedback", article,
        "SELECT version FROM articles WHERE id = $1",
    ),
    Target(
        "counter.article-state", "counter", article,
        "SELECT version FROM articles WHERE id = $1",
    ),
    Target(
        "counter.view-batches", "counter", batch,
        "SELECT counted FROM article_totals WHERE article_id = $1",
        exchange=topology.INTERNAL_EXCHANGE,
    ),
]  # fmt: skip


def test_every_queue_a_service_consumes_is_covered() -> None:
    assert sorted(t.queue for t in TARGETS) == sorted(q.name for q in topology.QUEUES)


# --- the hostile messages -------------------------------------------------------------------


def envelope(event: CloudEvent, **changes: Any) -> bytes:
    body = event.to_dict() | changes
    return json.dumps(body, ensure_ascii=False).encode()


def not_json(good: CloudEvent) -> bytes:
    return b"\xff\xfe<html>not json"


def not_an_event(good: CloudEvent) -> bytes:
    return b'["a", "JSON", "array"]'


def wrong_schema(good: CloudEvent) -> bytes:
    return envelope(good, data={"version": 1, "id": "mười hai"})


def huge(good: CloudEvent) -> bytes:
    padding = "x" * (MAX_EVENT_BYTES + 1)
    return envelope(good, data=good.data | {"padding": padding})


def deeply_nested(good: CloudEvent) -> bytes:
    return b"[" * 100_000 + b"]" * 100_000


def unknown_type(good: CloudEvent) -> bytes:
    return envelope(good, type="article.exploded")


def type_of_another_queue(good: CloudEvent) -> bytes:
    withdrawn = {
        "id": 1,
        "version": 2,
        "article_id": None,
        "withdrawn_at": "2026-11-28T08:00:00+07:00",
    }
    if good.type.startswith("feedback."):
        other = counted(1, 1)
    else:
        other = CloudEvent("feedback.withdrawn", source_of("feedback"), "1", withdrawn)
    return other.to_json()


def forged_source(good: CloudEvent) -> bytes:
    forger = "/bantin/feedback" if good.source != source_of("feedback") else "/bantin/articles"
    return envelope(good, source=forger)


def old_specversion(good: CloudEvent) -> bytes:
    return envelope(good, specversion="0.3")


# (name, body from the good event, what the park reason says)
HOSTILE = [
    ("not-json", not_json, "invalid event: body is not JSON"),
    ("not-an-event", not_an_event, "invalid event: body is not a JSON object"),
    ("wrong-schema", wrong_schema, "invalid event: "),
    ("huge", huge, "too large: "),
    ("deeply-nested", deeply_nested, "invalid event: body is not"),
    ("unknown-type", unknown_type, "no schema for event type 'article.exploded'"),
    ("type-of-another-queue", type_of_another_queue, "no handler for "),
    ("forged-source", forged_source, "forged source: "),
    ("old-specversion", old_specversion, "unsupported specversion '0.3'"),
]


# --- the three services on one database and one vhost -----------------------------------------


@dataclass
class Running:
    vhost: Vhost
    database: Database
    pools: dict[str, asyncpg.Pool]

    async def publish(self, target: Target, body: bytes, message_id: str | None = None) -> None:
        connection = await aio_pika.connect(self.vhost.url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(target.exchange, ensure=False)
            message = aio_pika.Message(
                body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            )
            await exchange.publish(message, routing_key=target.routing_key, mandatory=True)

    async def send(self, target: Target, event: CloudEvent) -> None:
        await self.publish(target, event.to_json(), event.id)

    async def state(self, target: Target, item: int) -> int | None:
        value = await self.pools[target.service].fetchval(target.state, item)
        return None if value is None else int(value)

    async def handled(self, target: Target, event: CloudEvent) -> bool:
        return bool(
            await self.pools[target.service].fetchval(
                """SELECT EXISTS (SELECT 1 FROM handled_events
                                   WHERE consumer = $1 AND event_id = $2)""",
                target.queue,
                event.id,
            )
        )


@pytest.fixture(scope="module")
async def running() -> AsyncIterator[Running]:
    database, vhost = create_database(), create_vhost()
    keys = new_keypair()
    runners: list[web.AppRunner] = []
    pools: dict[str, asyncpg.Pool] = {}
    try:
        await topology.apply(vhost.url)

        def settings(service: str) -> Settings:
            return running_settings(service, database, vhost, keys)

        apps = [
            articles_app(settings("articles"), ArticlesConfig(site_url="https://tin.example.vn")),
            feedback_app(
                settings("feedback"), FeedbackConfig(b"hostile-tests-form-secret-32-byte")
            ),
            counter_app(settings("counter"), CounterSettings(counts_interval=0.2)),
        ]
        for app in apps:
            runner = web.AppRunner(app)
            await runner.setup()  # starts the pool, the relay and the consumers
            runners.append(runner)
        for service in ("articles", "feedback", "counter"):
            pools[service] = await db.create_pool(database.dsn(service), max_size=2)
        yield Running(vhost, database, pools)
    finally:
        for pool in pools.values():
            await pool.close()
        for runner in reversed(runners):
            await runner.cleanup()
        delete_vhost(vhost)
        drop_database(database)


# --- the tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS, ids=[t.queue for t in TARGETS])
@pytest.mark.parametrize(("case", "hostile", "reason"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_a_hostile_message_is_parked_and_the_next_one_applied(
    running: Running,
    target: Target,
    case: str,
    hostile: Callable[[CloudEvent], bytes],
    reason: str,
) -> None:
    item = next(ITEMS)
    good = target.good(item, 1)
    body = hostile(target.good(item, 1))
    # Unique: article.* events reach two queues, so each parking queue gets other tests' too.
    hostile_id = f"hostile-{case}-{item}"
    await running.publish(target, body, message_id=hostile_id)
    await running.send(target, good)

    await eventually(lambda: _equals(running.state(target, item), 1), timeout=20)
    parked: list[aio_pika.abc.AbstractIncomingMessage] = []

    async def hostile_parked() -> bool:
        parked.extend(await drain(running.vhost.url, f"{target.queue}.dead"))
        return any(m.message_id == hostile_id for m in parked)

    await eventually(hostile_parked, timeout=20)
    [mine] = [m for m in parked if m.message_id == hostile_id]
    assert mine.body == body
    # What each hostile input did, for docs/operations.md (`pytest -s` shows it).
    print(f"[hostile] {target.queue} {case}: parked, {mine.headers['x-bantin-reason'][:160]}")
    assert reason in mine.headers["x-bantin-reason"]
    assert mine.headers["x-bantin-attempts"] == 0
    assert mine.headers["x-bantin-consumer"] == target.queue
    assert "mười hai" not in mine.headers["x-bantin-reason"]  # no value is quoted


@pytest.mark.parametrize("target", TARGETS, ids=[t.queue for t in TARGETS])
async def test_an_older_version_or_a_replay_changes_nothing_and_is_not_parked(
    running: Running, target: Target
) -> None:
    item = next(ITEMS)
    first, second = target.good(item, 1), target.good(item, 2)
    for event in (first, second) if not target.versioned else (second,):
        await running.send(target, event)
    await eventually(lambda: _equals(running.state(target, item), 2), timeout=20)

    # The older version arriving late, or (batches have no versions) a batch again.
    late, outcome = (first, "stale") if target.versioned else (second, "duplicate")
    before = consumed(target, outcome)
    await running.send(target, late)
    await eventually(lambda: consumed(target, outcome) == before + 1, timeout=20)
    assert await running.state(target, item) == 2
    parked = await drain(running.vhost.url, f"{target.queue}.dead")
    assert late.id not in [m.message_id for m in parked]


def consumed(target: Target, outcome: str) -> float:
    labels = {"consumer": target.queue, "outcome": outcome}
    return REGISTRY.get_sample_value("bantin_events_consumed_total", labels) or 0.0


async def _equals(value: Any, expected: object) -> bool:
    return bool(await value == expected)


async def test_the_articles_service_erases_parked_copies_of_withdrawn_feedback(
    running: Running,
) -> None:
    """A feedback.approved parked by the articles service (here: it broke its schema) holds
    the reader's name and words; the feedback.withdrawn of that item deletes it."""
    [target] = [t for t in TARGETS if t.queue == "articles.feedback-public"]
    item, other = next(ITEMS), next(ITEMS)
    for parked_item in (item, other):
        broken = approved(parked_item, 1)
        await running.publish(target, envelope(broken, data=broken.data | {"body": ""}), broken.id)
    dead = f"{target.queue}.dead"
    await eventually(lambda: message_counts(running.vhost).get(dead) == 2, timeout=20)

    data = {
        "id": item,
        "version": 2,
        "article_id": None,
        "withdrawn_at": "2026-11-29T08:00:00+07:00",
    }
    withdrawal = CloudEvent("feedback.withdrawn", source_of("feedback"), str(item), data)
    await running.send(target, withdrawal)
    await eventually(lambda: running.handled(target, withdrawal), timeout=20)
    await eventually(lambda: message_counts(running.vhost).get(dead) == 1, timeout=20)
    [left] = await drain(running.vhost.url, dead)
    assert CloudEvent.from_json(left.body).subject == str(other)
