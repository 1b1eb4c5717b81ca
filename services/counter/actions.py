"""The counter's state changes that write the outbox or follow a rule: each is one
transaction."""

from __future__ import annotations

from datetime import date

import asyncpg

from services.common.events.outbox import write_event
from services.counter import events, store


async def write_counts(conn: asyncpg.Connection, today: date, limit: int) -> int:
    """Write a views.counted to the outbox for up to `limit` articles whose totals changed,
    in the transaction that clears their changed mark. Rows are claimed with SKIP LOCKED,
    so instances doing this at once never write the same change twice. Returns how many."""
    async with conn.transaction():
        rows = await store.claim_changed_totals(conn, today, limit)
        for row in rows:
            await write_event(conn, events.VIEWS_COUNTED, events.views_counted(row, today))
    return len(rows)


async def set_imported(conn: asyncpg.Connection, article_id: int, total: int) -> None:
    """Set the starting total carried over from an earlier system; the new total goes out
    as views.counted with the next round of write_counts."""
    async with conn.transaction():
        await store.set_imported(conn, article_id, total)


async def refresh_windows(conn: asyncpg.Connection, today: date) -> int:
    """The day's one refresh of the period sums (store.refresh_windows), in a transaction."""
    async with conn.transaction():
        return await store.refresh_windows(conn, today)
