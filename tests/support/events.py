"""Event payloads the outbox and relay tests write."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.events.payloads import FeedbackSubmittedData


def submitted(item_id: int, target: str = "article") -> FeedbackSubmittedData:
    """A feedback.submitted for item `item_id` (`target` other than article or site breaks
    the contract)."""
    return FeedbackSubmittedData(
        id=item_id,
        version=1,
        article_id=7,
        target=target,
        submitted_at=datetime(2026, 11, 28, 1, 0, tzinfo=UTC),
    )
