"""Fault tests: the broker or the database restarts under running relays and consumers.

They run against a private RabbitMQ node and a private Postgres cluster that this module
starts on free ports (tests/support/private_services.py), never the machine's shared
servers. What they prove (DESIGN rules 2, 3, 5): after RabbitMQ restarts, publishing and
consuming resume in the same process, with the same objects; after Postgres restarts, the
pool and the relay's LISTEN connection recover; /readyz says which is down and turns ready
again by itself; and no fault loses an event or counts one twice. Run them alone with
`pytest -m fault`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator

import aio_pika
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import REGISTRY

from services.common import db
from services.common.config import Settings
from services.common.events import topology
from services.common.events.broker import Publisher, connect
from services.common.events.consumer import Consumer, Handler
from services.common.events.envelope import EXCHANGE, CloudEvent, source_of
from services.common.events.outbox import write_event
from services.common.events.relay import OutboxRelay
from services.common.web import create_base_app
from tests.support.amqp import drain
from tests.support.events import submitted
from tests.support.infra import ROOT, Database
from tests.support.polling import eventually
from tests.support.private_services import (
    PrivatePostgres,
    PrivateRabbitMQ,
    private_postgres,
    private_rabbitmq,
)
from tests.support.relay import RelayWatch

SERVICE = "feedback"
QUEUE = "feedback.article-state"  # consumes article.* events (the topology's queue)
# A durable queue that keeps every event published on bantin.events, across broker
# restarts (an exclusive tap would vanish with the broker).
TAP_QUEUE = "fault.every-event"
PREFETCH = 5
# Seconds after the broker's return within which the relay's backlog must be sent.
BACKLOG_DEADLINE = 6.0

log = logging.getLogger(__name__)


def report(message: str) -> None:
    """Numbers worth reading in the output (`pytest -s`), and in the log on failure."""
    print(f"[fault] {message}")
    log.warning("[fault] %s", message)


async def seconds_until(
    check: Callable[[], bool | Awaitable[bool]], timeout: float, what: str
) -> float:
    """Wait for `check` with the shared eventually; returns the seconds it took."""
    began = time.monotonic()
    await eventually(check, timeout=timeout, interval=0.1, message=what)
    return time.monotonic() - began


# --- the private servers, started once for this file ---------------------------------


@pytest.fixture(scope="module")
async def rabbit() -> AsyncIterator[PrivateRabbitMQ]:
    with private_rabbitmq() as node:
        await topology.apply(node.url, node.management_url)
        connection = await aio_pika.connect(node.url)
        async with connection:
            channel = await connection.channel()
            tap = await channel.declare_queue(
                TAP_QUEUE, durable=True, arguments={"x-queue-type": "quorum"}
            )
            await tap.bind(EXCHANGE, routing_key="#")
        yield node


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as cluster:
        yield cluster


@pytest.fixture(scope="module")
async def fault_db(postgres: PrivatePostgres) -> Database:
    database = postgres.create_database()
    await db.migrate(database.dsn(SERVICE), ROOT / "services" / SERVICE)
    conn = await db.connect(database.dsn(SERVICE))
    try:
        await conn.execute(
            "CREATE TABLE probe_handled (event_id text PRIMARY KEY, item int, times int)"
        )
    finally:
        await conn.close()
    return database


@pytest.fixture
async def pool(
    rabbit: PrivateRabbitMQ, postgres: PrivatePostgres, fault_db: Database
) -> AsyncIterator[asyncpg.Pool]:
    # A test that failed half-way may have left a server down: each test starts with both up.
    if not rabbit.running:
        await rabbit.astart()
    if not postgres.running:
        await postgres.astart()
    pool = await db.create_pool(fault_db.dsn(SERVICE))
    await pool.execute("TRUNCATE outbox, handled_events, event_versions, probe_handled")
    for name in (TAP_QUEUE, QUEUE, f"{QUEUE}.dead"):
        await drain(rabbit.url, name)
    yield pool
    await pool.close()


# --- helpers ---------------------------------------------------------------------------


async def add_event(pool: asyncpg.Pool, item_id: int) -> str:
    """Commit one feedback.submitted outbox row (its own transaction); returns the event id."""
    async with pool.acquire() as conn, conn.transaction():
        event = await write_event(conn, "feedback.submitted", submitted(item_id))
    return event.id


async def unsent(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))


def article(item_id: int) -> CloudEvent:
    data = {
        "id": item_id,
        "version": 1,
        "slug": "tin",
        "title": f"Tin {item_id}",
        "url": f"/tin/tin-{item_id}",
        "category": {"slug": "tin-tuc", "name": "Tin tức"},
        "published_at": "2026-11-28T08:00:00+07:00",
        "updated_at": "2026-11-28T08:00:00+07:00",
    }
    return CloudEvent("article.published", source_of("articles"), str(item_id), data)


async def publish_events(amqp_url: str, events: Iterable[CloudEvent]) -> None:
    """Publish events to bantin.events on one connection, each confirmed and persistent."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EXCHANGE, ensure=False)
        for event in events:
            await exchange.publish(
                aio_pika.Message(
                    event.to_json(),
                    message_id=event.id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=event.type,
            )


async def ready_messages(amqp_url: str, queue: str) -> int:
    """Messages waiting on a queue (not counting those delivered and not yet acked)."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        count = declared.declaration_result.message_count
        return int(count or 0)


class Arrivals:
    """Collects the event ids that reached the tap queue, draining it as it goes."""

    def __init__(self, amqp_url: str) -> None:
        self._url = amqp_url
        self.ids: list[str] = []

    async def collect(self) -> set[str]:
        self.ids += [m.message_id or "" for m in await drain(self._url, TAP_QUEUE)]
        return set(self.ids)

    async def wait_for(self, expected: set[str], timeout: float) -> float:
        async def all_there() -> bool:
            return expected <= await self.collect()

        return await seconds_until(all_there, timeout, f"{len(expected)} events on {TAP_QUEUE}")


async def probe_times(pool: asyncpg.Pool) -> dict[str, int]:
    rows = await pool.fetch("SELECT event_id, times FROM probe_handled")
    return {r["event_id"]: r["times"] for r in rows}


async def record_handled(conn: asyncpg.Connection, event: CloudEvent) -> None:
    """The probe handler's write: one row per event, `times` counts how often it committed."""
    await conn.execute(
        """INSERT INTO probe_handled (event_id, item, times) VALUES ($1, $2, 1)
           ON CONFLICT (event_id) DO UPDATE SET times = probe_handled.times + 1""",
        event.id,
        event.data["id"],
    )


def consumed(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "bantin_events_consumed_total", {"consumer": QUEUE, "outcome": outcome}
    )
    return value or 0.0


async def listening_backends(database: Database) -> list[int]:
    """Backends of the feedback role that are LISTENing (the relay's dedicated connection)."""
    conn = await asyncpg.connect(database.admin_dsn)
    try:
        rows = await conn.fetch(
            """SELECT pid FROM pg_stat_activity
                WHERE datname = $1 AND usename = $2 AND query LIKE 'LISTEN %'""",
            database.name,
            SERVICE,
        )
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


# --- the tests -------------------------------------------------------------------------


class Writer:
    """Commits one outbox row every `interval` seconds, as a busy service would."""

    def __init__(self, pool: asyncpg.Pool, interval: float = 0.05) -> None:
        self._pool = pool
        self._interval = interval
        self.ids: list[str] = []
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._stopping.is_set():
            self.ids.append(await add_event(self._pool, len(self.ids) + 1))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def stop(self) -> None:
        """Stop after the row in hand (not cancelled half-way: every id it wrote is known)."""
        self._stopping.set()
        if self._task is not None:
            await self._task


@pytest.mark.fault
async def test_relay_keeps_publishing_through_a_broker_restart(
    rabbit: PrivateRabbitMQ, pool: asyncpg.Pool, fault_db: Database
) -> None:
    connection = await connect(rabbit.url, "fault-relay")
    publisher = Publisher(connection)
    await publisher.start()
    relay = OutboxRelay(fault_db.dsn(SERVICE), pool, publisher, poll_seconds=1)
    await relay.start()
    writer = Writer(pool)
    arrivals = Arrivals(rabbit.url)
    try:
        writer.start()  # rows keep coming before, during and after the outage

        async def some_sent() -> bool:
            return bool(
                await pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL")
            )

        await seconds_until(some_sent, 15, "the relay publishing")
        # The broker goes down while the relay is publishing.
        stop_seconds = await rabbit.astop()
        down_at = time.monotonic()
        first_while_down = len(writer.ids)

        async def rows_failed_while_down() -> bool:
            failed = await pool.fetchrow(
                """SELECT count(*) AS n, max(attempts) AS most FROM outbox
                    WHERE id = ANY($1::uuid[])
                      AND sent_at IS NULL AND attempts >= 1 AND last_error IS NOT NULL""",
                writer.ids[first_while_down:],
            )
            return bool(failed["n"] >= 20 and failed["most"] >= 4)

        # The relay goes on trying, recording each failure, until a row has failed 4 times
        # and backed off for 16 s: a broker outage of some length.
        await seconds_until(rows_failed_while_down, 40, "the relay recording failed tries")
        assert all(not task.done() for task in relay._tasks), "the relay stopped running"
        errors = await pool.fetch(
            "SELECT DISTINCT left(last_error, 50) AS e FROM outbox WHERE sent_at IS NULL"
        )
        unsent_before_start = await unsent(pool)
        assert not await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE id = ANY($1::uuid[]) AND sent_at IS NOT NULL",
            writer.ids[first_while_down:],
        ), "a row was marked sent while the broker was down"

        start_seconds = await rabbit.astart()
        up_at = time.monotonic()
        backed_off = await pool.fetchval(
            """SELECT count(*) FROM outbox WHERE sent_at IS NULL
                  AND next_attempt_at > now() + make_interval(secs => $1)""",
            BACKLOG_DEADLINE,
        )
        backlog = list(writer.ids)
        written_while_down = len(backlog) - first_while_down

        async def backlog_sent() -> bool:
            left = await pool.fetchval(
                "SELECT count(*) FROM outbox WHERE id = ANY($1::uuid[]) AND sent_at IS NULL",
                backlog,
            )
            return bool(left == 0)

        # Once the broker is back, the backlog goes at once: not when each row's back-off
        # ends (`backed_off` rows were not due before the deadline). The writer goes on.
        recovery = await seconds_until(
            backlog_sent,
            BACKLOG_DEADLINE,
            f"the backlog sent within {BACKLOG_DEADLINE} s of the broker's return",
        )
        await writer.stop()
        await seconds_until(lambda: _none_unsent(pool), 10, "rows written since then sent")

        expected = {str(r["id"]) for r in await pool.fetch("SELECT id FROM outbox")}
        assert expected == set(writer.ids)
        await arrivals.wait_for(expected, 15)
        await arrivals.collect()  # one more drain, for a straggling extra copy
        copies = Counter(arrivals.ids)
        assert set(copies) == expected, "an event that was never written arrived"
        attempts = await pool.fetchval("SELECT max(attempts) FROM outbox")
        report(
            f"broker restart, relay: stop took {stop_seconds:.1f} s, broker down "
            f"{up_at - down_at:.1f} s (start {start_seconds:.1f} s); {len(expected)} rows "
            f"written, {written_while_down} of them while the broker was down "
            f"({unsent_before_start} unsent before its start, up to {attempts} attempts on a "
            f"row, errors "
            f"{[r['e'] for r in errors]}); the backlog of {len(backlog)} rows was sent "
            f"{recovery:.1f} s after the broker was up ({backed_off} of them backed off past "
            f"{BACKLOG_DEADLINE} s); {len(copies)} distinct events arrived "
            f"({sum(copies.values()) - len(copies)} extra copies)"
        )
    finally:
        await writer.stop()
        await relay.stop()
        await connection.close()


