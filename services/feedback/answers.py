"""What the JSON API, the readers' forms and the moderation page share: the one mapping
from the domain's refusals to answers (Problems), and taking a submission or a moderation
command from a request, so each handler only parses its input and renders."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from aiohttp import web

from services.common.auth import principal_from_request
from services.common.errors import Problem, invalid_input
from services.common.web import POOL, client_address
from services.feedback import actions, limits
from services.feedback.config import DAILY_CAP
from services.feedback.domain import (
    ArticleUnavailable,
    Command,
    DailyLimitReached,
    FeedbackNotFound,
    InvalidInput,
    InvalidTransition,
    SpamRefused,
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
    | FeedbackNotFound
    | InvalidTransition
)


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
        case FeedbackNotFound():
            return Problem(404, "feedback_not_found", "Không tìm thấy ý kiến này.")
        case InvalidTransition():
            return Problem(409, "invalid_transition", str(refusal))


def refused_submission(refusal: Refusal) -> Problem:
    """The answer to a refused submission, counted in SUBMISSIONS by its outcome."""
    problem = problem_for(refusal)
    SUBMISSIONS.labels("invalid" if isinstance(refusal, InvalidInput) else problem.code).inc()
    return problem


def quota_of(request: web.Request) -> Quota:
    """The daily counter the request's submission is charged to (its client address)."""
    return request.app[DAILY_CAP].quota(client_address(request), datetime.now(UTC))


async def submit(
    request: web.Request, article_id: int | None, author_name: str, email: str | None, body: str
) -> asyncpg.Record:
    """A reader's submission checked and stored (see actions.submit), counted in
    SUBMISSIONS; a refusal is raised as its Problem."""
    try:
        submission = check_submission(author_name, email, body)
        item = await actions.submit(request.app[POOL], article_id, submission, quota_of(request))
    except (InvalidInput, SpamRefused, ArticleUnavailable, DailyLimitReached) as refusal:
        raise refused_submission(refusal) from refusal
    SUBMISSIONS.labels("stored").inc()
    return item


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
