"""JSON API (/api/v1/feedback): readers' submissions, and moderation (role moderator).
Errors are application/problem+json with stable codes (services.common.errors)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web

from services.common import db
from services.common.auth import PRINCIPAL, require_role
from services.common.errors import Problem, input_validator, invalid_input, query_int, read_json
from services.common.web import POOL
from services.feedback import actions, events, limits, store
from services.feedback.config import quota_of
from services.feedback.domain import (
    Action,
    InvalidInput,
    InvalidTransition,
    Status,
    check_edit,
    check_reply,
    check_submission,
)
from services.feedback.metrics import SUBMISSIONS

ITEM_PATH = r"/api/v1/feedback/{id:\d{1,18}}"
DEFAULT_LIMIT = 20
MAX_LIMIT = 100

SUBMISSION_SCHEMA = input_validator(
    {
        "type": "object",
        "required": ["author_name", "body"],
        "additionalProperties": False,
        "properties": {
            "article_id": {"type": ["integer", "null"], "minimum": 1, "maximum": 2**63 - 1},
            "author_name": {"type": "string"},
            "email": {"type": ["string", "null"]},
            "body": {"type": "string"},
        },
    }
)
EDIT_SCHEMA = input_validator(
    {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {"author_name": {"type": "string"}, "body": {"type": "string"}},
    }
)
REPLY_SCHEMA = input_validator(
    {
        "type": "object",
        "required": ["body"],
        "additionalProperties": False,
        "properties": {"body": {"type": "string"}},
    }
)


def spam_problem(refused: actions.SpamRefused) -> Problem:
    verdict = refused.verdict
    errors = [{"field": verdict.field, "message": verdict.message}] if verdict.field else None
    return Problem(verdict.status, verdict.code, verdict.message, errors=errors)


def daily_limit_reached(reached: actions.DailyLimitReached) -> Problem:
    retry = limits.seconds_until_tomorrow(datetime.now(UTC))
    return Problem(
        429, limits.CODE, limits.message(reached.limit), headers={"Retry-After": str(retry)}
    )


def article_unavailable() -> Problem:
    return Problem(
        422,
        "article_unavailable",
        "Bản tin không tồn tại hoặc không còn được đăng, nên không nhận phản hồi.",
        errors=[{"field": "article_id", "message": "Bản tin không tồn tại hoặc chưa được đăng."}],
    )


async def submit(request: web.Request) -> web.Response:
    """POST /api/v1/feedback: a reader's feedback, kept pending until moderated."""
    body = await read_json(request, SUBMISSION_SCHEMA)
    try:
        submission = check_submission(body["author_name"], body.get("email"), body["body"])
        item = await actions.submit(
            request.app[POOL], body.get("article_id"), submission, quota_of(request)
        )
    except InvalidInput as exc:
        SUBMISSIONS.labels("invalid").inc()
        raise invalid_input(exc.errors) from exc
    except actions.SpamRefused as exc:
        SUBMISSIONS.labels(exc.verdict.code).inc()
        raise spam_problem(exc) from exc
    except actions.ArticleUnavailable as exc:
        SUBMISSIONS.labels("article_unavailable").inc()
        raise article_unavailable() from exc
    except actions.DailyLimitReached as exc:
        SUBMISSIONS.labels(limits.CODE).inc()
        raise daily_limit_reached(exc) from exc
    SUBMISSIONS.labels("stored").inc()
    return web.json_response(
        {"id": item["id"], "status": Status.PENDING.value},
        status=202,
        headers={"Location": f"/api/v1/feedback/{item['id']}"},
    )


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def item_json(item: asyncpg.Record) -> dict[str, Any]:
    """An item as moderators see it: every field, the e-mail included."""
    article = None
    if item["article_id"] is not None:
        article = {
            "id": item["article_id"],
            "title": item["article_title"],
            "url": item["article_url"],
        }
    return {
        "id": item["id"],
        "status": item["status"],
        "version": item["version"],
        "target": item["target"],
        "article_id": item["article_id"],
        "article": article,
        "author_name": item["author_name"],
        "email": item["email"],
        "body": item["body"],
        "reply": reply.to_data() if (reply := events.reply_of(item)) else None,
        **{
            key: _time(item[key])
            for key in (
                "submitted_at",
                "approved_at",
                "rejected_at",
                "withdrawn_at",
                "updated_at",
            )
        },
    }


