"""Consuming events: idempotent, ordered by version, acknowledged after commit (DESIGN rule 3).

Each message is handled in one transaction that also records (consumer, event id), so a
redelivery changes nothing, and the highest data.version per item, so an older version
arriving late is ignored. The message is acknowledged only after that commit. A handler
that fails is retried a bounded number of times with back-off, then the message is parked
on the queue's dead-letter queue with the reason, while other messages go on being
handled (up to `prefetch` at once). A database outage is not the message's fault: it is
retried until the database is back and never counts against the message.

Whatever arrives, a consumer goes on: a message that is too large, not JSON, not a
CloudEvent, against its schema, of a type nobody here handles, or from a service that
does not publish that type (a forged source) is parked at once with the reason. A reason
(and the log) never quotes a failed query or the event's values: a database error is told
by its class and SQLSTATE, a schema error by the field and the rule it breaks. A message
that cannot be parked (the parking queue gone or full) is requeued, never acked and lost.
When an item is erased (feedback.withdrawn), its parked copies are erased too.
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
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from services.common import db
from services.common.events.broker import PUBLISH_TIMEOUT, persistent_copy
from services.common.events.envelope import CloudEvent, MalformedEvent, source_for
from services.common.events.schemas import EventSchemaError, validate
from services.common.events.topology import DEAD_EXCHANGE
from services.common.metrics import EVENTS_CONSUMED, HANDLER_FAILURES

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, CloudEvent], Awaitable[None]]

MAX_ATTEMPTS = 5
SHUTDOWN_GRACE_SECONDS = 10.0
# The largest event taken (a views.batch of 5,000 views is about 0.5 MB); a larger message
# is parked unread.
MAX_EVENT_BYTES = 1024 * 1024
# Pause before a message that could not be parked goes back to the queue, so that a
# parking queue that is gone or full is not hammered.
PARK_RETRY_SECONDS = 1.0
# Event types that erase their item: once one is handled, every parked copy of the same
# item is deleted from the parking queue (a parked feedback.approved holds a reader's name
# and words).
ERASING_TYPES = frozenset({"feedback.withdrawn"})
# At most this many parked messages are looked at for copies of an erased item.
ERASE_SCAN_LIMIT = 10_000
# What makes an erasure fail for now (broker or database away): the event is retried.
ERASE_FAILURES: tuple[type[BaseException], ...] = (
    aio_pika.exceptions.AMQPError,
    ConnectionError,
    *db.UNAVAILABLE_ERRORS,
)


class Unacceptable(Exception):
    """A message no handler may see (its reason says why); retrying cannot help."""


def failure_reason(exc: BaseException) -> str:
    """What a park reason and the log say of a handler's failure. A database error's text
    can quote the values of the failed query (a reader's name, a feedback's words), so it
    is told by its class, SQLSTATE and the names of what it concerns, never its text."""
    name = type(exc).__name__
    if not isinstance(exc, asyncpg.PostgresError):
        return f"{name}: {exc}"
    concerns = [
        f"{what} {value}"
        for what in ("table", "column", "constraint")
        if (value := getattr(exc, f"{what}_name", None))
    ]
    return ", ".join([f"{name}: SQLSTATE {exc.sqlstate}", *concerns])


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
        self._parking: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self._tag: str | None = None
        self._in_flight: set[asyncio.Task[object]] = set()
        self._stopping = False

    async def start(self) -> None:
        self._channel = await self._connection.channel(publisher_confirms=True)
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
        for channel in (self._parking, self._channel):
            if channel is not None and not channel.is_closed:
                await channel.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            await self._process(message)
        finally:
            self._in_flight.discard(task)

    def _read(self, message: AbstractIncomingMessage) -> CloudEvent:
        """The message's event, checked; Unacceptable (with the reason) if it is none."""
        if len(message.body) > MAX_EVENT_BYTES:
            raise Unacceptable(f"too large: {len(message.body)} bytes (at most {MAX_EVENT_BYTES})")
        try:
            event = CloudEvent.from_json(message.body)
            validate(event.to_dict())
        except MalformedEvent as exc:
            raise Unacceptable(f"invalid event: {exc}") from exc
        except EventSchemaError as exc:
            raise Unacceptable(f"invalid event: {exc.redacted}") from exc
        try:
            publisher = source_for(event.type)
        except KeyError:
            publisher = "no service"
        if event.source != publisher:
            raise Unacceptable(
                f"forged source: {event.type} comes from {publisher}, not {event.source}"
            )
        if event.type not in self._handlers:
            raise Unacceptable(f"no handler for {event.type} on {self.name}")
        return event

    async def _process(self, message: AbstractIncomingMessage) -> None:
        try:
            event = self._read(message)
        except Unacceptable as exc:
            await self._park(message, str(exc), attempts=0)
            return
        handler = self._handlers[event.type]
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
                reason = failure_reason(exc)
                log.warning(
                    "%s: handler failed",
                    self.name,
                    extra={
                        "event_id": event.id,
                        "event_type": event.type,
                        "attempt": attempt,
                        "error": reason,
                    },
                    # A traceback ends with the error's text: not for a database error.
                    exc_info=not isinstance(exc, asyncpg.PostgresError),
                )
                if attempt >= self._max_attempts:
                    if await self._superseded(event):
                        await message.ack()  # a newer version (a withdrawal) came meanwhile
                        EVENTS_CONSUMED.labels(self.name, "stale").inc()
                    else:
                        await self._park(message, reason, attempts=attempt)
                    return
                await asyncio.sleep(retry_delay(attempt))
                continue
            if event.type in ERASING_TYPES and not await self._erase_parked(message, event):
                return
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

    async def _superseded(self, event: CloudEvent) -> bool:
        """Whether this or a newer version of the event's item has been applied (it failed
        meanwhile): then the failed copy is obsolete and is not parked."""
        if not self._versioned:
            return False
        try:
            latest = await self._pool.fetchval(
                """SELECT version FROM event_versions
                    WHERE consumer = $1 AND entity = $2 AND subject = $3""",
                self.name,
                event.entity,
                event.subject,
            )
        except (asyncpg.PostgresError, *db.UNAVAILABLE_ERRORS):
            return False
        return latest is not None and latest >= event.version

    async def _erase_parked(self, message: AbstractIncomingMessage, event: CloudEvent) -> bool:
        """Delete the parked copies of `event`'s item from <queue>.dead, before the event is
        acked (redelivered, it erases again). False if that failed: the event was requeued.

        Each parked message is taken once and held: the item's copies are acked (deleted),
        the others go back when the channel closes. Scans of the same queue take turns
        (an advisory lock in the shared database), so that none misses a copy another
        holds; a listing by `redrive` meanwhile can still hide one from it."""
        try:
            async with db.acquire(self._pool) as conn, conn.transaction():
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", f"parked:{self.name}"
                )
                erased = await self._erase_copies(event)
        except ERASE_FAILURES as exc:
            log.warning("%s: could not erase parked copies (%s); requeued", self.name, exc)
            await asyncio.sleep(PARK_RETRY_SECONDS)
            with suppress(aio_pika.exceptions.AMQPError, ConnectionError):
                await message.nack(requeue=True)
            return False
        if erased:
            log.info(
                "%s: parked copies of an erased item deleted",
                self.name,
                extra={"event_id": event.id, "event_type": event.type, "erased": erased},
            )
        return True

    async def _erase_copies(self, event: CloudEvent) -> int:
        erased = 0
        channel = await self._connection.channel()
        try:
            parked = await channel.declare_queue(f"{self.name}.dead", passive=True)
            waiting = parked.declaration_result.message_count or 0
            for _ in range(min(waiting, ERASE_SCAN_LIMIT)):
                copy = await parked.get(fail=False)
                if copy is None:
                    break
                if _about(copy.body, event.entity, event.subject):
                    await copy.ack()
                    erased += 1
                # Any other is held unacked (not kept here) and goes back on close.
        except aio_pika.exceptions.ChannelNotFoundEntity:
            pass  # no parking queue: nothing parked
        finally:
            if not channel.is_closed:
                await channel.close()
        return erased

    async def _parking_exchange(self) -> AbstractExchange:
        """The dead-letter exchange on the parking channel: publishes are `mandatory` with
        confirms, so a parking queue that is gone or full makes them raise (returned or
        nacked) and the message is requeued, not acked and lost."""
        if self._parking is None or self._parking.is_closed:
            self._parking = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
        return await self._parking.get_exchange(DEAD_EXCHANGE, ensure=False)

    async def _park(self, message: AbstractIncomingMessage, reason: str, attempts: int) -> None:
        """Move the message to <queue>.dead with the reason, then ack it here."""
        log.error(
            "%s: message parked on the dead-letter queue",
            self.name,
            extra={"message_id": message.message_id, "reason": reason[:500]},
        )
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
            dead = await self._parking_exchange()
            await asyncio.wait_for(
                dead.publish(parked, routing_key=self.name, mandatory=True), PUBLISH_TIMEOUT
            )
        except (TimeoutError, aio_pika.exceptions.AMQPError, ConnectionError) as exc:
            # Not parked: give it back to the queue to be tried again later (the broker's
            # delivery limit dead-letters it in the end, at least once), rather than hold
            # it unacked. The next try parks through a new channel: a full quorum queue
            # keeps refusing a channel it refused even once its limit is lifted (found on
            # RabbitMQ 3.10 by tests/integration/test_parking.py).
            log.warning("%s: could not park a message (%s); requeued", self.name, exc)
            with suppress(aio_pika.exceptions.AMQPError, ConnectionError):
                if self._parking is not None and not self._parking.is_closed:
                    await self._parking.close()
            await asyncio.sleep(PARK_RETRY_SECONDS)
            with suppress(aio_pika.exceptions.AMQPError, ConnectionError):
                await message.nack(requeue=True)
            return
        await message.ack()
        EVENTS_CONSUMED.labels(self.name, "parked").inc()


def _about(body: bytes, entity: str, subject: str) -> bool:
    """Whether a parked message's body is an event about this item (of any version)."""
    if len(body) > MAX_EVENT_BYTES:
        return False
    try:
        parked = CloudEvent.from_json(body)
    except MalformedEvent:
        return False
    return parked.entity == entity and parked.subject == subject
