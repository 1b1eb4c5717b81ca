"""A job every service process runs now and then (the counter's views.counted round, the
articles scheduler), surviving its own failures: one broken round must not stop the next."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

import asyncpg

from services.common import db

log = logging.getLogger(__name__)


class Periodic:
    """Runs `job` now and then every `interval` seconds until stopped; a failure is logged
    and the next round tries again."""

    def __init__(self, name: str, interval: float, job: Callable[[], Awaitable[None]]) -> None:
        self.name = name
        self._interval = interval
        self._job = job
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._job()
            except (*db.UNAVAILABLE_ERRORS, asyncpg.PostgresError) as exc:
                log.warning("%s: database unavailable or busy (%s)", self.name, exc)
            except Exception:
                log.exception("%s failed", self.name)
            await asyncio.sleep(self._interval)
