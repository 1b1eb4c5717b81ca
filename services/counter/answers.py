"""A short-lived cache of the counts API's heavier answers (most read, per-day series): a
burst of requests costs the shared database one query per answer every few seconds."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

# Counts change about once a second; a few seconds of staleness costs nobody anything.
TTL_SECONDS = 5.0
# Distinct answers kept at most (article series are many): the oldest go first.
MAX_ENTRIES = 2048


class ShortCache:
    """Answers by key, each kept `ttl` seconds; at most `max_entries` of them."""

    def __init__(
        self,
        ttl: float = TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}

    async def get(self, key: Hashable, compute: Callable[[], Awaitable[Any]]) -> Any:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = await compute()
        self._entries.pop(key, None)
        while len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]  # dicts keep insertion order
        self._entries[key] = (now + self._ttl, value)
        return value
