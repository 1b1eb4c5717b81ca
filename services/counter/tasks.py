"""Background work every counter instance runs: publishing changed totals as views.counted
(about once a second) and the maintenance that makes tomorrow's salt and deletes old
salts, keys and handled batch ids."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date, timedelta

import asyncpg

from services.common import db
from services.common.vietnam import vn_day
from services.counter import actions, events, store
from services.counter.domain import KEEP_DAYS, Clock, oldest_kept_day
from services.counter.salts import SaltKeeper

log = logging.getLogger(__name__)

COUNTS_BATCH = 500
KEYS_CHUNK = 10_000


def publish_counts(pool: asyncpg.Pool, clock: Clock) -> Callable[[], Awaitable[None]]:
    """views.counted for every article whose totals changed, a batch at a time; instances
    running this at once never publish the same change twice (actions.write_counts). The
    first round of a day marks the articles viewed in the 30 days before, so their period
    sums are published again without the day that left the window."""

    refreshed: list[date] = []  # the last day this instance refreshed the windows of

    async def job() -> None:
        today = vn_day(clock())
        if today not in refreshed:
            async with db.acquire(pool) as conn:
                marked = await actions.refresh_windows(conn, today)
            refreshed[:] = [today]
            if marked:
                log.info("a new day: 7- and 30-day sums republished", extra={"articles": marked})
        while True:
            async with db.acquire(pool) as conn:
                written = await actions.write_counts(conn, today, COUNTS_BATCH)
            if written < COUNTS_BATCH:
                return

    return job


def maintain(pool: asyncpg.Pool, salts: SaltKeeper, clock: Clock) -> Callable[[], Awaitable[None]]:
    """Today's and tomorrow's salts exist (so midnight needs no query on the request path);
    salts, keys and handled batch ids older than two days are deleted."""

    async def job() -> None:
        today = vn_day(clock())
        oldest = oldest_kept_day(today)
        await salts.salt_for(today)
        await salts.salt_for(today + timedelta(days=1))
        salts.forget_before(oldest)
        async with db.acquire(pool) as conn:
            dropped_salts = await store.delete_salts_before(conn, oldest)
            dropped_keys = 0
            while (chunk := await store.delete_keys_before(conn, oldest, KEYS_CHUNK)) > 0:
                dropped_keys += chunk
                if chunk < KEYS_CHUNK:
                    break
            while await store.delete_address_keys_before(conn, oldest, KEYS_CHUNK) == KEYS_CHUNK:
                pass
            await store.delete_handled_before(conn, events.VIEW_BATCHES_QUEUE, KEEP_DAYS)
        if dropped_salts or dropped_keys:
            log.info(
                "old salts and keys deleted", extra={"salts": dropped_salts, "keys": dropped_keys}
            )

    return job
