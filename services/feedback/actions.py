"""What the feedback service does, each in one transaction with the events it causes
(DESIGN rule 2): take a reader's submission, and moderate an item."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from datetime import datetime

import asyncpg

from services.common import db
from services.common.events.outbox import forget_events, write_event
from services.common.vietnam import VIETNAM
from services.feedback import events, spam, store
from services.feedback.domain import (
    PERSONAL_EVENTS,
    ArticleUnavailable,
    Command,
    DailyLimitReached,
    FeedbackNotFound,
    SpamRefused,
    Submission,
    TooManySubmissions,
    check_transition,
)
from services.feedback.limits import Quota

log = logging.getLogger(__name__)


async def submit(
    pool: asyncpg.Pool,
    article_id: int | None,
    submission: Submission,
    quota: Quota,
    banned: spam.BannedWords = spam.NO_BANNED_WORDS,
) -> asyncpg.Record:
    """Store a reader's feedback with feedback.submitted, charged to the sender's `quota`:
    pending, or held for a moderator with its reasons (spam.holds, spam.repeat_rule), each
    hold counted in spam_counts. DailyLimitReached, TooManySubmissions, ArticleUnavailable
    or SpamRefused (more than spam.MAX_LINKS_HELD links, the same text to the same target
    again) store nothing."""
    verdict = spam.check_links(submission.body)
    if verdict:
        raise SpamRefused(verdict)
    hold_reasons = spam.holds(submission.author_name, submission.body, banned)
    fingerprint = spam.fingerprint(submission.body)
    target = "site" if article_id is None else f"article:{article_id}"
    async with db.acquire(pool) as conn, conn.transaction():
        await store.delete_counts_before(conn, quota.day)
        # The visitor's row stays locked until the end: its submissions take turns, so two
        # sent at once cannot both pass the checks below.
        if await store.charge(conn, quota.day, quota.key) > quota.limit:
            raise DailyLimitReached(quota.limit)
        await store.forget_texts_before(conn, spam.DUPLICATE_WINDOW)
        sent, wait = await store.last_minute(conn, quota.visitor_keys)
        if sent >= quota.per_minute:
            raise TooManySubmissions(quota.per_minute, max(1, math.ceil(wait)))
        if article_id is not None and await store.open_article(conn, article_id) is None:
            raise ArticleUnavailable(article_id)
        earlier = await store.texts_sent(
            conn, quota.visitor_keys, fingerprint, spam.DUPLICATE_WINDOW
        )
        match spam.repeat_rule(target, earlier):
            case spam.Verdict() as duplicate:
                raise SpamRefused(duplicate)
            case spam.HoldReason() as repeated:
                hold_reasons.append(repeated)
        await store.remember_text(conn, quota.key, target, fingerprint)
        item = await store.insert(conn, article_id, submission, fingerprint, hold_reasons)
        for reason in hold_reasons:
            await store.count_spam(conn, quota.day, "held", reason, item["target"])
        await write_event(conn, "feedback.submitted", events.submitted(item))
    log.info(
        "feedback submitted",
        extra={"feedback_id": item["id"], "target": item["target"], "status": item["status"]},
    )
    return item


async def record_refusal(pool: asyncpg.Pool, reason: str, target: str) -> None:
    """Count a refused submission in spam_counts (today in Vietnam, the reason's code, the
    target kind 'article' or 'site'): no address, no visitor key, no text."""
    day = datetime.now(VIETNAM).date()
    async with db.acquire(pool) as conn:
        await store.count_spam(conn, day, "refused", reason, target)


StoreCommand = Callable[[asyncpg.Connection, int, Command], Awaitable[None]]


async def moderate(pool: asyncpg.Pool, item_id: int, command: Command) -> asyncpg.Record:
    """Apply a moderation command as domain.MODERATION says, in one transaction: the change,
    its event, and for a withdrawal the erasure of the reader's name and words from the
    outbox. FeedbackNotFound or domain.InvalidTransition leave everything as it was."""
    async with db.acquire(pool) as conn, conn.transaction():
        status = await store.status_for_update(conn, item_id)
        if status is None:
            raise FeedbackNotFound(item_id)
        moderation = check_transition(command, status)
        save: StoreCommand = getattr(store, moderation.stores)
        await save(conn, item_id, command)
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
