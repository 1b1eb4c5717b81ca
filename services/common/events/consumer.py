"""Consuming events: idempotent, ordered by version, acknowledged after commit (DESIGN rule 3).

Each message is handled in one transaction that also records (consumer, event id), so a
redelivery changes nothing, and the highest data.version per item, so an older version
arriving late is ignored. The message is acknowledged only after that commit. A handler
that fails is retried a bounded number of times with back-off, then the message is parked
on the queue's dead-letter queue with the reason, while other messages go on being
handled (up to `prefetch` at once). A database outage is not the message's fault: it is
retried until the database is back and never counts against the message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from datetime import UTC, datetime

import aio_pika
import asyncpg
from aio_pika.abc import (
    AbstractChannel,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from services.common import db
from services.common.events.broker import PUBLISH_TIMEOUT, persistent_copy
from services.common.events.envelope import CloudEvent, MalformedEvent
from services.common.events.schemas import EventSchemaError, validate
from services.common.events.topology import DEAD_EXCHANGE
from services.common.metrics import EVENTS_CONSUMED, HANDLER_FAILURES

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, CloudEvent], Awaitable[None]]

MAX_ATTEMPTS = 5
SHUTDOWN_GRACE_SECONDS = 10.0


def retry_delay(attempt: int) -> float:
    """Back-off before try number attempt + 1 (0.2 s, 0.4 s, 0.8 s ... at most 5 s)."""
    return float(min(5.0, 0.2 * 2 ** (attempt - 1)))


class Consumer:
    def __init__(
        self,
        queue: str,
        pool: asyncpg.Pool,
        connection: AbstractRobustConnection,
        handlers: Mapping[str, Handler],
        *,
        prefetch: int = 20,
        max_attempts: int = MAX_ATTEMPTS,
        versioned: bool = True,
    ) -> None:
        self.name = queue
        self._pool = pool
        self._connection = connection
        self._handlers = dict(handlers)
        self._prefetch = prefetch
        self._max_attempts = max_attempts
        # False for messages that are not versions of an item (a batch of views): their
        # handler is idempotent on its own and every one of them must be applied.
        self._versioned = versioned
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._in_flight: set[asyncio.Task[object]] = set()
        self._stopping = False

    async def start(self) -> None:
        # Parking publishes `mandatory` with confirms: a parking queue that is gone or full
        # makes the publish raise (returned or nacked), and the message is requeued, not
        # acked and lost.
        self._channel = await self._connection.channel(
            publisher_confirms=True, on_return_raises=True
        )
        await self._channel.set_qos(prefetch_count=self._prefetch)
        # The topology step declared the queue; keep the reference so that the robust
        # channel re-consumes it after a reconnect.
        self._queue = await self._channel.get_queue(self.name, ensure=True)
        self._tag = await self._queue.consume(self._on_message)

    async def stop(self) -> None:
        """Stop taking messages, let those in hand finish (and ack), then close."""
        self._stopping = True
        if self._queue is not None and self._tag is not None:
            with suppress(Exception):
                await self._queue.cancel(self._tag)
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=SHUTDOWN_GRACE_SECONDS)
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            await self._process(message)
        finally:
            self._in_flight.discard(task)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        try:
            event = CloudEvent.from_json(message.body)
            validate(event.to_dict())
        except (MalformedEvent, EventSchemaError) as exc:
            await self._park(message, f"invalid event: {exc}", attempts=0)
            return
        handler = self._handlers.get(event.type)
        if handler is None:
            await self._park(message, f"no handler for {event.type} on {self.name}", attempts=0)
            return
        attempt = 0
        while True:
            try:
                outcome = await self._handle(event, handler)
            except db.UNAVAILABLE_ERRORS as exc:
                if self._stopping:
                    await message.nack(requeue=True)
                    return
                log.warning("%s: database unavailable (%s); waiting", self.name, exc)
                await asyncio.sleep(1)
                continue
            except Exception as exc:
                attempt += 1
                HANDLER_FAILURES.labels(self.name).inc()
                log.warning(
                    "%s: handler failed",
                    self.name,
                    extra={"event_id": event.id, "event_type": event.type, "attempt": attempt},
                    exc_info=True,
                )
                if attempt >= self._max_attempts:
                    await self._park(message, f"{type(exc).__name__}: {exc}", attempts=attempt)
                    return
                await asyncio.sleep(retry_delay(attempt))
                continue
            await message.ack()
            EVENTS_CONSUMED.labels(self.name, outcome).inc()
            return

    async def _handle(self, event: CloudEvent, handler: Handler) -> str:
        async with db.acquire(self._pool) as conn, conn.transaction():
            first_time = await conn.fetchval(
                """INSERT INTO handled_events (consumer, event_id) VALUES ($1, $2)
                   ON CONFLICT DO NOTHING RETURNING true""",
                self.name,
                event.id,
            )
            if not first_time:
                return "duplicate"
            if self._versioned and not await self._is_newer(conn, event):
                return "stale"
            await handler(conn, event)
        return "handled"

    async def _is_newer(self, conn: asyncpg.Connection, event: CloudEvent) -> bool:
        """Record the event's version for its item; False if a newer one was applied."""
        return bool(
            await conn.fetchval(
                """INSERT INTO event_versions (consumer, entity, subject, version)
                   VALUES ($1, $2, $3, $4)
                   ON CONFLICT (consumer, entity, subject) DO UPDATE
                      SET version = EXCLUDED.version
                    WHERE event_versions.version < EXCLUDED.version
                   RETURNING true""",
                self.name,
                event.entity,
                event.subject,
                event.version,
            )
        )

    async def _park(self, message: AbstractIncomingMessage, reason: str, attempts: int) -> None:
        """Move the message to <queue>.dead with the reason, then ack it here."""
        log.error(
            "%s: message parked on the dead-letter queue",
            self.name,
            extra={"message_id": message.message_id, "reason": reason[:500]},
        )
        assert self._channel is not None
        dead = await self._channel.get_exchange(DEAD_EXCHANGE, ensure=False)
        headers = dict(message.headers or {})
        headers.update(
            {
                "x-bantin-reason": reason[:1000],
                "x-bantin-attempts": attempts,
                "x-bantin-consumer": self.name,
                "x-bantin-parked-at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        parked = persistent_copy(message, headers)
        try:
            await asyncio.wait_for(
                dead.publish(parked, routing_key=self.name, mandatory=True), PUBLISH_TIMEOUT
            )
        except (TimeoutError, aio_pika.exceptions.AMQPError, ConnectionError) as exc:
            # Not parked: give it back to the queue to be tried again later (the broker's
            # delivery limit dead-letters it in the end), rather than hold it unacked.
            log.warning("%s: could not park a message (%s); requeued", self.name, exc)
            with suppress(aio_pika.exceptions.AMQPError, ConnectionError):
                await message.nack(requeue=True)
            return
        await message.ack()
        EVENTS_CONSUMED.labels(self.name, "parked").inc()
