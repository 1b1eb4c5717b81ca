"""What the feedback service does, each in one transaction with the events it causes
(DESIGN rule 2): take a reader's submission, and moderate an item."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import asyncpg

from services.common import db
from services.common.events.outbox import forget_events, write_event
from services.common.roles import Principal
from services.feedback import events, spam, store
from services.feedback.domain import (
    PERSONAL_EVENTS,
    ArticleUnavailable,
    Command,
    DailyLimitReached,
    FeedbackNotFound,
    SpamRefused,
    Submission,
    action_of,
    check_transition,
    history_reason,
)
from services.feedback.limits import Quota

log = logging.getLogger(__name__)


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
    async with db.acquire(pool) as conn, conn.transaction():
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


StoreCommand = Callable[[asyncpg.Connection, int, Command], Awaitable[None]]


async def moderate(
    pool: asyncpg.Pool, item_id: int, command: Command, moderator: Principal
) -> asyncpg.Record:
    """Apply a moderation command as domain.MODERATION says, in one transaction: the change,
    who made it (the case's history), its event, and for a withdrawal the erasure of the
    reader's name and words from the outbox. FeedbackNotFound or domain.InvalidTransition
    leave everything as it was."""
    async with db.acquire(pool) as conn, conn.transaction():
        status = await store.status_for_update(conn, item_id)
        if status is None:
            raise FeedbackNotFound(item_id)
        moderation = check_transition(command, status)
        save: StoreCommand = getattr(store, moderation.stores)
        await save(conn, item_id, command)
        await store.add_history(
            conn,
            item_id,
            action_of(command),
            moderator.user_id,
            moderator.name,
            history_reason(command),
        )
        if moderation.forgets:
            # The feedback.withdrawn written next (a higher version) replaces the deleted
            # events for every consumer, and no replay of the outbox can publish them
            # again (DESIGN rule 4).
            await forget_events(conn, item_id, PERSONAL_EVENTS)
        item = await store.get(conn, item_id)
        assert item is not None
        event_type = moderation.event_from(status)
        if event_type is not None:
            await write_event(conn, event_type, events.payload(event_type, item))
    action = type(command).__name__.lower()
    log.info("feedback moderated", extra={"feedback_id": item_id, "action": action})
    return item
