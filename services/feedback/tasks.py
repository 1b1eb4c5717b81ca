"""Background work every feedback instance runs: deleting the e-mail and phone of cases
closed longer ago than FEEDBACK_CONTACT_RETENTION_DAYS, in batches (actions.erase_old_contacts;
instances running it at once skip each other's rows)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from services.feedback import actions

# About once an hour: a contact kept an hour past its day harms nobody.
RETENTION_INTERVAL_SECONDS = 3600.0
RETENTION_BATCH = 500


def retention_round(pool: asyncpg.Pool, days: int) -> Callable[[], Awaitable[None]]:
    """Erase, batch after batch, the contacts of cases closed more than `days` ago."""

    async def job() -> None:
        closed_before = datetime.now(UTC) - timedelta(days=days)
        while await actions.erase_old_contacts(pool, closed_before, RETENTION_BATCH):
            pass

    return job
