"""The transactional outbox (DESIGN rule 2): writing events in the transaction of the change
they report, and forgetting an item's earlier events when its owner is erased. No Python
module outside services/common/events touches the outbox table; one database function does
(feedback's submit_feedback, migration 007), with an event prepared here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.common.events.envelope import CloudEvent
from services.common.events.payloads import EventData, new_event
from services.common.events.schemas import validate


def prepare_event(event_type: str, payload: EventData) -> tuple[CloudEvent, dict[str, Any]]:
    """The event and its envelope, checked against its JSON Schema: what goes into the
    outbox row, for a change that writes it in the same transaction."""
    event = new_event(event_type, payload)
    envelope = event.to_dict()
    validate(envelope)
    return event, envelope


async def write_event(conn: asyncpg.Connection, event_type: str, payload: EventData) -> CloudEvent:
    """Add an event to the outbox on `conn`, which must be inside the caller's transaction.

    The event commits or rolls back with the change it reports; the relay publishes it.
    It is checked against its JSON Schema here, so a change that would break the public
    contract fails in the transaction that made it.
    """
    if not conn.is_in_transaction():
        raise RuntimeError("write_event must run inside the transaction of the change")
    event, envelope = prepare_event(event_type, payload)
    await conn.execute(
        "INSERT INTO outbox (id, type, subject, envelope) VALUES ($1, $2, $3, $4)",
        event.id,
        event.type,
        event.subject,
        envelope,
    )
    return event


async def forget_events(
    conn: asyncpg.Connection, subject: str | int, event_types: Sequence[str]
) -> int:
    """Delete the outbox rows of `event_types` about `subject`, sent or not, in the
    caller's transaction; returns how many. For erasure: the event written next (with a
    higher version) replaces them for every consumer, and no replay of the outbox can
    publish them again (DESIGN rule 4). Served by the outbox_subject index."""
    deleted = await conn.fetch(
        "DELETE FROM outbox WHERE subject = $1 AND type = ANY($2::text[]) RETURNING id",
        str(subject),
        list(event_types),
    )
    return len(deleted)
