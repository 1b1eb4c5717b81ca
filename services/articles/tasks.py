"""Background work every articles instance runs: the scheduler, which publishes scheduled
articles at their time, expires published ones at their end time and empties the trash.

Instances run it at once without doing anything twice: each article is claimed with
FOR UPDATE SKIP LOCKED and changed in its own transaction (actions.publish_next_due).
Nothing waits for a visit, and an article whose time passed while no instance ran is
published on the first round after the start.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg

from services.articles import actions

log = logging.getLogger(__name__)

# The trash is emptied about once an hour: a day's lateness there harms nobody.
PURGE_INTERVAL_SECONDS = 3600.0


def schedule_round(pool: asyncpg.Pool) -> Callable[[], Awaitable[None]]:
    """Publish every due article, then expire every ended one."""

    async def job() -> None:
        while await actions.publish_next_due(pool):
            pass
        while await actions.expire_next(pool):
            pass

    return job


def purge_round(pool: asyncpg.Pool) -> Callable[[], Awaitable[None]]:
    """Delete for good what has been in the trash for longer than it is kept."""

    async def job() -> None:
        purged = await actions.purge_trash(pool)
        if purged:
            log.info("scheduler: %d articles purged from the trash", purged)

    return job
