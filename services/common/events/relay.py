"""The outbox relay: publishes committed outbox rows and marks them sent once confirmed.

Rows are claimed with FOR UPDATE SKIP LOCKED, so any number of relays (one per service
instance) share the work and never send the same row at once. A row is marked sent in the
transaction that claimed it, after the broker confirmed it: if the relay dies in between,
the claim rolls back and the row is sent again (consumers drop the duplicate by event id).
Nothing is ever parked: a row that fails is retried with back-off for as long as it takes,
and bantin_outbox_oldest_unsent_seconds raises the alarm.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import asyncpg

from services.common import db, listener
from services.common.events.broker import Publisher
from services.common.events.envelope import EXCHANGE
from services.common.metrics import (
    EVENTS_PUBLISHED,
    EVENTS_UNROUTABLE,
    OUTBOX_OLDEST_UNSENT,
    PUBLISH_FAILURES,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 200
MAX_BACKOFF_SECONDS = 30


def backoff_seconds(attempts: int) -> float:
    """Delay before the next try of a row that has failed `attempts` times."""
    return float(min(MAX_BACKOFF_SECONDS, 2 ** min(attempts, 16)))


class OutboxRelay:
    def __init__(
        self,
        dsn: str,
        pool: asyncpg.Pool,
        publisher: Publisher,
        poll_seconds: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._pool = pool
        self._publisher = publisher
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._broker_back = False
        self._tasks: list[asyncio.Task[None]] = []
        # Event types already reported as routed to no queue: said once per process, then
        # only counted (feedback.submitted has no subscriber inside Bantin by design, and a
        # warning per submission would drown every other line).
        self._unroutable_reported: set[str] = set()

    def _report_unroutable(self, event_type: str) -> None:
        if event_type not in self._unroutable_reported:
            self._unroutable_reported.add(event_type)
            log.warning(
                "event routed to no queue (said once; bantin_events_unroutable_total counts)",
                extra={"event_type": event_type},
            )

    async def start(self) -> None:
        self._publisher.connection.reconnect_callbacks.add(self._on_broker_back)
        self._tasks = [
            asyncio.create_task(self._listen(), name="outbox-listen"),
            asyncio.create_task(self._run(), name="outbox-relay"),
        ]

    async def stop(self) -> None:
        self._publisher.connection.reconnect_callbacks.discard(self._on_broker_back)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        self._wake.set()

    def _on_broker_back(self, *_args: object) -> None:
        """The robust connection is back (its channels restored) after a broker outage.

        During the outage every row failed and backed off, for up to MAX_BACKOFF_SECONDS
        (found by tests/integration/test_faults.py: after a short outage the backlog still
        waited ~8 s, after a long one it would wait 30 s). The cause is gone now, so the
        backlog goes at once instead of when each row's back-off ends.
        """
        self._broker_back = True
        self._wake.set()

    async def _run(self) -> None:
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
            self._wake.clear()
            try:
                if self._broker_back:
                    await self._make_backlog_due()
                    self._broker_back = False
                while await self.relay_once() == BATCH_SIZE:
                    pass
            except db.UNAVAILABLE_ERRORS as exc:
                log.warning("outbox relay: database unavailable (%s); retrying", exc)
                await asyncio.sleep(1)
                self._wake.set()  # retry now, not at the next poll: rows may be due
            except Exception:
                # This loop must never end: a relay whose task died publishes nothing until
                # the process restarts, silently (an unexpected asyncpg error after a
                # Postgres restart did exactly that).
                log.exception("outbox relay: unexpected error; retrying")
                await asyncio.sleep(1)
                self._wake.set()

    async def _listen(self) -> None:
        await listener.listen_forever(
            self._dsn, "outbox", lambda *_args: self._wake.set(), self._catch_up, "outbox relay"
        )

    async def _catch_up(self) -> None:
        # Rows may have been committed while nobody listened.
        self._wake.set()

    async def _make_backlog_due(self) -> None:
        # SKIP LOCKED: rows another relay holds right now are being tried anyway.
        await self._pool.execute(
            """UPDATE outbox SET next_attempt_at = now()
                WHERE id IN (SELECT id FROM outbox
                              WHERE sent_at IS NULL AND next_attempt_at > now()
                              FOR UPDATE SKIP LOCKED)""",
            timeout=db.COMMAND_TIMEOUT,
        )

    async def relay_once(self) -> int:
        """Claim a batch of due rows, publish them, mark what was confirmed. Returns the count."""
        async with db.acquire(self._pool) as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT id, type, envelope, attempts FROM outbox
                    WHERE sent_at IS NULL AND next_attempt_at <= now()
                    ORDER BY created_at
                    LIMIT $1
                    FOR UPDATE SKIP LOCKED""",
                BATCH_SIZE,
            )
            if rows:
                results = await asyncio.gather(
                    *(self._publish(row) for row in rows), return_exceptions=True
                )
                await self._record(conn, rows, results)
            oldest = await conn.fetchval(
                "SELECT extract(epoch FROM now() - min(created_at)) FROM outbox"
                " WHERE sent_at IS NULL"
            )
        OUTBOX_OLDEST_UNSENT.set(float(oldest or 0))
        return len(rows)

    async def _publish(self, row: asyncpg.Record) -> bool:
        envelope = row["envelope"]
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        return await self._publisher.publish(EXCHANGE, row["type"], body, message_id=str(row["id"]))

    async def _record(
        self, conn: asyncpg.Connection, rows: Sequence[asyncpg.Record], results: Sequence[Any]
    ) -> None:
        sent, failed = [], []
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                PUBLISH_FAILURES.labels(row["type"]).inc()
                failed.append((row["id"], backoff_seconds(row["attempts"] + 1), repr(result)))
                continue
            sent.append(row["id"])
            EVENTS_PUBLISHED.labels(row["type"]).inc()
            if result is False:
                # Confirmed by the broker but bound to no queue: nobody subscribes to this
                # type yet. Retrying cannot help, so it counts as sent, in the metric.
                EVENTS_UNROUTABLE.labels(row["type"]).inc()
                self._report_unroutable(row["type"])
        if sent:
            await conn.execute(
                "UPDATE outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL"
                " WHERE id = ANY($1::uuid[])",
                sent,
            )
        if failed:
            log.error(
                "outbox publish failed; will retry",
                extra={"rows": len(failed), "error": failed[0][2]},
            )
            await conn.executemany(
                """UPDATE outbox SET attempts = attempts + 1, last_error = $3,
                          next_attempt_at = now() + make_interval(secs => $2)
                    WHERE id = $1""",
                failed,
            )


async def run_standalone(service: str) -> None:
    """Run only a relay for `service`'s outbox (extra relay capacity, or a drained service)."""
    from services.common.config import Settings
    from services.common.events.broker import connect

    settings = Settings.from_env(service)
    pool = await db.create_pool(settings.database_url, max_size=2)
    connection = await connect(settings.amqp_url, f"{service}-relay")
    publisher = Publisher(connection)
    await publisher.start()
    relay = OutboxRelay(settings.database_url, pool, publisher, settings.relay_poll_seconds)
    await relay.start()
    try:
        await asyncio.Event().wait()
    finally:
        await relay.stop()
        await publisher.close()
        await connection.close()
        await pool.close()


def main() -> None:
    import argparse

    from services.common.logs import setup_logging

    parser = argparse.ArgumentParser(description="Publish a service's outbox to RabbitMQ.")
    parser.add_argument("service", choices=["articles", "feedback", "counter"])
    args = parser.parse_args()
    setup_logging(f"{args.service}-relay")
    with suppress(KeyboardInterrupt):
        asyncio.run(run_standalone(args.service))


if __name__ == "__main__":
    main()
