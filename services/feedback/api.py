"""JSON API (/api/v1/feedback): readers' submissions, and moderation (role moderator).
Errors are application/problem+json with stable codes (services.common.errors)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from services.common import db
from services.common.auth import PRINCIPAL, require_role
from services.common.errors import input_validator, invalid_input, query_int, read_json
from services.common.vietnam import VIETNAM
from services.common.web import POOL
from services.feedback import actions, answers, events, receipts, spam, store
from services.feedback.config import CONFIG
from services.feedback.domain import (
    Approve,
    FeedbackNotFound,
    InvalidInput,
    NotForQuestions,
    Reject,
    Reply,
    Status,
    Withdraw,
    check_edit,
    check_reply,
)

routes = web.RouteTableDef()

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
            "phone": {"type": ["string", "null"]},
            "title": {"type": ["string", "null"]},
            "body": {"type": "string"},
        },
    }
)
IDEMPOTENCY_HEADER = "Idempotency-Key"
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


@routes.post("/api/v1/feedback")
async def submit(request: web.Request) -> web.Response:
    """POST /api/v1/feedback: a reader's feedback, kept pending until moderated; answers
    its receipt code. With an Idempotency-Key header, the same key and body sent again
    store nothing and answer the first case again."""
    key_hash = _idempotency_key(request)
    body = await read_json(request, SUBMISSION_SCHEMA)
    fields = {name: body.get(name) for name in ("author_name", "email", "phone", "title", "body")}
    case = await answers.submit(
        request,
        body.get("article_id"),
        fields,
        key_hash=key_hash,
        request_hash=receipts.request_hash(body.get("article_id"), *fields.values())
        if key_hash
        else None,
    )
    item = case.item
    headers = {"Location": f"/api/v1/feedback/{item['id']}", "Cache-Control": "no-store"}
    if case.replayed:
        headers["Idempotent-Replayed"] = "true"
    return web.json_response(
        {
            "id": item["id"],
            "status": Status.PENDING.value,
            "receipt": receipts.grouped(case.receipt),
            "status_url": f"{receipts.LOOKUP_PATH}?ma={receipts.grouped(case.receipt)}",
        },
        status=202,
        headers=headers,
    )


def _idempotency_key(request: web.Request) -> str | None:
    """The hash of the request's Idempotency-Key, None without one; 422 if malformed."""
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    key_hash = receipts.api_key_hash(raw)
    if key_hash is None:
        raise invalid_input(
            {IDEMPOTENCY_HEADER: "Phải gồm 1 đến 255 ký tự ASCII nhìn thấy được, ví dụ một UUID."}
        )
    return key_hash


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
        "hold_reasons": list(item["hold_reasons"]),
        "reply": reply.to_data() if (reply := events.reply_of(item)) else None,
        "public_qa": item["public_qa"],
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


