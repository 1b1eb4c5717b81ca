"""The daily salts of the view keys, read from (or made in) the counter schema once a day
per instance: the request path reads them from memory."""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg

from services.common import db
from services.counter import store


class SaltKeeper:
    """Each day's salt, read from (or made in) the counter schema once and cached."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._salts: dict[date, bytes] = {}
        self._lock = asyncio.Lock()

    async def salt_for(self, day: date) -> bytes:
        salt = self._salts.get(day)
        if salt is not None:
            return salt
        async with self._lock:  # at midnight, one query, not one per waiting request
            if day not in self._salts:
                async with db.acquire(self._pool) as conn:
                    self._salts[day] = await store.daily_salt(conn, day)
            return self._salts[day]

    def cached(self, day: date) -> bytes | None:
        return self._salts.get(day)

    def forget_before(self, day: date) -> None:
        for old in [d for d in self._salts if d < day]:
            del self._salts[old]
