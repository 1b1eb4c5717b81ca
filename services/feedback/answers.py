"""What the JSON API, the readers' forms and the moderation page share: the one mapping
from the domain's refusals to answers (Problems), and taking a submission or a moderation
command from a request, so each handler only parses its input and renders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiohttp import web

from services.common.auth import PRINCIPAL, principal_from_request
from services.common.errors import Problem, invalid_input
from services.common.web import POOL, RELAY, client_address
from services.feedback import actions, limits, receipts, store
from services.feedback.config import BANNED_WORDS, CASE_IDS, CONFIG, DAILY_CAP
from services.feedback.domain import (
    ArticleUnavailable,
    Command,
    DailyLimitReached,
    FeedbackNotFound,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidTransition,
    NotForQuestions,
    Reply,
    SpamRefused,
    Status,
    TooManySubmissions,
    check_submission,
)
from services.feedback.limits import Quota
from services.feedback.metrics import SUBMISSIONS

ARTICLE_UNAVAILABLE = "article_unavailable"

Refusal = (
    InvalidInput
    | SpamRefused
    | ArticleUnavailable
    | DailyLimitReached
    | TooManySubmissions
    | FeedbackNotFound
    | InvalidTransition
    | IdempotencyKeyReused
    | NotForQuestions
)
# The refusals that defend against spam and floods: each is counted in spam_counts.
SPAM_REFUSALS = (SpamRefused, DailyLimitReached, TooManySubmissions)


def problem_for(refusal: Refusal) -> Problem:
    """How a refusal of the domain reads, as JSON (problem+json) and on a form alike: a
    status, a stable code, a Vietnamese detail and the faulty fields."""
    match refusal:
        case InvalidInput():
            return invalid_input(refusal.errors)
        case SpamRefused(verdict=verdict):
            errors = (
                [{"field": verdict.field, "message": verdict.message}] if verdict.field else None
            )
            return Problem(verdict.status, verdict.code, verdict.message, errors=errors)
        case ArticleUnavailable():
            return Problem(
                422,
                ARTICLE_UNAVAILABLE,
                "Bản tin không tồn tại hoặc không còn được đăng, nên không nhận phản hồi.",
                errors=[
                    {"field": "article_id", "message": "Bản tin không tồn tại hoặc chưa được đăng."}
                ],
            )
        case DailyLimitReached(limit=limit):
            retry = limits.seconds_until_tomorrow(datetime.now(UTC))
            return Problem(
                429, limits.CODE, limits.message(limit), headers={"Retry-After": str(retry)}
            )
        case TooManySubmissions(limit=limit, retry_after=retry):
            return Problem(
                429,
                limits.RATE_CODE,
                limits.rate_message(limit),
                headers={"Retry-After": str(retry)},
            )
        case FeedbackNotFound():
            return Problem(404, "feedback_not_found", "Không tìm thấy ý kiến này.")
        case InvalidTransition():
            return Problem(409, "invalid_transition", str(refusal))
        case IdempotencyKeyReused():
            return Problem(
                422,
                "idempotency_key_reused",
                "Khóa Idempotency-Key này đã được dùng cho một ý kiến khác.",
                errors=[{"field": "Idempotency-Key", "message": "Đã dùng cho một ý kiến khác."}],
            )
        case NotForQuestions():
            return Problem(
                409,
                "not_for_questions",
                "Chỉ góp ý cho trang thông tin đã được duyệt và đã được trả lời mới được "
                "đăng ở mục Hỏi - đáp.",
            )


def refused_submission(refusal: Refusal) -> Problem:
    """The answer to a refused submission, counted in SUBMISSIONS by its outcome."""
    problem = problem_for(refusal)
    SUBMISSIONS.labels("invalid" if isinstance(refusal, InvalidInput) else problem.code).inc()
    return problem


async def record_refusal(request: web.Request, refusal: Refusal, article_id: int | None) -> None:
    """Count a spam refusal by its code and target kind (actions.record_refusal); other
    refusals (invalid fields, an unpublished article) are not spam and are not counted."""
    if isinstance(refusal, SPAM_REFUSALS):
        target = "site" if article_id is None else "article"
        await actions.record_refusal(request.app[POOL], problem_for(refusal).code, target)


def reply_command(request: web.Request, text: str) -> Reply:
    """The organisation's reply as the signed-in moderator writes it: signed in public with
    the organisation's name, the moderator recorded privately (the request's principal,
    checked by the handler)."""
    principal = request[PRINCIPAL]
    return Reply(
        text,
        signature=request.app[CONFIG].organisation_name,
        moderator=f"{principal.name} (#{principal.user_id})",
    )


def quota_of(request: web.Request) -> Quota:
    """The daily counter the request's submission is charged to (its client address)."""
    return request.app[DAILY_CAP].quota(client_address(request), datetime.now(UTC))


@dataclass(frozen=True)
class Case:
    """A stored submission and its receipt code (canonical; receipts.grouped shows it)."""

    item: asyncpg.Record
    receipt: str
    replayed: bool


async def submit(
    request: web.Request,
    article_id: int | None,
    fields: dict[str, str | None],
    *,
    key_hash: str | None = None,
    request_hash: str | None = None,
) -> Case:
    """A reader's submission (`fields`: author_name, email, body, phone, title) checked
    and stored (see actions.submit), counted in SUBMISSIONS; a refusal is raised as its
    Problem. With an idempotency key (`key_hash`), the receipt code is derived from it, so
    a retry answers the first case and its code again."""
    secret = request.app[CONFIG].form_secret
    code = receipts.code_for_key(secret, key_hash) if key_hash else receipts.new_code()
    keys = store.CaseKeys(receipts.code_hash(code), key_hash, request_hash)
    try:
        submission = check_submission(
            fields.get("author_name") or "",
            fields.get("email"),
            fields.get("body") or "",
            phone=fields.get("phone"),
            title=fields.get("title"),
        )
        submitted = await actions.submit(
            request.app[POOL],
            article_id,
            submission,
            quota_of(request),
            keys,
            request.app[BANNED_WORDS],
            request.app[CASE_IDS],
        )
    except (InvalidInput, ArticleUnavailable, IdempotencyKeyReused, *SPAM_REFUSALS) as refusal:
        await record_refusal(request, refusal, article_id)
        raise refused_submission(refusal) from refusal
    if not submitted.replayed and (relay := request.app.get(RELAY)) is not None:
        relay.wake()  # its event rang no NOTIFY (feedback migration 007)
    if submitted.replayed:
        outcome = "replayed"
    else:
        outcome = "stored" if submitted.item["status"] == Status.PENDING else "held"
    SUBMISSIONS.labels(outcome).inc()
    return Case(submitted.item, code, submitted.replayed)


async def moderate(request: web.Request, command: Command) -> asyncpg.Record:
    """The command applied to the item of the request's {id} (see actions.moderate); an
    unknown item or a transition its status does not allow is raised as its Problem. The
    request's principal (already checked by the handler) is recorded as who did it."""
    moderator = await principal_from_request(request)
    try:
        return await actions.moderate(
            request.app[POOL], int(request.match_info["id"]), command, moderator
        )
    except (FeedbackNotFound, InvalidTransition) as refusal:
        raise problem_for(refusal) from refusal