@routes.get("/api/v1/feedback")
@require_role("moderator")
async def list_items(request: web.Request) -> web.Response:
    """GET /api/v1/feedback?status=&limit=&before=: newest first; `next_before` pages on."""
    raw_status = request.query.get("status", Status.PENDING.value)
    if raw_status not in {s.value for s in Status}:
        raise invalid_input({"status": "Phải là pending, held, approved, rejected hoặc withdrawn."})
    limit = query_int(request, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    before = query_int(request, "before", 1, 2**63 - 1)
    async with db.acquire(request.app[POOL]) as conn:
        items = await store.page(conn, Status(raw_status), limit, before)
    next_before = items[-1]["id"] if len(items) == limit else None
    return web.json_response(
        {"items": [item_json(i) for i in items], "next_before": next_before},
        headers={"Cache-Control": "no-store"},
    )


def _item_json_response(item: asyncpg.Record) -> web.Response:
    return web.json_response(item_json(item), headers={"Cache-Control": "no-store"})


@routes.get(ITEM_PATH)
@require_role("moderator")
async def get_item(request: web.Request) -> web.Response:
    item_id = int(request.match_info["id"])
    async with db.acquire(request.app[POOL]) as conn:
        item = await store.get(conn, item_id)
    if item is None:
        raise answers.problem_for(FeedbackNotFound(item_id))
    return _item_json_response(item)


@routes.post(ITEM_PATH + "/approve")
@require_role("moderator")
async def approve(request: web.Request) -> web.Response:
    return _item_json_response(await answers.moderate(request, Approve()))


@routes.post(ITEM_PATH + "/reject")
@require_role("moderator")
async def reject(request: web.Request) -> web.Response:
    return _item_json_response(await answers.moderate(request, Reject()))


@routes.post(ITEM_PATH + "/withdraw")
@require_role("moderator")
async def withdraw(request: web.Request) -> web.Response:
    return _item_json_response(await answers.moderate(request, Withdraw()))


@routes.patch(ITEM_PATH)
@require_role("moderator")
async def edit(request: web.Request) -> web.Response:
    """PATCH {"author_name"?, "body"?}: a moderator corrects the public fields."""
    body = await read_json(request, EDIT_SCHEMA)
    try:
        command = check_edit(body.get("author_name"), body.get("body"))
    except InvalidInput as exc:
        raise answers.problem_for(exc) from exc
    return _item_json_response(await answers.moderate(request, command))


@routes.put(ITEM_PATH + "/reply")
@require_role("moderator")
async def put_reply(request: web.Request) -> web.Response:
    """PUT {"body"}: the organisation's official reply, signed with its unit name
    (FEEDBACK_ORGANISATION_NAME); the moderator is recorded privately."""
    body = await read_json(request, REPLY_SCHEMA)
    try:
        text = check_reply(body["body"])
    except InvalidInput as exc:
        raise answers.problem_for(exc) from exc
    principal = request[PRINCIPAL]
    command = Reply(
        text,
        signature=request.app[CONFIG].organisation_name,
        moderator=f"{principal.name} (#{principal.user_id})",
    )
    return _item_json_response(await answers.moderate(request, command))


@routes.post(ITEM_PATH + "/qa")
@require_role("moderator")
async def show_question(request: web.Request) -> web.Response:
    """Show an approved, answered site suggestion on /hoi-dap."""
    return await _set_question(request, public=True)


@routes.delete(ITEM_PATH + "/qa")
@require_role("moderator")
async def hide_question(request: web.Request) -> web.Response:
    """Stop showing a site suggestion on /hoi-dap."""
    return await _set_question(request, public=False)


async def _set_question(request: web.Request, public: bool) -> web.Response:
    item_id = int(request.match_info["id"])
    try:
        await actions.set_public_question(request.app[POOL], item_id, public)
    except (FeedbackNotFound, NotForQuestions) as refusal:
        raise answers.problem_for(refusal) from refusal
    async with db.acquire(request.app[POOL]) as conn:
        item = await store.get(conn, item_id)
    assert item is not None
    return _item_json_response(item)


SPAM_STATS_DEFAULT_DAYS = 30
SPAM_STATS_MAX_DAYS = 366


@routes.get("/api/v1/feedback/spam-stats")
@require_role("moderator")
async def spam_stats(request: web.Request) -> web.Response:
    """GET /api/v1/feedback/spam-stats?days=: refusals and holds of submissions in the last
    `days` calendar days in Vietnam (today included), counted by reason and target kind."""
    days = query_int(request, "days", 1, SPAM_STATS_MAX_DAYS) or SPAM_STATS_DEFAULT_DAYS
    since = datetime.now(VIETNAM).date() - timedelta(days=days - 1)
    async with db.acquire(request.app[POOL]) as conn:
        rows = await store.spam_counts_since(conn, since)
    counts = [
        {
            "outcome": row["outcome"],
            "reason": row["reason"],
            "label": spam.reason_label(row["reason"]),
            "target": row["target"],
            "count": row["count"],
        }
        for row in rows
    ]
    return web.json_response(
        {"days": days, "since": since.isoformat(), "counts": counts},
        headers={"Cache-Control": "no-store"},
    )
