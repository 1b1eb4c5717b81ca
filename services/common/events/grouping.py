"""A consumer that handles several messages of a queue in one transaction (one commit for
many), for a queue whose every message is applied and whose handler is idempotent on its
own (the counter's views.batch: its view keys make a second delivery count nothing).

Messages are read and checked one by one as the plain consumer does: one that no handler
may see is parked at once, alone. The others wait in a group: a group goes when it holds
`max_messages`, or `window` seconds after its first message arrived. One group is handled
at a time, in the order the messages were delivered (the next one gathers meanwhile, so
the queue's prefetch is twice a group), in one transaction that records every event id in
handled_events (a redelivered event finds its row and is left out) and hands the group's
new events to the group handler. Every message of the group is acknowledged only after
that commit. If the transaction fails, nothing of it was applied and none of its messages
is acknowledged: each is then handled alone by the plain consumer's path (its own
transaction, retries, parking), so a message that keeps failing is parked alone while the
others are counted. A database outage is waited out, the group kept whole.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from enum import Enum

import aio_pika
import asyncpg
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection

from services.common import db
from services.common.events.consumer import (
    MAX_ATTEMPTS,
    Consumer,
    Handler,
    Unacceptable,
    failure_reason,
)
from services.common.events.envelope import CloudEvent
from services.common.metrics import EVENTS_CONSUMED

log = logging.getLogger(__name__)

GroupHandler = Callable[[asyncpg.Connection, Sequence[CloudEvent]], Awaitable[None]]


@dataclass(frozen=True)
class Grouping:
    """How a queue's messages are handled together: `handler` applies a group's events
    (those not handled before) in the caller's transaction; a group holds at most
    `max_messages`, gathered for at most `window` seconds."""

    handler: GroupHandler
    max_messages: int = 20
    window: float = 0.01


class Outcome(Enum):
    HANDLED = "handled"
    DUPLICATE = "duplicate"
    ALONE = "alone"  # the group failed: handle the message by itself
    REQUEUED = "requeued"  # stopping during a database outage: given back


@dataclass
class _Waiting:
    message: AbstractIncomingMessage
    event: CloudEvent
    arrived: float
    outcome: asyncio.Future[Outcome]


class GroupingConsumer(Consumer):
    def __init__(
        self,
        queue: str,
        pool: asyncpg.Pool,
        connection: AbstractRobustConnection,
        handlers: Mapping[str, Handler],
        grouping: Grouping,
        *,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        super().__init__(
            queue,
            pool,
            connection,
            handlers,
            prefetch=2 * grouping.max_messages,
            max_attempts=max_attempts,
            versioned=False,
        )
        self._grouping = grouping
        self._waiting: list[_Waiting] = []
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name=f"{self.name}-groups")
        await super().start()

    async def stop(self) -> None:
        """Stop taking messages, let the groups in hand finish (and ack), then close."""
        await super().stop()
        if self._runner is not None:
            self._runner.cancel()
            with suppress(asyncio.CancelledError):
                await self._runner
        # Any still waiting (the grace ran out) went back to the queue with the channel.
        for waiting in self._waiting:
            if not waiting.outcome.done():
                waiting.outcome.set_result(Outcome.REQUEUED)
        self._waiting.clear()

    async def _process(self, message: AbstractIncomingMessage) -> None:
        try:
            event = self._read(message)
        except Unacceptable as exc:
            await self._park(message, str(exc), attempts=0)
            return
        waiting = _Waiting(
            message, event, time.monotonic(), asyncio.get_running_loop().create_future()
        )
        self._waiting.append(waiting)
        self._arrived.set()
        if len(self._waiting) >= self._grouping.max_messages:
            self._full.set()
        outcome = await waiting.outcome
        if outcome is Outcome.ALONE:
            await super()._process(message)
        elif outcome is not Outcome.REQUEUED:
            await message.ack()
            EVENTS_CONSUMED.labels(self.name, outcome.value).inc()

    async def _run(self) -> None:
        """Handle the waiting messages a group at a time, for as long as the consumer runs."""
        while True:
            await self._arrived.wait()
            first = self._waiting[0].arrived
            remaining = first + self._grouping.window - time.monotonic()
            if remaining > 0 and len(self._waiting) < self._grouping.max_messages:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), remaining)
            group = self._waiting[: self._grouping.max_messages]
            del self._waiting[: self._grouping.max_messages]
            if len(self._waiting) < self._grouping.max_messages:
                self._full.clear()
            if not self._waiting:
                self._arrived.clear()
            await self._apply_group(group)

    async def _apply_group(self, group: list[_Waiting]) -> None:
        outcomes: list[Outcome]
        while True:
            try:
                outcomes = await self._handle_group([w.event for w in group])
                break
            except db.UNAVAILABLE_ERRORS as exc:
                if self._stopping:
                    for w in group:
                        with suppress(aio_pika.exceptions.AMQPError, ConnectionError):
                            await w.message.nack(requeue=True)
                    outcomes = [Outcome.REQUEUED] * len(group)
                    break
                log.warning("%s: database unavailable (%s); waiting", self.name, exc)
                await asyncio.sleep(1)
            except Exception as exc:
                # Nothing of the group was applied; each message is tried alone, so that
                # one that keeps failing is parked alone and the others are counted.
                log.warning(
                    "%s: a group of %d failed; each is handled alone",
                    self.name,
                    len(group),
                    extra={"error": failure_reason(exc)},
                    exc_info=not isinstance(exc, asyncpg.PostgresError),
                )
                outcomes = [Outcome.ALONE] * len(group)
                break
        for w, outcome in zip(group, outcomes, strict=True):
            if not w.outcome.done():
                w.outcome.set_result(outcome)

    async def _handle_group(self, events: list[CloudEvent]) -> list[Outcome]:
        """One transaction: record the events' ids, apply those never handled before.
        Returns each delivery's outcome, in order: DUPLICATE for an event handled before,
        or delivered twice within the group (its second copy)."""
        distinct = list(dict.fromkeys(event.id for event in events))
        async with db.acquire(self._pool) as conn, conn.transaction():
            rows = await conn.fetch(
                """INSERT INTO handled_events (consumer, event_id)
                   SELECT $1, unnest($2::text[])
                   ON CONFLICT DO NOTHING RETURNING event_id""",
                self.name,
                distinct,
            )
            first_time = {r["event_id"] for r in rows}
            new: dict[str, CloudEvent] = {}
            for event in events:
                if event.id in first_time:
                    new.setdefault(event.id, event)
            if new:
                await self._grouping.handler(conn, list(new.values()))
        outcomes = []
        taken: set[str] = set()
        for event in events:
            handled = event.id in first_time and event.id not in taken
            taken.add(event.id)
            outcomes.append(Outcome.HANDLED if handled else Outcome.DUPLICATE)
        return outcomes
