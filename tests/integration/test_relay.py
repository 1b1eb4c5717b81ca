"""Outbox and relay against the real Postgres and RabbitMQ."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from services.common import db
from services.common.events import housekeeping, topology
from services.common.events.broker import Publisher, connect
from services.common.events.envelope import EXCHANGE
from services.common.events.outbox import write_event
from services.common.events.payloads import new_event
from services.common.events.relay import OutboxRelay
from services.common.events.schemas import EventSchemaError
from services.common.metrics import EVENTS_UNROUTABLE
from tests.support.amqp import Tap, publish_event, tap
from tests.support.events import submitted
from tests.support.infra import ROOT, Database, create_database, drop_database
from tests.support.polling import eventually
from tests.support.relay import RelayWatch

SERVICE = "feedback"


@pytest.fixture(scope="module")
def relay_db() -> Iterator[Database]:
    database = create_database()
    yield database
    drop_database(database)


@pytest.fixture
async def pool(relay_db: Database) -> AsyncIterator[asyncpg.Pool]:
    dsn = relay_db.dsn(SERVICE)
    await db.migrate(dsn, ROOT / "services" / SERVICE)
    pool = await db.create_pool(dsn)
    await pool.execute("DELETE FROM outbox")
    yield pool
    await pool.close()


@pytest.fixture
async def relay(
    relay_db: Database, pool: asyncpg.Pool, amqp_url: str
) -> AsyncIterator[OutboxRelay]:
    connection = await connect(amqp_url, "test-relay")
    publisher = Publisher(connection)
    await publisher.start()
    relay = OutboxRelay(relay_db.dsn(SERVICE), pool, publisher, poll_seconds=60)
    yield relay
    await relay.stop()
    await connection.close()


@pytest.fixture
async def events(amqp_url: str) -> AsyncIterator[Tap]:
    async with tap(amqp_url, "feedback.*") as collected:
        yield collected


async def add_events(pool: asyncpg.Pool, ids: range) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for item_id in ids:
            await write_event(conn, "feedback.submitted", submitted(item_id))


async def test_an_event_commits_or_rolls_back_with_its_change(pool: asyncpg.Pool) -> None:
    with pytest.raises(RuntimeError, match="the change failed"):
        async with pool.acquire() as conn, conn.transaction():
            await write_event(conn, "feedback.submitted", submitted(1))
            raise RuntimeError("the change failed")
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0

    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            await write_event(conn, "feedback.submitted", submitted(1))


async def test_an_event_that_breaks_its_schema_is_not_written(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(EventSchemaError):
            # The schema names the targets there are; anything else breaks the contract.
            await write_event(conn, "feedback.submitted", submitted(1, target="a@b.vn"))
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_relay_publishes_and_marks_sent(
    pool: asyncpg.Pool, relay: OutboxRelay, events: Tap
) -> None:
    await add_events(pool, range(1, 4))
    assert await relay.relay_once() == 3

    bodies = await events.wait_for(3)
    assert sorted(b["data"]["id"] for b in bodies) == [1, 2, 3]
    assert {b["source"] for b in bodies} == {"/bantin/feedback"}
    assert {m.message_id for m in events.messages} == {b["id"] for b in bodies}
    assert all(m.delivery_mode == 2 for m in events.messages)  # persistent
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
    assert await relay.relay_once() == 0


async def test_events_no_queue_takes_are_sent_counted_and_reported_once(
    pool: asyncpg.Pool, relay: OutboxRelay, caplog: pytest.LogCaptureFixture, amqp_url: str
) -> None:
    """No tap here, and the one queue bound to feedback.submitted is unbound from it for the
    test: an event type nobody takes (yet), as when a new type ships before its consumer."""
    async with bindings_removed(amqp_url, "feedback.submitted"):
        unroutable = EVENTS_UNROUTABLE.labels("feedback.submitted")
        before = unroutable._value.get()
        with caplog.at_level(logging.WARNING, logger="services.common.events.relay"):
            await add_events(pool, range(700, 703))
            assert await relay.relay_once() == 3
            await add_events(pool, range(703, 705))
            assert await relay.relay_once() == 2
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
    assert unroutable._value.get() - before == 5
    reports = [r for r in caplog.records if "routed to no queue" in r.getMessage()]
    assert len(reports) == 1


@contextlib.asynccontextmanager
async def bindings_removed(amqp_url: str, event_type: str) -> AsyncIterator[None]:
    """The topology's queues unbound from `event_type` until the block ends (the vhost is
    shared with other tests: the bindings come back)."""
    connection = await connect(amqp_url, "test-unbind")
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(EXCHANGE)
        queues = [
            await channel.get_queue(spec.name)
            for spec in topology.QUEUES
            if event_type in spec.routing_keys
        ]
        for queue in queues:
            await queue.unbind(exchange, event_type)
        try:
            yield
        finally:
            for queue in queues:
                await queue.bind(exchange, event_type)


async def test_notify_wakes_the_relay_long_before_its_poll(
    pool: asyncpg.Pool, relay: OutboxRelay, events: Tap
) -> None:
    watch = RelayWatch(relay)
    await relay.start()  # polls only every 60 s: only NOTIFY can deliver within the wait
    # LISTENing, and the poll that follows its connect is over: the row below is news.
    await eventually(lambda: watch.idle_after(catch_ups=1), message="the relay idle")
    await add_events(pool, range(10, 11))
    bodies = await events.wait_for(1, timeout=10)
    assert bodies[0]["data"]["id"] == 10


async def test_two_relays_never_send_a_row_twice(
    relay_db: Database, pool: asyncpg.Pool, relay: OutboxRelay, events: Tap, amqp_url: str
) -> None:
    connection = await connect(amqp_url, "test-relay-2")
    publisher = Publisher(connection)
    await publisher.start()
    other = OutboxRelay(relay_db.dsn(SERVICE), pool, publisher, poll_seconds=60)
    await add_events(pool, range(100, 400))
    try:
        while await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"):
            await asyncio.gather(relay.relay_once(), other.relay_once())
    finally:
        await connection.close()
    await events.wait_for(300)
    # Every copy the relays published was confirmed, so it is on the tap's queue already;
    # a marker published now arrives after all of them.
    marker = new_event("feedback.submitted", submitted(1))
    await publish_event(amqp_url, marker)
    await eventually(lambda: marker.id in {b["id"] for b in events.bodies}, message="marker")
    ids = [b["data"]["id"] for b in events.bodies if b["id"] != marker.id]
    assert sorted(ids) == list(range(100, 400))


async def test_a_relay_killed_between_publish_and_mark_sends_again(
    relay_db: Database, pool: asyncpg.Pool, events: Tap, amqp_url: str
) -> None:
    await add_events(pool, range(500, 501))
    env = {
        **os.environ,
        "FEEDBACK_DATABASE_URL": relay_db.dsn(SERVICE),
        "AMQP_URL": amqp_url,
    }
    command = [sys.executable, "-m", "services.common.events.relay", SERVICE]
    # SHARE mode lets the relay claim rows (SELECT ... FOR UPDATE) and publish them, but
    # blocks its UPDATE that marks them sent: the relay is stuck exactly between the two.
    async with pool.acquire() as blocker, blocker.transaction():
        await blocker.execute("LOCK TABLE outbox IN SHARE MODE")
        first = subprocess.Popen(command, env=env, cwd=ROOT)
        try:
            [body] = await events.wait_for(1, timeout=30)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 1

    second = subprocess.Popen(command, env=env, cwd=ROOT)
    try:
        bodies = await events.wait_for(2, timeout=30)

        async def marked_sent() -> bool:
            return not await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")

        await eventually(marked_sent, timeout=10, interval=0.1)
    finally:
        second.terminate()
        second.wait()
    assert [b["id"] for b in bodies] == [body["id"], body["id"]]  # same event, sent again
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0


async def test_relay_sees_rows_committed_while_it_was_down(
    relay_db: Database, pool: asyncpg.Pool, relay: OutboxRelay, events: Tap
) -> None:
    await add_events(pool, range(600, 605))  # no relay running, no NOTIFY heard
    await relay.start()
    bodies = await events.wait_for(5, timeout=10)
    assert sorted(b["data"]["id"] for b in bodies) == list(range(600, 605))


async def test_housekeeping_prunes_old_sent_rows_and_old_inbox_rows_only(
    pool: asyncpg.Pool,
) -> None:
    await add_events(pool, range(700, 704))
    await pool.execute(
        """UPDATE outbox SET sent_at = now() - interval '8 days'
            WHERE subject IN ('700', '701')"""
    )
    await pool.execute("UPDATE outbox SET sent_at = now() WHERE subject = '702'")
    await pool.execute(
        """UPDATE outbox SET created_at = now() - interval '40 days'
            WHERE subject = '703'"""
    )  # old but never sent: must stay until it is
    await pool.execute(
        """INSERT INTO handled_events (consumer, event_id, handled_at) VALUES
           ('q', 'old', now() - interval '31 days'), ('q', 'recent', now())"""
    )

    assert await housekeeping.prune(pool) == (2, 1)

    left = await pool.fetch("SELECT subject FROM outbox ORDER BY subject")
    assert [r["subject"] for r in left] == ["702", "703"]
    inbox = await pool.fetch("SELECT event_id FROM handled_events")
    assert [r["event_id"] for r in inbox] == ["recent"]