async def _none_unsent(pool: asyncpg.Pool) -> bool:
    return await unsent(pool) == 0


@pytest.mark.fault
async def test_consumer_resumes_after_a_broker_restart(
    rabbit: PrivateRabbitMQ, pool: asyncpg.Pool
) -> None:
    calls: Counter[str] = Counter()
    interrupted = 0
    running = most_at_once = 0

    async def slow_handler(conn: asyncpg.Connection, event: CloudEvent) -> None:
        nonlocal interrupted, running, most_at_once
        calls[event.id] += 1
        running += 1
        most_at_once = max(most_at_once, running)
        try:
            await asyncio.sleep(0.2)  # so that some messages are in hand when the broker stops
            await record_handled(conn, event)
        except asyncio.CancelledError:
            interrupted += 1  # rolled back with the transaction; the broker redelivers
            raise
        finally:
            running -= 1

    connection = await connect(rabbit.url, "fault-consumer")
    consumer = Consumer(
        QUEUE, pool, connection, {"article.published": slow_handler}, prefetch=PREFETCH
    )
    # Fault injection: the broker goes down after the first event's transaction committed
    # and before its ack, so the broker delivers it again after the restart.
    outage = asyncio.Event()
    committed_unacked: list[str] = []
    handle = consumer._handle

    async def commit_then_lose_the_ack(event: CloudEvent, handler: Handler) -> str:
        outcome = await handle(event, handler)
        if not committed_unacked:
            committed_unacked.append(event.id)
            outage.set()
            while rabbit.running:  # hold the ack back until the broker is gone
                await asyncio.sleep(0.05)
        return outcome

    consumer._handle = commit_then_lose_the_ack  # type: ignore[method-assign]
    await consumer.start()
    duplicates_before = consumed("duplicate")
    try:
        first = [article(i) for i in range(1, 41)]
        await publish_events(rabbit.url, first)
        await asyncio.wait_for(outage.wait(), 15)
        stop_seconds = await rabbit.astop()
        in_flight_at_stop = len(first) - len(await probe_times(pool))
        start_seconds = await rabbit.astart()
        up_at = time.monotonic()

        second = [article(i) for i in range(41, 61)]
        await publish_events(rabbit.url, second)
        everything = {e.id for e in first + second}

        async def all_handled() -> bool:
            return set(await probe_times(pool)) == everything

        await seconds_until(all_handled, 30, "every event handled")
        recovery = time.monotonic() - up_at
        await seconds_until(lambda: _queue_empty(rabbit.url, QUEUE), 10, "the queue drained")
        times = await probe_times(pool)
        assert sorted(times.values()) == [1] * len(everything), "an event was counted twice"
        assert await pool.fetchval("SELECT count(*) FROM handled_events") == len(everything)
        duplicates = consumed("duplicate") - duplicates_before
        assert duplicates >= 1, "the event committed before the outage was not redelivered"
        assert await ready_messages(rabbit.url, f"{QUEUE}.dead") == 0
        assert most_at_once <= PREFETCH, "prefetch not restored after the reconnect"
        report(
            f"broker restart, consumer: stop {stop_seconds:.1f} s + start "
            f"{start_seconds:.1f} s with "
            f"{in_flight_at_stop} of {len(first)} events not yet handled, one of them "
            f"committed and not acked; {len(second)} more published after it; all "
            f"{len(everything)} handled {recovery:.1f} s after the broker was up, each "
            f"exactly once; the handler ran {sum(calls.values())} times ({interrupted} "
            f"interrupted by the outage and rolled back); {duplicates:.0f} redelivered "
            f"after their commit and dropped as duplicates; at most {most_at_once} in hand "
            f"at once (prefetch {PREFETCH})"
        )
    finally:
        await consumer.stop()
        await connection.close()


async def _queue_empty(amqp_url: str, queue: str) -> bool:
    return await ready_messages(amqp_url, queue) == 0


@pytest.mark.fault
async def test_pool_and_consumer_ride_out_a_postgres_restart(
    rabbit: PrivateRabbitMQ,
    postgres: PrivatePostgres,
    pool: asyncpg.Pool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    max_attempts = 2
    connection = await connect(rabbit.url, "fault-consumer-pg")
    consumer = Consumer(
        QUEUE,
        pool,
        connection,
        {"article.published": record_handled},
        prefetch=5,
        max_attempts=max_attempts,
    )
    await consumer.start()
    try:
        first = article(1)
        await publish_events(rabbit.url, [first])
        await seconds_until(lambda: _handled(pool, first), 10, "the first event handled")

        stop_seconds = await postgres.astop()
        down_at = time.monotonic()
        caplog.clear()
        while_down = article(2)
        await publish_events(rabbit.url, [while_down])

        def waits() -> int:
            return sum(
                "database unavailable" in r.getMessage()
                for r in caplog.records
                if r.name == "services.common.events.consumer"
            )

        async def retried_past_the_limit() -> bool:
            return waits() > max_attempts + 1

        # The message is in hand and retried well past max_attempts, yet not parked.
        await seconds_until(retried_past_the_limit, 20, "the consumer waiting for the database")
        assert await ready_messages(rabbit.url, f"{QUEUE}.dead") == 0
        assert await ready_messages(rabbit.url, QUEUE) == 0  # delivered, held unacked
        held_tries = waits()

        await postgres.astart()
        up_at = time.monotonic()
        failures: list[str] = []

        async def pool_answers() -> bool:
            try:
                return bool(await pool.fetchval("SELECT 1") == 1)
            except Exception as exc:  # counted and reported, then retried
                failures.append(type(exc).__name__)
                return False

        pool_recovery = await seconds_until(pool_answers, 15, "the same pool answering again")
        handled_after = await seconds_until(
            lambda: _handled(pool, while_down), 15, "the event held during the outage handled"
        )
        await consumer.stop()
        times = await probe_times(pool)
        assert times == {first.id: 1, while_down.id: 1}
        assert await ready_messages(rabbit.url, QUEUE) == 0
        assert await ready_messages(rabbit.url, f"{QUEUE}.dead") == 0
        report(
            f"postgres restart, pool + consumer: stop took {stop_seconds:.1f} s, database "
            f"down {up_at - down_at:.1f} s; the event delivered meanwhile was retried "
            f"{held_tries} times (max_attempts {max_attempts}) and not parked; the pool "
            f"answered {pool_recovery:.2f} s after the start (failed queries: {failures}); "
            f"the held event was handled {handled_after:.2f} s later; each handled once"
        )
    finally:
        await consumer.stop()
        await connection.close()


async def _handled(pool: asyncpg.Pool, event: CloudEvent) -> bool:
    try:
        return event.id in await probe_times(pool)
    except db.UNAVAILABLE_ERRORS:
        return False


@pytest.mark.fault
async def test_notify_wakes_the_relay_after_a_postgres_restart(
    rabbit: PrivateRabbitMQ, postgres: PrivatePostgres, pool: asyncpg.Pool, fault_db: Database
) -> None:
    connection = await connect(rabbit.url, "fault-relay-listen")
    publisher = Publisher(connection)
    await publisher.start()
    # Polls only every 60 s: within the deadlines below only NOTIFY (or the poll that
    # follows a LISTEN reconnect) can wake it.
    relay = OutboxRelay(fault_db.dsn(SERVICE), pool, publisher, poll_seconds=60)
    watch = RelayWatch(relay)
    arrivals = Arrivals(rabbit.url)
    first = await add_event(pool, 1)
    # Postgres goes down while the relay is between publishing a row and marking it sent:
    # SHARE mode lets it claim and publish the row but blocks its UPDATE.
    blocker = await db.connect(fault_db.dsn(SERVICE))
    try:
        await blocker.execute("BEGIN; LOCK TABLE outbox IN SHARE MODE")
        await relay.start()
        await arrivals.wait_for({first}, 10)
        await seconds_until(lambda: _relay_blocked(fault_db), 10, "the relay waiting to mark")
        [old_backend] = await _listeners(fault_db)

        restart_seconds = await postgres.arestart()

        async def listening_again() -> bool:
            backends = await _listeners(fault_db)
            return len(backends) == 1 and backends != [old_backend]

        relisten = await seconds_until(listening_again, 15, "the relay LISTENing again")
        # The claim rolled back with the dead transaction: the row is sent again (consumers
        # drop the copy by event id) and marked sent this time.
        await seconds_until(lambda: _none_unsent(pool), 15, "the interrupted row sent again")
        assert all(not task.done() for task in relay._tasks), "the relay stopped running"
        # The poll that follows the LISTEN reconnect (its second catch-up) is over, and the
        # relay waits with no wake-up pending: the next row can only come by NOTIFY.
        await seconds_until(
            lambda: watch.idle_after(catch_ups=2), 15, "the relay idle after catching up"
        )

        written_at = time.monotonic()
        second = await add_event(pool, 2)
        await arrivals.wait_for({first, second}, 15)
        woke = time.monotonic() - written_at
        assert woke < 15
        # Marked sent in the claiming transaction, just after the broker's confirm.
        await seconds_until(lambda: _none_unsent(pool), 5, "the row marked sent")
        await arrivals.collect()
        copies = Counter(arrivals.ids)
        assert set(copies) == {first, second}
        report(
            f"postgres restart, LISTEN: restart took {restart_seconds:.1f} s while the relay "
            f"was between publish and mark; LISTEN was back {relisten:.1f} s after; the "
            f"interrupted row was sent again ({copies[first]} copies); a row written then "
            f"was published {woke:.2f} s later by NOTIFY (poll every 60 s)"
        )
    finally:
        blocker.terminate()
        await relay.stop()
        await connection.close()


async def _relay_blocked(database: Database) -> bool:
    conn = await asyncpg.connect(database.admin_dsn)
    try:
        waiting = await conn.fetchval(
            """SELECT count(*) FROM pg_stat_activity
                WHERE datname = $1 AND usename = $2 AND wait_event_type = 'Lock'
                  AND query LIKE 'UPDATE outbox%'""",
            database.name,
            SERVICE,
        )
    finally:
        await conn.close()
    return bool(waiting)


async def _listeners(database: Database) -> list[int]:
    try:
        return await listening_backends(database)
    except (*db.UNAVAILABLE_ERRORS, asyncpg.PostgresError):
        return []


@pytest.mark.fault
async def test_readiness_follows_the_broker_and_the_database(
    rabbit: PrivateRabbitMQ, postgres: PrivatePostgres, pool: asyncpg.Pool, fault_db: Database
) -> None:
    """What an orchestrator's health check sees: /readyz turns 503 naming what is down, and
    ready again once it is back, without restarting the service."""
    settings = Settings(service=SERVICE, database_url=fault_db.dsn(SERVICE), amqp_url=rabbit.url)
    app = create_base_app(settings, ROOT / "services" / SERVICE)
    async with TestClient(TestServer(app)) as client:

        async def checks() -> tuple[int, dict[str, str]]:
            response = await client.get("/readyz")
            return response.status, (await response.json())["checks"]

        assert await checks() == (200, {"database": "ok", "broker": "ok"})

        await rabbit.astop()
        status, found = await checks()
        assert status == 503 and found["broker"] == "unavailable", found
        assert found["database"] == "ok"
        await rabbit.astart()

        async def ready() -> bool:
            return await checks() == (200, {"database": "ok", "broker": "ok"})

        broker_back = await seconds_until(ready, 30, "ready again after the broker's return")

        await postgres.astop()
        status, found = await checks()
        assert status == 503 and found["database"].startswith("unavailable"), found
        assert found["broker"] == "ok"
        await postgres.astart()
        database_back = await seconds_until(ready, 15, "ready again after the database's return")
        report(
            f"readiness: 503 while the broker was down, ready {broker_back:.1f} s after it "
            f"was back; 503 while the database was down, ready {database_back:.2f} s after"
        )
