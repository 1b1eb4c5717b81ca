"""What the feedback service does, each in one transaction with the events it causes
(DESIGN rule 2): take a reader's submission, and moderate an item."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.common import db
from services.common.events.outbox import forget_events, prepare_event, write_event
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
    ids: store.CaseIds | None = None,
) -> Submitted:
    """Store a reader's feedback with feedback.submitted, charged to the sender's `quota`:
    pending, or held for a moderator with its reasons (spam.holds, spam.repeat_rule), each
    hold counted in spam_counts. DailyLimitReached, TooManySubmissions, ArticleUnavailable
    or SpamRefused (more than spam.MAX_LINKS_HELD links, the same text to the same target
    again) store nothing. A submission whose idempotency key was seen before stores nothing
    and answers the case of the first one (IdempotencyKeyReused if an API request hash is
    given and differs).

    The checks and the insert run in the database in one round trip (store.submit_case);
    where the visitor sent the same text before, it comes back with the targets, the rule
    is applied here, and it is tried again with that judgement."""
    verdict = spam.check_links(submission.body)
    if verdict:
        raise SpamRefused(verdict)
    hold_reasons = spam.holds(submission.author_name, submission.body, banned)
    text_target = "site" if article_id is None else f"article:{article_id}"
    charge = store.Charge(
        quota.day,
        quota.key,
        quota.limit,
        quota.per_minute,
        quota.visitor_keys,
        spam.DUPLICATE_WINDOW,
    )
    judged: list[str] = []
    async with db.acquire(pool) as conn:
        new = store.NewCase(
            await (ids or store.CaseIds()).next(conn),
            datetime.now(UTC),
            article_id,
            text_target,
            spam.fingerprint(submission.body),
            submission,
            case,
            tuple(hold_reasons),
        )
        while True:
            try:
                item = await store.submit_case(conn, new, charge, judged, _submitted_event(new))
                break
            except store.SubmissionStopped as stopped:
                judged = _judge_stop(stopped, quota, article_id, text_target, hold_reasons)
                new = replace(new, hold_reasons=tuple(hold_reasons))
    if item["replayed"]:
        if case.request_hash not in (None, item["request_hash"]):
            raise IdempotencyKeyReused()
        return Submitted(item, replayed=True)
    log.info(
        "feedback submitted",
        extra={"feedback_id": item["id"], "target": item["target"], "status": item["status"]},
    )
    return Submitted(item, replayed=False)


def _submitted_event(new: store.NewCase) -> tuple[str, str, str, dict[str, object]]:
    """feedback.submitted for the case about to be stored, as its outbox row's values."""
    item = {
        "id": new.id,
        "version": 1,
        "article_id": new.article_id,
        "target": "site" if new.article_id is None else "article",
        "submitted_at": new.submitted_at,
    }
    event, envelope = prepare_event("feedback.submitted", events.submitted(item))
    return event.id, event.type, event.subject, envelope


def _judge_stop(
    stopped: store.SubmissionStopped,
    quota: Quota,
    article_id: int | None,
    text_target: str,
    hold_reasons: list[spam.HoldReason],
) -> list[str]:
    """The domain's refusal for what stopped a submission; or, where the visitor sent the
    same text to other targets, those targets, judged (the submission is held, and
    `hold_reasons` says so)."""
    if stopped.code == "BF001":
        raise DailyLimitReached(quota.limit)
    if stopped.code == "BF002":
        wait = float(stopped.detail or 0)
        raise TooManySubmissions(quota.per_minute, max(1, math.ceil(wait)))
    if stopped.code == "BF003":
        raise ArticleUnavailable(article_id)
    targets = json.loads(stopped.detail or "[]")
    match spam.repeat_rule(text_target, targets):
        case spam.Verdict() as duplicate:
            raise SpamRefused(duplicate)
        case spam.HoldReason() as repeated if repeated not in hold_reasons:
            hold_reasons.append(repeated)
    return list(targets)


@dataclass(frozen=True)
class Submitted:
    """The stored case; `replayed` when it was stored by an earlier request with the same
    idempotency key (nothing was stored this time)."""

    item: Mapping[str, Any]
    replayed: bool


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
