"""What the feedback service does, each in one transaction with the events it causes
(DESIGN rule 2): take a reader's submission, and moderate an item."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.common import db
from services.common.events.outbox import forget_events, write_event
from services.common.roles import Principal
from services.common.vietnam import VIETNAM
from services.feedback import domain, events, spam, store
from services.feedback.domain import (
    PERSONAL_EVENTS,
    ArticleUnavailable,
    Command,
    DailyLimitReached,
    FeedbackNotFound,
    IdempotencyKeyReused,
    NotForQuestions,
    SpamRefused,
    Submission,
    TooManySubmissions,
    action_of,
    check_transition,
    history_reason,
)
from services.feedback.limits import Quota

log = logging.getLogger(__name__)


async def submit(
    pool: asyncpg.Pool,
    article_id: int | None,
    submission: Submission,
    quota: Quota,
    case: store.CaseKeys,
    banned: spam.BannedWords = spam.NO_BANNED_WORDS,
) -> Submitted:
    """Store a reader's feedback with feedback.submitted, charged to the sender's `quota`:
    pending, or held for a moderator with its reasons (spam.holds, spam.repeat_rule), each
    hold counted in spam_counts. DailyLimitReached, TooManySubmissions, ArticleUnavailable
    or SpamRefused (more than spam.MAX_LINKS_HELD links, the same text to the same target
    again) store nothing. A submission whose idempotency key was seen before stores nothing
    and answers the case of the first one (IdempotencyKeyReused if an API request hash is
    given and differs)."""
    verdict = spam.check_links(submission.body)
    if verdict:
        raise SpamRefused(verdict)
    hold_reasons = spam.holds(submission.author_name, submission.body, banned)
    fingerprint = spam.fingerprint(submission.body)
    target = "site" if article_id is None else f"article:{article_id}"
    async with db.acquire(pool) as conn, conn.transaction():
        if case.idempotency_hash is not None:
            earlier = await _earlier_submission(conn, case)
            if earlier is not None:
                return Submitted(earlier, replayed=True)
        # The visitor's row stays locked until the end: its submissions take turns, so two
        # sent at once cannot both pass the checks below.
        if await store.charge(conn, quota.day, quota.key, spam.DUPLICATE_WINDOW) > quota.limit:
            raise DailyLimitReached(quota.limit)
        checks = await store.visitor_checks(
            conn, quota.visitor_keys, article_id, fingerprint, spam.DUPLICATE_WINDOW
        )
        if checks["sent"] >= quota.per_minute:
            wait = float(checks["wait"] or 0)
            raise TooManySubmissions(quota.per_minute, max(1, math.ceil(wait)))
        if article_id is not None and not checks["article_open"]:
            raise ArticleUnavailable(article_id)
        match spam.repeat_rule(target, checks["targets"]):
            case spam.Verdict() as duplicate:
                raise SpamRefused(duplicate)
            case spam.HoldReason() as repeated:
                hold_reasons.append(repeated)
        item = await store.insert(
            conn, article_id, submission, fingerprint, case, hold_reasons, quota.key, target
        )
        for reason in hold_reasons:
            await store.count_spam(conn, quota.day, "held", reason, item["target"])
        await write_event(conn, "feedback.submitted", events.submitted(item))
    log.info(
        "feedback submitted",
        extra={"feedback_id": item["id"], "target": item["target"], "status": item["status"]},
    )
    return Submitted(item, replayed=False)


@dataclass(frozen=True)
class Submitted:
    """The stored case; `replayed` when it was stored by an earlier request with the same
    idempotency key (nothing was stored this time)."""

    item: asyncpg.Record
    replayed: bool


async def _earlier_submission(
    conn: asyncpg.Connection, case: store.CaseKeys
) -> asyncpg.Record | None:
    assert case.idempotency_hash is not None
    # Held until the transaction ends: a second click waits for the first to commit.
    await store.lock_idempotency_key(conn, case.idempotency_hash)
    earlier = await store.submitted_with_key(conn, case.idempotency_hash)
    if earlier is not None and case.request_hash not in (None, earlier["request_hash"]):
        raise IdempotencyKeyReused()
    return earlier


async def record_refusal(pool: asyncpg.Pool, reason: str, target: str) -> None:
    """Count a refused submission in spam_counts (today in Vietnam, the reason's code, the
    target kind 'article' or 'site'): no address, no visitor key, no text."""
    day = datetime.now(VIETNAM).date()
    async with db.acquire(pool) as conn:
        await store.count_spam(conn, day, "refused", reason, target)


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


async def set_public_question(
    pool: asyncpg.Pool, item_id: int, public: bool, moderator: Principal
) -> None:
    """Show (or stop showing) an answered site suggestion on /hoi-dap, kept in the case's
    history. Nothing leaves the service: the page reads this service's own rows, so there
    is no event. FeedbackNotFound, or NotForQuestions if it is not an approved, answered
    suggestion."""
    async with db.acquire(pool) as conn, conn.transaction():
        if await store.status_for_update(conn, item_id) is None:
            raise FeedbackNotFound(item_id)
        if not await store.set_public_qa(conn, item_id, public):
            raise NotForQuestions(item_id)
        action, _ = domain.QUESTION_ACTIONS[public]
        await store.add_history(conn, item_id, action, moderator.user_id, moderator.name, None)
    log.info(
        "feedback question shown" if public else "feedback question hidden",
        extra={"feedback_id": item_id},
    )


async def erase_old_contacts(pool: asyncpg.Pool, closed_before: datetime, batch: int) -> int:
    """One batch of the contact retention: the e-mail and phone of cases closed before
    `closed_before` deleted; returns how many cases were blanked."""
    async with db.acquire(pool) as conn, conn.transaction():
        erased = await store.erase_contacts(conn, closed_before, batch)
    if erased:
        log.info("feedback contacts erased", extra={"cases": erased})
    return erased
