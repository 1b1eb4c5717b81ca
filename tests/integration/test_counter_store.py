"""The counter's SQL on a real Postgres, without the app: daily salts shared by instances,
concurrent batches that neither deadlock nor lose a view, changed totals claimed by one
instance only, and the maintenance that deletes what is older than two days."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from services.common import db
from services.common.vietnam import vn_day
from services.counter import actions, store, tasks
from services.counter.app import SERVICE_DIR
from services.counter.domain import View, view_key
from services.counter.salts import SaltKeeper
from tests.support.infra import Database, create_database, drop_database

NOW = datetime.now(UTC)
TODAY = vn_day(NOW)


@pytest.fixture(scope="module")
def store_db() -> Iterator[Database]:
    database = create_database()
    yield database
    drop_database(database)


@pytest.fixture(scope="module")
async def pool(store_db: Database) -> AsyncIterator[asyncpg.Pool]:
    dsn = store_db.dsn("counter")
    await db.migrate(dsn, SERVICE_DIR)
    pool = await db.create_pool(dsn, max_size=25)
    yield pool
    await pool.close()


async def salt_via_new_connection(pool: asyncpg.Pool, day: date) -> bytes:
    async with pool.acquire() as conn:
        return await store.daily_salt(conn, day)


async def test_instances_asking_at_once_share_one_random_salt_per_day(pool: asyncpg.Pool) -> None:
    day = TODAY + timedelta(days=30)
    salts = await asyncio.gather(*(salt_via_new_connection(pool, day) for _ in range(10)))
    assert len(set(salts)) == 1 and len(salts[0]) == 32
    assert await pool.fetchval("SELECT count(*) FROM daily_salts WHERE day = $1", day) == 1
    other_day = await salt_via_new_connection(pool, day + timedelta(days=1))
    assert other_day != salts[0]


async def test_two_instances_derive_the_same_key_for_the_same_view(pool: asyncpg.Pool) -> None:
    first, second = SaltKeeper(pool), SaltKeeper(pool)
    day = TODAY + timedelta(days=40)
    keys = {
        view_key(await keeper.salt_for(day), "203.0.113.5", "Mozilla/5.0", 7, 100)
        for keeper in (first, second)
    }
    assert len(keys) == 1


def views_of(article_id: int, keys: list[str], day: date = TODAY) -> list[View]:
    return [View(article_id, key, day) for key in keys]


async def count(pool: asyncpg.Pool, views: list[View]) -> int:
    async with pool.acquire() as conn, conn.transaction():
        return (await store.count_views(conn, views, TODAY - timedelta(days=1))).new


async def test_counting_is_idempotent_and_adds_in_sql(pool: asyncpg.Pool) -> None:
    keys = [secrets.token_hex(32) for _ in range(4)]
    assert await count(pool, views_of(11, keys)) == 4
    assert await count(pool, views_of(11, keys)) == 0
    assert await count(pool, views_of(11, keys[:2] + [secrets.token_hex(32)])) == 1
    row = await pool.fetchrow("SELECT counted, changed FROM article_totals WHERE article_id = 11")
    assert (row["counted"], row["changed"]) == (5, True)


async def test_concurrent_overlapping_batches_neither_deadlock_nor_lose_a_view(
    pool: asyncpg.Pool,
) -> None:
    articles = [21, 22, 23, 24, 25]
    readers = {a: [secrets.token_hex(32) for _ in range(60)] for a in articles}
    rng = random.Random(7)
    batches = []
    for _ in range(20):
        views = [View(a, rng.choice(readers[a]), TODAY) for a in articles for _ in range(30)]
        rng.shuffle(views)
        batches.append(views)
    await asyncio.gather(*(count(pool, batch) for batch in batches))
    seen = {a: {v.key for batch in batches for v in batch if v.article_id == a} for a in articles}
    rows = await pool.fetch(
        """SELECT t.article_id, t.counted, d.views FROM article_totals t
             JOIN daily_totals d ON d.article_id = t.article_id AND d.day = $1
            WHERE t.article_id = ANY($2::bigint[])""",
        TODAY,
        articles,
    )
    assert {r["article_id"]: (r["counted"], r["views"]) for r in rows} == {
        a: (len(seen[a]), len(seen[a])) for a in articles
    }


async def test_changed_totals_are_claimed_by_one_instance_only(pool: asyncpg.Pool) -> None:
    await count(pool, views_of(31, [secrets.token_hex(32) for _ in range(2)]))
    await count(pool, views_of(32, [secrets.token_hex(32)]))
    first = await pool.acquire()
    second = await pool.acquire()
    try:
        # An outer transaction keeps the first claims locked until its block ends.
        async with first.transaction():
            written = await actions.write_counts(first, TODAY, 500)
            assert written >= 2
            assert await actions.write_counts(second, TODAY, 500) == 0  # all held
        assert await actions.write_counts(second, TODAY, 500) == 0  # all published
    finally:
        await pool.release(first)
        await pool.release(second)
    rows = await pool.fetch(
        """SELECT subject, envelope->'data' AS data FROM outbox
            WHERE type = 'views.counted' AND subject IN ('31', '32') ORDER BY subject"""
    )
    assert [r["data"] for r in rows] == [
        {
            "article_id": 31,
            "version": 1,
            "total": 2,
            "today": 2,
            "day": TODAY.isoformat(),
            "last_7_days": 2,
            "last_30_days": 2,
        },
        {
            "article_id": 32,
            "version": 1,
            "total": 1,
            "today": 1,
            "day": TODAY.isoformat(),
            "last_7_days": 1,
            "last_30_days": 1,
        },
    ]
    # The next change of 31 goes out with the next version.
    await count(pool, views_of(31, [secrets.token_hex(32)]))
    async with pool.acquire() as conn:
        await actions.write_counts(conn, TODAY, 500)
    latest = await pool.fetchval(
        """SELECT envelope->'data' FROM outbox WHERE subject = '31'
            ORDER BY (envelope->'data'->>'version')::int DESC LIMIT 1"""
    )
    assert (latest["version"], latest["total"]) == (2, 3)


async def test_maintenance_keeps_two_days_and_prepares_tomorrow(pool: asyncpg.Pool) -> None:
    days = [TODAY - timedelta(days=n) for n in (3, 2, 1, 0)]
    for day in days:
        await salt_via_new_connection(pool, day)
        async with pool.acquire() as conn, conn.transaction():
            # Straight into the table: count_views itself refuses views this old.
            await conn.execute(
                "INSERT INTO view_keys (key, article_id, day) VALUES ($1, 41, $2)",
                secrets.token_bytes(32),
                day,
            )
    await pool.execute(
        """INSERT INTO handled_events (consumer, event_id, handled_at) VALUES
           ('counter.view-batches', 'old-batch', now() - interval '3 days'),
           ('counter.view-batches', 'new-batch', now()),
           ('counter.article-state', 'old-article', now() - interval '3 days')"""
    )
    keeper = SaltKeeper(pool)
    await tasks.maintain(pool, keeper, lambda: NOW)()

    salt_days = [r["day"] for r in await pool.fetch("SELECT day FROM daily_salts ORDER BY day")]
    assert min(salt_days) == TODAY - timedelta(days=1)
    assert TODAY in salt_days and TODAY + timedelta(days=1) in salt_days
    key_days = await pool.fetch("SELECT day FROM view_keys WHERE article_id = 41 ORDER BY day")
    assert [r["day"] for r in key_days] == [TODAY - timedelta(days=1), TODAY]
    handled = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM handled_events")}
    assert {"new-batch", "old-article"} <= handled and "old-batch" not in handled
    # Tomorrow's salt is cached: midnight needs no query on the request path.
    tomorrow = TODAY + timedelta(days=1)
    assert keeper.cached(tomorrow) == await salt_via_new_connection(pool, tomorrow)
