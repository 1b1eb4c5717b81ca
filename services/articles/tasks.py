"""Background work every articles instance runs: the scheduler, which publishes scheduled
articles at their time, expires published ones at their end time and empties the trash.

Instances run it at once without doing anything twice: each article is claimed with
FOR UPDATE SKIP LOCKED and changed in its own transaction (actions.publish_next_due).
Nothing waits for a visit, and an article whose time passed while no instance ran is
published on the first round after the start.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

import asyncpg

from services.articles import actions
from services.common import db

log = logging.getLogger(__name__)

# The trash is emptied about once an hour: a day's lateness there harms nobody.
PURGE_EVERY_ROUNDS = 3600


class Scheduler:
    """Runs a round now and then every `interval` seconds until stopped; a failure is
    logged and the next round tries again."""

    def __init__(self, pool: asyncpg.Pool, interval: float) -> None:
        self._pool = pool
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="articles-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        rounds = 0
        while True:
            try:
                await self.round(purge=rounds % PURGE_EVERY_ROUNDS == 0)
            except (*db.UNAVAILABLE_ERRORS, asyncpg.PostgresError) as exc:
                log.warning("scheduler: database unavailable or busy (%s)", exc)
            except Exception:
                log.exception("scheduler round failed")
            rounds += 1
            await asyncio.sleep(self._interval)

    async def round(self, *, purge: bool = False) -> None:
        """Publish every due article, expire every ended one, and maybe empty the trash."""
        while await actions.publish_next_due(self._pool):
            pass
        while await actions.expire_next(self._pool):
            pass
        if purge:
            purged = await actions.purge_trash(self._pool)
            if purged:
                log.info("scheduler: %d articles purged from the trash", purged)
