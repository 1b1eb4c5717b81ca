"""The consumer against the real Postgres and RabbitMQ: idempotent, version-ordered,
acknowledged after commit, poison messages parked with their reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import aio_pika
import asyncpg
import pytest

from services.common import db
from services.common.events.broker import connect
from services.common.events.consumer import Consumer, Handler
from services.common.events.envelope import CloudEvent, source_of
from services.common.events.redrive import redrive
from tests.support.amqp import drain, publish_event
from tests.support.infra import ROOT, Database, create_database, drop_database
from tests.support.polling import eventually

QUEUE = "feedback.article-state"
SERVICE = "feedback"


def article(item_id: int, version: int, title: str = "Tin") -> CloudEvent:
    data = {
        "id": item_id,
        "version": version,
        "slug": "tin",
        "title": title,
        "url": f"/tin/tin-{item_id}",
        "category": {"slug": "tin-tuc", "name": "Tin tức"},
        "published_at": "2026-11-28T08:00:00+07:00",
        "updated_at": "2026-11-28T08:00:00+07:00",
    }
    return CloudEvent("article.published", source_of("articles"), str(item_id), data)


async def remember_title(conn: asyncpg.Connection, event: CloudEvent) -> None:
    await conn.execute(
        """INSERT INTO probe_titles (id, version, title, times) VALUES ($1, $2, $3, 1)
           ON CONFLICT (id) DO UPDATE SET version = $2, title = $3,
                                          times = probe_titles.times + 1""",
        event.data["id"],
        event.version,
        event.data["title"],
    )


@pytest.fixture(scope="module")
def consumer_db() -> Iterator[Database]:
    database = create_database()
    yield database
    drop_database(database)


@pytest.fixture
async def pool(consumer_db: Database, amqp_url: str) -> AsyncIterator[asyncpg.Pool]:
    dsn = consumer_db.dsn(SERVICE)
    await db.migrate(dsn, ROOT / "services" / SERVICE)
    pool = await db.create_pool(dsn)
    await pool.execute(
        """DROP TABLE IF EXISTS probe_titles;
           CREATE TABLE probe_titles (id int PRIMARY KEY, version int, title text, times int);
           TRUNCATE handled_events, event_versions"""
    )
    await drain(amqp_url, QUEUE)
    await drain(amqp_url, f"{QUEUE}.dead")
    yield pool
    await pool.close()


@pytest.fixture
async def run_consumer(
    pool: asyncpg.Pool, amqp_url: str
) -> AsyncIterator[Callable[[Handler], Awaitable[Consumer]]]:
    connection = await connect(amqp_url, "test-consumer")
    started: list[Consumer] = []

    async def start(handler: Handler) -> Consumer:
        consumer = Consumer(QUEUE, pool, connection, {"article.published": handler}, prefetch=5)
        await consumer.start()
        started.append(consumer)
        return consumer

    yield start
    for consumer in started:
        await consumer.stop()
    await connection.close()


async def titles(pool: asyncpg.Pool) -> dict[int, tuple[int, str, int]]:
    rows = await pool.fetch("SELECT id, version, title, times FROM probe_titles")
    return {r["id"]: (r["version"], r["title"], r["times"]) for r in rows}


async def queue_is_empty(amqp_url: str) -> bool:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(QUEUE, passive=True)
        return queue.declaration_result.message_count == 0


async def test_a_redelivered_event_changes_nothing(pool, run_consumer, amqp_url) -> None:
    await run_consumer(remember_title)
    event = article(1, 1, "Lần đầu")
    await publish_event(amqp_url, event)
    await publish_event(amqp_url, event)  # the same event id again
    await publish_event(amqp_url, article(2, 1))  # a marker that arrives after both
    await eventually(lambda: _has(pool, 2), timeout=15)
    assert (await titles(pool))[1] == (1, "Lần đầu", 1)
    assert await pool.fetchval("SELECT count(*) FROM handled_events") == 2


async def _has(pool: asyncpg.Pool, item_id: int) -> bool:
    return item_id in await titles(pool)


async def test_an_older_version_arriving_late_is_ignored(pool, run_consumer, amqp_url) -> None:
    await run_consumer(remember_title)
    await publish_event(amqp_url, article(1, 2, "Bản sửa"))
    await publish_event(amqp_url, article(1, 1, "Bản cũ"))
    await publish_event(amqp_url, article(2, 1))
    # The consumer may take messages side by side: wait for all three, not the marker only.
    await eventually(lambda: _handled(pool, 3), timeout=15)
    assert (await titles(pool))[1] == (2, "Bản sửa", 1)


async def _handled(pool: asyncpg.Pool, count: int) -> bool:
    return await pool.fetchval("SELECT count(*) FROM handled_events") == count


async def test_a_poison_message_is_parked_with_its_reason_and_the_queue_goes_on(
    pool, run_consumer, amqp_url
) -> None:
    attempts: list[str] = []

    async def choke_on_item_13(conn: asyncpg.Connection, event: CloudEvent) -> None:
        await remember_title(conn, event)  # rolled back with the failure below
        if event.data["id"] == 13:
            attempts.append(event.id)
            raise ValueError("bài viết số 13 không xử lý được")

    consumer = await run_consumer(choke_on_item_13)
    poison = article(13, 1)
    await publish_event(amqp_url, poison)
    await publish_event(amqp_url, article(14, 1))

    await eventually(lambda: _has(pool, 14), timeout=15)
    assert 13 not in await titles(pool)  # handled while 13 was still being retried
    await eventually(lambda: queue_is_empty(amqp_url), timeout=15)
    await consumer.stop()

    [parked] = await drain(amqp_url, f"{QUEUE}.dead")
    assert parked.message_id == poison.id
    assert CloudEvent.from_json(parked.body) == poison
    assert "bài viết số 13" in parked.headers["x-bantin-reason"]
    assert parked.headers["x-bantin-attempts"] == 5
    assert len(attempts) == 5
    assert 13 not in await titles(pool)
    assert (
        await pool.fetchval("SELECT count(*) FROM handled_events WHERE event_id = $1", poison.id)
        == 0
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON"),
        (b'{"specversion": "1.0", "id": "x"}', "not a CloudEvent"),
    ],
)
async def test_a_malformed_message_is_parked_at_once(
    pool, run_consumer, amqp_url, body: bytes, reason: str
) -> None:
    consumer = await run_consumer(remember_title)
    await publish_event(amqp_url, body, routing_key="article.published")
    await publish_event(amqp_url, article(2, 1))
    await eventually(lambda: _has(pool, 2), timeout=15)
    await consumer.stop()
    [parked] = await drain(amqp_url, f"{QUEUE}.dead")
    assert parked.body == body
    assert reason in parked.headers["x-bantin-reason"]
    assert parked.headers["x-bantin-attempts"] == 0


async def test_an_event_that_breaks_its_schema_is_parked(pool, run_consumer, amqp_url) -> None:
    consumer = await run_consumer(remember_title)
    bad = article(3, 1)
    bad.data["title"] = ""
    await publish_event(amqp_url, bad)
    await publish_event(amqp_url, article(2, 1))
    await eventually(lambda: _has(pool, 2), timeout=15)
    await consumer.stop()
    [parked] = await drain(amqp_url, f"{QUEUE}.dead")
    assert "title" in parked.headers["x-bantin-reason"]
    assert 3 not in await titles(pool)


class TellsOnCancel:
    """A consumer's queue that sets `cancelled` once the broker confirmed a cancel."""

    def __init__(self, queue: Any, cancelled: asyncio.Event) -> None:
        self._queue = queue
        self._cancelled = cancelled

    async def cancel(self, *args: Any, **kwargs: Any) -> Any:
        result = await self._queue.cancel(*args, **kwargs)
        self._cancelled.set()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._queue, name)


