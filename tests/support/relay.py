"""A window on an OutboxRelay for tests that must know when it is idle: when it has caught
up after (re)connecting its LISTEN and waits for a NOTIFY with no wake-up pending. It uses
the relay's private wake-up event and catch-up hook; install it before `start`."""

from __future__ import annotations

import asyncio
from typing import Literal

from services.common.events.relay import OutboxRelay


class WatchedWake(asyncio.Event):
    """The relay's wake-up event, counting each wake-up and remembering whether the relay
    waits on it now and how many wake-ups it had had when it began to."""

    def __init__(self) -> None:
        super().__init__()
        self.sets = 0
        self.sets_seen = -1
        self.waiting = False

    def set(self) -> None:
        self.sets += 1
        super().set()

    async def wait(self) -> Literal[True]:
        self.sets_seen = self.sets
        self.waiting = True
        try:
            return await super().wait()
        finally:
            self.waiting = False


class RelayWatch:
    def __init__(self, relay: OutboxRelay) -> None:
        self.wake = WatchedWake()
        self.catch_ups = 0
        catch_up = relay._catch_up

        async def counted_catch_up() -> None:
            self.catch_ups += 1
            await catch_up()

        relay._wake = self.wake
        relay._catch_up = counted_catch_up  # type: ignore[method-assign]

    def idle_after(self, catch_ups: int) -> bool:
        """Whether the relay has caught up `catch_ups` times in all (once per LISTEN
        connection) and now waits, every wake-up so far handled."""
        wake = self.wake
        return (
            self.catch_ups >= catch_ups
            and wake.waiting
            and not wake.is_set()
            and wake.sets_seen == wake.sets
        )
