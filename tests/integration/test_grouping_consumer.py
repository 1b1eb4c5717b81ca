"""The grouping consumer (several messages in one transaction) against the real Postgres and
RabbitMQ: every message applied once, in groups, acknowledged after the commit; a group
that fails is handled message by message, and the one that keeps failing is parked alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import asyncpg
import pytest

from services.common.events.broker import connect
from services.common.events.envelope import CloudEvent
from services.common.events.grouping import GroupHandler, Grouping, GroupingConsumer
from tests.integration import test_consumer
from tests.integration.test_consumer import (
    QUEUE,
    article,
    parked_count,
    queue_is_empty,
    remember_title,
)
from tests.support.amqp import drain, publish_event
from tests.support.polling import eventually

# The consumer tests' queue does for the mechanics; its events are taken as unversioned
# here (the grouping consumer applies every one, as the counter's views.batch).
GROUP_MAX = 5

# The consumer tests' fixtures: a database, and a pool on it with the probe table made and
# handled_events and the queue emptied.
consumer_db = test_consumer.consumer_db
pool = test_consumer.pool


Alone = Callable[[asyncpg.Connection, CloudEvent], Awaitable[None]]
Start = Callable[[GroupHandler, Alone], Awaitable[GroupingConsumer]]


@pytest.fixture
async def run_consumer(pool: asyncpg.Pool, amqp_url: str) -> AsyncIterator[Start]:
    connection = await connect(amqp_url, "test-grouping")
    started: list[GroupingConsumer] = []

    async def start(group_handler: GroupHandler, alone: Alone) -> GroupingConsumer:
        consumer = GroupingConsumer(
            QUEUE,
            pool,
            connection,
            {"article.published": alone},
            Grouping(group_handler, max_messages=GROUP_MAX, window=0.05),
        )
        await consumer.start()
        started.append(consumer)
        return consumer

    yield start
    for consumer in started:
        await consumer.stop()
    await connection.close()


async def titles(pool: asyncpg.Pool) -> dict[int, int]:
    """Each item's times applied."""
    return {r["id"]: r["times"] for r in await pool.fetch("SELECT id, times FROM probe_titles")}


async def test_messages_are_applied_in_groups_each_once(pool, run_consumer, amqp_url) -> None:
    groups: list[int] = []

    async def remember_all(conn: asyncpg.Connection, events: Sequence[CloudEvent]) -> None:
        groups.append(len(events))
        for event in events:
            await remember_title(conn, event)

    events = [article(n, 1) for n in range(1, 13)]
    for event in events:
        await publish_event(amqp_url, event)
    await publish_event(amqp_url, events[3])  # the same event again
    consumer = await run_consumer(remember_all, remember_title)

    await eventually(lambda: _applied(pool, 12), timeout=15)
    await consumer.stop()
    assert await queue_is_empty(amqp_url)  # every one acknowledged, none given back
    assert await titles(pool) == dict.fromkeys(range(1, 13), 1)
    assert max(groups) > 1, f"no group held more than one message: {groups}"
    assert max(groups) <= GROUP_MAX
    assert await pool.fetchval("SELECT count(*) FROM handled_events") == 12
    assert await drain(amqp_url, f"{QUEUE}.dead") == []


async def test_a_group_that_fails_is_handled_alone_and_the_bad_message_parked(
    pool, run_consumer, amqp_url
) -> None:
    groups: list[int] = []

    async def choke_on_item_13(conn: asyncpg.Connection, event: CloudEvent) -> None:
        await remember_title(conn, event)  # rolled back with the failure below
        if event.data["id"] == 13:
            raise ValueError("bài viết số 13 không xử lý được")

    async def choke_in_a_group(conn: asyncpg.Connection, events: Sequence[CloudEvent]) -> None:
        groups.append(len(events))
        for event in events:
            await choke_on_item_13(conn, event)

    poison = article(13, 1)
    for event in (article(11, 1), article(12, 1), poison, article(14, 1)):
        await publish_event(amqp_url, event)
    await run_consumer(choke_in_a_group, choke_on_item_13)

    await eventually(lambda: _applied(pool, 3), timeout=15)
    await eventually(lambda: _parked(amqp_url), timeout=20)  # after its 5 tries
    await eventually(lambda: queue_is_empty(amqp_url), timeout=15)
    assert await titles(pool) == {11: 1, 12: 1, 14: 1}
    assert max(groups) > 1, "the messages were never in one group"
    [parked] = await drain(amqp_url, f"{QUEUE}.dead")
    assert parked.message_id == poison.id
    assert "bài viết số 13" in parked.headers["x-bantin-reason"]
    assert parked.headers["x-bantin-attempts"] == 5
    assert (
        await pool.fetchval("SELECT count(*) FROM handled_events WHERE event_id = $1", poison.id)
        == 0
    )


async def test_a_hostile_message_among_good_ones_is_parked_at_once_alone(
    pool, run_consumer, amqp_url
) -> None:
    async def remember_all(conn: asyncpg.Connection, events: Sequence[CloudEvent]) -> None:
        for event in events:
            await remember_title(conn, event)

    await publish_event(amqp_url, article(1, 1))
    await publish_event(amqp_url, b"{not json", routing_key="article.published")
    await publish_event(amqp_url, article(2, 1))
    await run_consumer(remember_all, remember_title)

    await eventually(lambda: _applied(pool, 2), timeout=15)
    await eventually(lambda: queue_is_empty(amqp_url), timeout=15)
    [parked] = await drain(amqp_url, f"{QUEUE}.dead")
    assert parked.body == b"{not json"
    assert parked.headers["x-bantin-attempts"] == 0


async def _parked(amqp_url: str) -> bool:
    return await parked_count(amqp_url) == 1


async def _applied(pool: asyncpg.Pool, count: int) -> bool:
    return len(await titles(pool)) >= count
