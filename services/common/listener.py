"""A Postgres LISTEN that lasts: a dedicated connection (a pooled one loses its LISTEN
when it goes back to the pool) that reconnects after any failure. NOTIFY is only a
doorbell, so after every (re)connect the caller catches up on what changed while nobody
listened."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from services.common import db

log = logging.getLogger(__name__)

MAX_RETRY_SECONDS = 30.0

OnNotify = Callable[[asyncpg.Connection, int, str, str], None]
OnConnected = Callable[[], Awaitable[None]]


def retry_delay(failures: int, base: float) -> float:
    """Doubling from `base` with each failure in a row, at most MAX_RETRY_SECONDS."""
    return min(MAX_RETRY_SECONDS, base * 2 ** max(0, min(failures - 1, 16)))


async def listen_until_lost(
    dsn: str, channel_suffix: str, on_notify: OnNotify, on_connected: OnConnected
) -> None:
    """LISTEN on `<schema>_<suffix>` (channels are named after the role's schema, so
    services sharing the database hear only their own) until the connection drops."""
    conn = await db.connect(dsn)
    try:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        schema = await conn.fetchval("SELECT current_schema()")
        await conn.add_listener(f"{schema}_{channel_suffix}", on_notify)
        await on_connected()
        await lost.wait()
    finally:
        if not conn.is_closed():
            conn.terminate()


async def listen_forever(
    dsn: str,
    channel_suffix: str,
    on_notify: OnNotify,
    on_connected: OnConnected,
    what: str,
    retry_seconds: float = 1.0,
) -> None:
    """Run until cancelled; whatever fails, reconnect (a loop that ended would leave its
    owner deaf, silently, until the process restarts)."""
    failures = 0
    while True:
        try:
            await listen_until_lost(dsn, channel_suffix, on_notify, on_connected)
            log.warning("%s: LISTEN connection lost; reconnecting", what)
            failures = 0
        except (*db.UNAVAILABLE_ERRORS, asyncpg.PostgresError) as exc:
            failures += 1
            log.warning("%s: cannot LISTEN (%s); retrying", what, exc)
        except Exception:
            failures += 1
            log.exception("%s: LISTEN failed unexpectedly; retrying", what)
        await asyncio.sleep(retry_delay(failures, retry_seconds))
