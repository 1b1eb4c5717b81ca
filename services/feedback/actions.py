"""What the feedback service does, each in one transaction with the events it causes
(DESIGN rule 2): take a reader's submission, and moderate an item."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg

from services.common import db
from services.common.events.outbox import forget_events, write_event
from services.common.events.payloads import EventData
from services.feedback import events, spam, store
from services.feedback.domain import (
    Action,
    Edit,
    Status,
    Submission,
    check_transition,
    republishes,
)
from services.feedback.limits import Quota

log = logging.getLogger(__name__)

# The events that carried (or announced) the reader's words. Once the item is withdrawn, its
# feedback.withdrawn (a higher version) replaces them for every consumer, and a replay of
# the outbox must not bring the name back (DESIGN rule 4).
PERSONAL_EVENTS = ("feedback.submitted", "feedback.approved", "feedback.updated")


class ArticleUnavailable(Exception):
    """The article is unknown or not published: it takes no feedback."""


class FeedbackNotFound(Exception):
    pass


class DailyLimitReached(Exception):
    """The client address has sent its daily number of submissions already."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} submissions today")
        self.limit = limit


class SpamRefused(Exception):
    def __init__(self, verdict: spam.Verdict) -> None:
        super().__init__(verdict.rule.value)
        self.verdict = verdict


async def submit(
    pool: asyncpg.Pool, article_id: int | None, submission: Submission, quota: Quota
) -> asyncpg.Record:
    """Store a reader's feedback as pending with feedback.submitted, charged to the sender's
    daily `quota`; DailyLimitReached, ArticleUnavailable or SpamRefused (too many links,
    the same text sent recently) store nothing."""
    verdict = spam.check_links(submission.body)
    if verdict:
        raise SpamRefused(verdict)
    fingerprint = spam.fingerprint(submission.body)
    async with pool.acquire(timeout=db.ACQUIRE_TIMEOUT) as conn, conn.transaction():
        await store.delete_counts_before(conn, quota.day)
        if await store.charge(conn, quota.day, quota.key) > quota.limit:
            raise DailyLimitReached(quota.limit)
        if article_id is not None and await store.open_article(conn, article_id) is None:
            raise ArticleUnavailable(article_id)
        await store.lock_text(conn, fingerprint)
        if await store.recently_sent(conn, fingerprint, spam.DUPLICATE_WINDOW):
            raise SpamRefused(spam.DUPLICATE)
        item = await store.insert(conn, article_id, submission, fingerprint)
        await write_event(conn, "feedback.submitted", events.submitted(item))
    log.info("feedback submitted", extra={"feedback_id": item["id"], "target": item["target"]})
    return item


Change = Callable[[asyncpg.Connection, int], Awaitable[None]]


async def moderate(
    pool: asyncpg.Pool, item_id: int, action: Action, change: Change | None = None
) -> asyncpg.Record:
    """Apply a moderation action and publish what it changes, in one transaction.

    `change` is the store call for edit and reply (they carry input); the others need
    none. FeedbackNotFound or domain.InvalidTransition leave everything as it was.
    """
    async with pool.acquire(timeout=db.ACQUIRE_TIMEOUT) as conn, conn.transaction():
        status = await store.status_for_update(conn, item_id)
        if status is None:
            raise FeedbackNotFound(item_id)
        check_transition(action, status)
        await (change or _CHANGES[action])(conn, item_id)
        item = await store.get(conn, item_id)
        assert item is not None
        event = _event_for(action, status)
        if event is not None:
            event_type, build = event
            await write_event(conn, event_type, build(item))
    log.info("feedback moderated", extra={"feedback_id": item_id, "action": action.value})
    return item


async def _withdraw(conn: asyncpg.Connection, item_id: int) -> None:
    """Erase the reader's name and words from the item and from the outbox alike: the
    feedback.withdrawn written next (a higher version) replaces the deleted events for
    every consumer, and no replay of the outbox can publish them again (DESIGN rule 4)."""
    await store.withdraw(conn, item_id)
    await forget_events(conn, item_id, PERSONAL_EVENTS)


_CHANGES: dict[Action, Change] = {
    Action.APPROVE: store.approve,
    Action.REJECT: store.reject,
    Action.WITHDRAW: _withdraw,
}


def _event_for(
    action: Action, status: Status
) -> tuple[str, Callable[[asyncpg.Record], EventData]] | None:
    if action is Action.APPROVE:
        return "feedback.approved", events.public
    if action is Action.REJECT:
        return "feedback.rejected", events.rejected
    if action is Action.WITHDRAW:
        return "feedback.withdrawn", events.withdrawn
    if republishes(action, status):
        return "feedback.updated", events.public
    return None


def edit_change(edit: Edit) -> Change:
    async def change(conn: asyncpg.Connection, item_id: int) -> None:
        await store.edit(conn, item_id, edit.author_name, edit.body)

    return change


def reply_change(body: str, author: str) -> Change:
    async def change(conn: asyncpg.Connection, item_id: int) -> None:
        await store.reply(conn, item_id, body, author)

    return change
