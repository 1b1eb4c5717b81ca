"""Keeps the event tables from growing without end: sent outbox rows and the inbox of
handled event ids are kept for a while (to look into what happened, and to drop late
redeliveries), then deleted. Unsent outbox rows are never touched."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

import asyncpg

from services.common import db

log = logging.getLogger(__name__)

SENT_OUTBOX_DAYS = 7
# Far longer than any redelivery can come late; older versions are still refused by
# event_versions, which is never pruned.
HANDLED_EVENTS_DAYS = 30
INTERVAL_SECONDS = 3600
BATCH = 5000


async def prune(pool: asyncpg.Pool) -> tuple[int, int]:
    """Delete what is past keeping; returns (outbox rows, inbox rows) deleted."""
    outbox = await _delete_in_batches(
        pool,
        """DELETE FROM outbox WHERE id IN (
               SELECT id FROM outbox
                WHERE sent_at < now() - make_interval(days => $1) LIMIT $2)""",
        SENT_OUTBOX_DAYS,
    )
    inbox = await _delete_in_batches(
        pool,
        """DELETE FROM handled_events WHERE (consumer, event_id) IN (
               SELECT consumer, event_id FROM handled_events
                WHERE handled_at < now() - make_interval(days => $1) LIMIT $2)""",
        HANDLED_EVENTS_DAYS,
    )
    return outbox, inbox


async def _delete_in_batches(pool: asyncpg.Pool, sql: str, days: int) -> int:
    # Small batches: no long lock on tables the relay and consumers are using.
    total = 0
    while True:
        status = await pool.execute(sql, days, BATCH, timeout=db.COMMAND_TIMEOUT)
        deleted = int(status.split()[-1])
        total += deleted
        if deleted < BATCH:
            return total


async def run_periodically(pool: asyncpg.Pool, interval: float = INTERVAL_SECONDS) -> None:
    while True:
        try:
            outbox, inbox = await prune(pool)
            if outbox or inbox:
                log.info("event tables pruned", extra={"outbox": outbox, "inbox": inbox})
        except Exception:
            log.exception("pruning the event tables failed; trying again later")
        await asyncio.sleep(interval)


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