async def test_stop_lets_the_message_in_hand_finish_and_ack(pool, run_consumer, amqp_url) -> None:
    entered, release, unsubscribed = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def held(conn: asyncpg.Connection, event: CloudEvent) -> None:
        entered.set()
        await release.wait()
        await remember_title(conn, event)

    consumer = await run_consumer(held)
    assert consumer._queue is not None
    consumer._queue = TellsOnCancel(consumer._queue, unsubscribed)  # type: ignore[assignment]
    await publish_event(amqp_url, article(5, 1))
    await asyncio.wait_for(entered.wait(), 10)
    stopping = asyncio.create_task(consumer.stop())
    # Stop has taken the consumer off the queue; all it may do now is wait for the message.
    await asyncio.wait_for(unsubscribed.wait(), 10)
    assert not stopping.done(), "stop returned while a message was in hand"
    release.set()
    await asyncio.wait_for(stopping, 15)
    assert 5 in await titles(pool)
    assert await queue_is_empty(amqp_url)


async def parked_count(amqp_url: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"{QUEUE}.dead", passive=True)
        return int(queue.declaration_result.message_count or 0)


async def test_a_parked_message_can_be_inspected_and_redriven(pool, run_consumer, amqp_url) -> None:
    fixed = False

    async def broken_until_fixed(conn: asyncpg.Connection, event: CloudEvent) -> None:
        if not fixed:
            raise ValueError("lỗi chưa được sửa")
        await remember_title(conn, event)

    await run_consumer(broken_until_fixed)
    await publish_event(amqp_url, article(21, 1))
    await eventually(lambda: _equals(parked_count(amqp_url), 1), timeout=15)

    [listed] = await redrive(amqp_url, QUEUE, move=False, limit=10)
    assert "lỗi chưa được sửa" in listed.reason
    assert await parked_count(amqp_url) == 1  # listing moves nothing
    assert 21 not in await titles(pool)

    fixed = True
    assert len(await redrive(amqp_url, QUEUE, move=True, limit=10)) == 1
    await eventually(lambda: _has(pool, 21), timeout=15)
    assert await parked_count(amqp_url) == 0


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected
