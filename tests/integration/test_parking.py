"""Nothing parked is ever lost, and nothing parked says more than it must: the consumer
and `redrive` against the real RabbitMQ and Postgres, on a vhost of each test's own (they
delete and fill queues).

- A message the parking queue cannot take (deleted, or full and refusing) is requeued,
  not acked and lost, and parked once the parking queue takes it.
- `redrive` removes a parked message only once its queue confirmed taking it.
- A park reason (and the log) never quotes the values of a failed query or of the event.
- When an item is erased (feedback.withdrawn), its parked copies are deleted with it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractIncomingMessage
from aio_pika.exceptions import DeliveryError

from services.common import db
from services.common.events import topology
from services.common.events.broker import Publisher, connect
from services.common.events.consumer import Consumer, Handler
from services.common.events.envelope import EXCHANGE, CloudEvent, source_of
from services.common.events.redrive import NotMoved, redrive
from tests.support.amqp import drain, message_counts, publish_event
from tests.support.infra import (
    ROOT,
    Database,
    Vhost,
    create_database,
    create_vhost,
    delete_vhost,
    drop_database,
    rabbitmqctl,
)
from tests.support.polling import eventually

SERVICE = "feedback"  # any service's schema has the consumer's tables
ARTICLES = "feedback.article-state"
FEEDBACK = "articles.feedback-public"
SECRET_NAME = "Nguyễn Thị Bí Mật"


def article(item_id: int, version: int = 1, **fields: object) -> CloudEvent:
    data = {
        "id": item_id,
        "version": version,
        "slug": "tin",
        "title": "Tin",
        "url": f"/tin/tin-{item_id}",
        "category": {"slug": "tin-tuc", "name": "Tin tức"},
        "published_at": "2026-11-28T08:00:00+07:00",
        "updated_at": "2026-11-28T08:00:00+07:00",
        **fields,
    }
    return CloudEvent("article.published", source_of("articles"), str(item_id), data)


def approved(item_id: int, version: int = 1, **fields: object) -> CloudEvent:
    data = {
        "id": item_id,
        "version": version,
        "article_id": 3,
        "author_name": SECRET_NAME,
        "body": "Ý kiến của tôi về bản tin",
        "approved_at": "2026-11-28T08:00:00+07:00",
        "updated_at": "2026-11-28T08:00:00+07:00",
        **fields,
    }
    return CloudEvent("feedback.approved", source_of("feedback"), str(item_id), data)


def withdrawn(item_id: int, version: int) -> CloudEvent:
    data = {
        "id": item_id,
        "version": version,
        "article_id": 3,
        "withdrawn_at": "2026-11-29T08:00:00+07:00",
    }
    return CloudEvent("feedback.withdrawn", source_of("feedback"), str(item_id), data)


@pytest.fixture(scope="module")
def parking_db() -> Iterator[Database]:
    database = create_database()
    yield database
    drop_database(database)


@pytest.fixture
async def own_vhost() -> AsyncIterator[Vhost]:
    vhost = create_vhost()
    await topology.apply(vhost.url)
    yield vhost
    delete_vhost(vhost)


@pytest.fixture
async def pool(parking_db: Database) -> AsyncIterator[asyncpg.Pool]:
    dsn = parking_db.dsn(SERVICE)
    await db.migrate(dsn, ROOT / "services" / SERVICE)
    pool = await db.create_pool(dsn)
    await pool.execute(
        """DROP TABLE IF EXISTS probe_names;
           CREATE TABLE probe_names (id int PRIMARY KEY, name text UNIQUE);
           TRUNCATE handled_events, event_versions"""
    )
    yield pool
    await pool.close()


Start = Callable[[str, Mapping[str, Handler]], Awaitable[Consumer]]


@pytest.fixture
async def run_consumer(pool: asyncpg.Pool, own_vhost: Vhost) -> AsyncIterator[Start]:
    connection = await connect(own_vhost.url, "test-parking")
    started: list[Consumer] = []

    async def start(queue: str, handlers: Mapping[str, Handler]) -> Consumer:
        consumer = Consumer(queue, pool, connection, handlers, prefetch=5, max_attempts=2)
        await consumer.start()
        started.append(consumer)
        return consumer

    yield start
    for consumer in started:
        await consumer.stop()
    await connection.close()


async def remember(conn: asyncpg.Connection, event: CloudEvent) -> None:
    await conn.execute(
        "INSERT INTO probe_names (id, name) VALUES ($1, $2)", event.data["id"], event.subject
    )


def fill_up(vhost: Vhost, queue: str) -> None:
    """A max-length of 1 on `queue`, refusing more (a policy replacing the topology's)."""
    rabbitmqctl(
        "set_policy", "-p", vhost.name, "--apply-to", "queues", "--priority", "10",
        "full", f"^{queue}$", '{"max-length": 1, "overflow": "reject-publish"}',
    )  # fmt: skip


async def make_room(vhost: Vhost, queue: str) -> list[AbstractIncomingMessage]:
    """What an operator does about a full queue: lift the limit and take messages out (a
    quorum queue refuses until some leave it). Returns them."""
    rabbitmqctl("clear_policy", "-p", vhost.name, "full")
    return await drain(vhost.url, queue)


async def fill(vhost: Vhost, queue: str) -> int:
    """Publish to `queue` until it refuses (a quorum queue takes one past its max-length);
    returns how many it took."""
    connection = await aio_pika.connect(vhost.url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        for taken in range(10):
            try:
                await channel.default_exchange.publish(
                    aio_pika.Message(b"filler"), routing_key=queue
                )
            except DeliveryError:
                return taken
    raise AssertionError(f"{queue} never refused a message")


def counts_of(vhost: Vhost, *queues: str) -> tuple[int, ...]:
    counts = message_counts(vhost)
    return tuple(counts.get(queue, 0) for queue in queues)


def could_not_park(caplog: pytest.LogCaptureFixture) -> int:
    return sum("could not park" in r.getMessage() for r in caplog.records)


# --- the parking queue cannot take the message --------------------------------------------


@pytest.mark.parametrize("trouble", ["deleted", "full"])
async def test_a_message_the_parking_queue_cannot_take_is_kept_until_it_can(
    run_consumer: Start,
    own_vhost: Vhost,
    caplog: pytest.LogCaptureFixture,
    trouble: str,
) -> None:
    caplog.set_level(logging.WARNING, logger="services.common.events.consumer")
    dead = f"{ARTICLES}.dead"
    if trouble == "deleted":
        rabbitmqctl("delete_queue", "-p", own_vhost.name, dead)
    else:
        fill_up(own_vhost, dead)
        await fill(own_vhost, dead)
    await run_consumer(ARTICLES, {"article.published": remember})
    hostile = b"{not json, and the parking queue cannot take it"
    await publish_event(own_vhost.url, hostile, routing_key="article.published")

    tries = could_not_park(caplog)
    await eventually(lambda: could_not_park(caplog) >= tries + 2, timeout=20)
    # Refused twice by the broker, and still in its queue: not acked, not lost.
    await eventually(lambda: counts_of(own_vhost, ARTICLES) == (1,), timeout=15)

    parked: list[AbstractIncomingMessage] = []
    if trouble == "deleted":
        await topology.apply(own_vhost.url)  # the parking queue is back
    else:
        parked += await make_room(own_vhost, dead)

    async def hostile_parked() -> bool:
        parked.extend(await drain(own_vhost.url, dead))
        return hostile in [m.body for m in parked]

    await eventually(hostile_parked, timeout=20)
    [mine] = [m for m in parked if m.body == hostile]
    assert "not JSON" in mine.headers["x-bantin-reason"]


# --- redrive ---------------------------------------------------------------------------


async def parked_one(run_consumer: Start, vhost: Vhost) -> Consumer:
    """Park a malformed message on feedback.article-state.dead; returns the stopped consumer."""
    consumer = await run_consumer(ARTICLES, {"article.published": remember})
    await publish_event(vhost.url, b"{not json", routing_key="article.published")
    await eventually(lambda: message_counts(vhost).get(f"{ARTICLES}.dead") == 1, timeout=15)
    await consumer.stop()
    return consumer


@pytest.mark.parametrize("trouble", ["deleted", "full"])
async def test_redrive_removes_nothing_its_queue_did_not_take(
    run_consumer: Start, own_vhost: Vhost, trouble: str
) -> None:
    await parked_one(run_consumer, own_vhost)
    before = 0  # messages in the queue: none, or the fillers
    if trouble == "deleted":
        rabbitmqctl("delete_queue", "-p", own_vhost.name, ARTICLES)
    else:
        fill_up(own_vhost, ARTICLES)
        before = await fill(own_vhost, ARTICLES)

    with pytest.raises(NotMoved) as refused:
        await redrive(own_vhost.url, ARTICLES, move=True, limit=10)
    assert refused.value.moved == 0
    # Still parked, and nothing new in the queue (the broker's counts lag up to 5 s).
    await eventually(
        lambda: counts_of(own_vhost, f"{ARTICLES}.dead", ARTICLES) == (1, before), timeout=15
    )

    if trouble == "deleted":
        await topology.apply(own_vhost.url)
    else:
        await make_room(own_vhost, ARTICLES)
    [moved] = await redrive(own_vhost.url, ARTICLES, move=True, limit=10)
    assert "not JSON" in moved.reason
    await eventually(
        lambda: counts_of(own_vhost, f"{ARTICLES}.dead", ARTICLES) == (0, 1), timeout=15
    )


# --- what a park reason says ---------------------------------------------------------------


async def integer_of_title(conn: asyncpg.Connection, event: CloudEvent) -> None:
    await conn.fetchval("SELECT $1::text::int", event.data["title"])  # 22P02, quoting it


async def same_name_twice(conn: asyncpg.Connection, event: CloudEvent) -> None:
    await conn.execute("INSERT INTO probe_names (id, name) VALUES (1, $1)", event.data["title"])
    await conn.execute("INSERT INTO probe_names (id, name) VALUES (2, $1)", event.data["title"])


async def integer_argument(conn: asyncpg.Connection, event: CloudEvent) -> None:
    await conn.fetchval("SELECT $1::int", event.data["title"])  # refused by asyncpg itself


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (integer_of_title, "InvalidTextRepresentationError: SQLSTATE 22P02"),
        (
            same_name_twice,
            "UniqueViolationError: SQLSTATE 23505, table probe_names,"
            " constraint probe_names_name_key",
        ),
        (integer_argument, "DataError: SQLSTATE 22000"),
    ],
    ids=["invalid-text", "unique-violation", "argument"],
)
async def test_a_park_reason_never_quotes_a_failed_query(
    run_consumer: Start,
    own_vhost: Vhost,
    caplog: pytest.LogCaptureFixture,
    handler: Handler,
    reason: str,
) -> None:
    caplog.set_level(logging.INFO)
    await run_consumer(ARTICLES, {"article.published": handler})
    await publish_event(own_vhost.url, article(5, title=SECRET_NAME))
    await eventually(lambda: message_counts(own_vhost).get(f"{ARTICLES}.dead") == 1, timeout=20)
    [parked] = await drain(own_vhost.url, f"{ARTICLES}.dead")
    assert parked.headers["x-bantin-reason"] == reason
    assert parked.headers["x-bantin-attempts"] == 2
    logged = "\n".join(f"{r.getMessage()} {r.__dict__} {r.exc_text or ''}" for r in caplog.records)
    assert "handler failed" in logged and reason in logged
    assert SECRET_NAME not in logged


async def test_a_schema_error_names_the_field_and_rule_not_the_value(
    run_consumer: Start, own_vhost: Vhost, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    await run_consumer(FEEDBACK, dict.fromkeys(topology.queue(FEEDBACK).routing_keys, remember))
    await publish_event(own_vhost.url, approved(6, author_name=[SECRET_NAME]))
    await eventually(lambda: message_counts(own_vhost).get(f"{FEEDBACK}.dead") == 1, timeout=15)
    [parked] = await drain(own_vhost.url, f"{FEEDBACK}.dead")
    assert parked.headers["x-bantin-reason"] == (
        'invalid event: feedback.approved: author_name: breaks type "string"'
    )
    assert SECRET_NAME not in "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)


# --- erased items ----------------------------------------------------------------------------


async def test_parked_copies_of_withdrawn_feedback_are_erased_with_it(
    run_consumer: Start, own_vhost: Vhost, pool: asyncpg.Pool
) -> None:
    async def fails_for_7(conn: asyncpg.Connection, event: CloudEvent) -> None:
        if event.data["id"] == 7:
            raise RuntimeError("the read model refuses item 7")
        await remember(conn, event)

    async def forget(conn: asyncpg.Connection, event: CloudEvent) -> None:
        await conn.execute("DELETE FROM probe_names WHERE id = $1", event.data["id"])

    await run_consumer(
        FEEDBACK,
        {
            "feedback.approved": fails_for_7,
            "feedback.updated": fails_for_7,
            "feedback.withdrawn": forget,
        },
    )
    dead = f"{FEEDBACK}.dead"
    await publish_event(own_vhost.url, approved(7, 1))  # fails twice: parked
    await publish_event(own_vhost.url, approved(7, 2, body=""))  # breaks its schema: parked
    await publish_event(own_vhost.url, approved(8, 1, body=""))  # another item's, parked
    await eventually(lambda: message_counts(own_vhost).get(dead) == 3, timeout=20)

    await publish_event(own_vhost.url, withdrawn(7, 3))
    await eventually(lambda: message_counts(own_vhost).get(dead) == 1, timeout=20)
    [left] = await drain(own_vhost.url, dead)
    assert CloudEvent.from_json(left.body).subject == "8"
    assert await pool.fetchval("SELECT count(*) FROM handled_events") == 1  # the withdrawal
    await eventually(lambda: counts_of(own_vhost, FEEDBACK) == (0,), timeout=15)


async def test_the_relays_publisher_recovers_from_a_queue_that_was_full(own_vhost: Vhost) -> None:
    """A full queue refuses the relay's publish (nack: the row is retried); once there is
    room again, the next publish goes through."""
    connection = await connect(own_vhost.url, "test-publisher")
    publisher = Publisher(connection)
    await publisher.start()
    queue = "articles.views-counted"
    try:
        fill_up(own_vhost, queue)
        await fill(own_vhost, queue)
        with pytest.raises(DeliveryError):
            await publisher.publish(EXCHANGE, "views.counted", b"{}", message_id="refused")
        await make_room(own_vhost, queue)
        assert await publisher.publish(EXCHANGE, "views.counted", b"{}", message_id="taken")
        assert [m.message_id for m in await drain(own_vhost.url, queue)] == ["taken"]
    finally:
        await publisher.close()
        await connection.close()