@require_role("moderator")
async def list_items(request: web.Request) -> web.Response:
    """GET /api/v1/feedback?status=&limit=&before=: newest first; `next_before` pages on."""
    raw_status = request.query.get("status", Status.PENDING.value)
    if raw_status not in {s.value for s in Status}:
        raise invalid_input({"status": "Phải là pending, approved, rejected hoặc withdrawn."})
    limit = query_int(request, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    before = query_int(request, "before", 1, 2**63 - 1)
    async with request.app[POOL].acquire(timeout=db.ACQUIRE_TIMEOUT) as conn:
        items = await store.page(conn, Status(raw_status), limit, before)
    next_before = items[-1]["id"] if len(items) == limit else None
    return web.json_response(
        {"items": [item_json(i) for i in items], "next_before": next_before},
        headers={"Cache-Control": "no-store"},
    )


def _item_id(request: web.Request) -> int:
    return int(request.match_info["id"])


def not_found() -> Problem:
    return Problem(404, "feedback_not_found", "Không tìm thấy ý kiến này.")


@require_role("moderator")
async def get_item(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire(timeout=db.ACQUIRE_TIMEOUT) as conn:
        item = await store.get(conn, _item_id(request))
    if item is None:
        raise not_found()
    return web.json_response(item_json(item), headers={"Cache-Control": "no-store"})


async def _moderate(
    request: web.Request, action: Action, change: actions.Change | None = None
) -> web.Response:
    try:
        item = await actions.moderate(request.app[POOL], _item_id(request), action, change)
    except actions.FeedbackNotFound as exc:
        raise not_found() from exc
    except InvalidTransition as exc:
        raise Problem(409, "invalid_transition", str(exc)) from exc
    return web.json_response(item_json(item), headers={"Cache-Control": "no-store"})


@require_role("moderator")
async def approve(request: web.Request) -> web.Response:
    return await _moderate(request, Action.APPROVE)


@require_role("moderator")
async def reject(request: web.Request) -> web.Response:
    return await _moderate(request, Action.REJECT)


@require_role("moderator")
async def withdraw(request: web.Request) -> web.Response:
    return await _moderate(request, Action.WITHDRAW)


@require_role("moderator")
async def edit(request: web.Request) -> web.Response:
    """PATCH {"author_name"?, "body"?}: a moderator corrects the public fields."""
    body = await read_json(request, EDIT_SCHEMA)
    try:
        change = check_edit(body.get("author_name"), body.get("body"))
    except InvalidInput as exc:
        raise invalid_input(exc.errors) from exc
    return await _moderate(request, Action.EDIT, actions.edit_change(change))


@require_role("moderator")
async def put_reply(request: web.Request) -> web.Response:
    """PUT {"body"}: the organisation's official reply, signed with the moderator's name."""
    body = await read_json(request, REPLY_SCHEMA)
    try:
        text = check_reply(body["body"])
    except InvalidInput as exc:
        raise invalid_input(exc.errors) from exc
    author = request[PRINCIPAL].name
    return await _moderate(request, Action.REPLY, actions.reply_change(text, author))


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/feedback", submit)
    app.router.add_get("/api/v1/feedback", list_items)
    app.router.add_get(ITEM_PATH, get_item)
    app.router.add_patch(ITEM_PATH, edit)
    app.router.add_post(ITEM_PATH + "/approve", approve)
    app.router.add_post(ITEM_PATH + "/reject", reject)
    app.router.add_post(ITEM_PATH + "/withdraw", withdraw)
    app.router.add_put(ITEM_PATH + "/reply", put_reply)
