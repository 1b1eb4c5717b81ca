"""Writing events to the transactional outbox (DESIGN rule 2)."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.common.events.envelope import CloudEvent, source_of
from services.common.events.schemas import validate


async def write_event(
    conn: asyncpg.Connection, service: str, type: str, subject: str | int, data: dict[str, Any]
) -> CloudEvent:
    """Add an event to the outbox on `conn`, which must be inside the caller's transaction.

    The event commits or rolls back with the change it reports; the relay publishes it.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("write_event must run inside the transaction of the change")
    event = CloudEvent(type=type, source=source_of(service), subject=str(subject), data=data)
    envelope = event.to_dict()
    validate(envelope)
    await conn.execute(
        "INSERT INTO outbox (id, type, subject, envelope) VALUES ($1, $2, $3, $4)",
        event.id,
        event.type,
        event.subject,
        envelope,
    )
    return event
