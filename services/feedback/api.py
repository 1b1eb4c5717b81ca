"""JSON API (/api/v1/feedback): readers' submissions, and moderation (role moderator).
Errors are application/problem+json with stable codes (services.common.errors)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from services.common import db
from services.common.auth import PRINCIPAL, require_role
from services.common.errors import input_validator, invalid_input, query_int, read_json
from services.common.vietnam import VIETNAM, vn_datetime
from services.common.web import POOL
from services.feedback import actions, answers, events, receipts, spam, store
from services.feedback.domain import (
    STATUS_NAMES,
    Approve,
    FeedbackNotFound,
    InvalidInput,
    NotForQuestions,
    Reject,
    Status,
    Withdraw,
    check_edit,
    check_reject_reason,
    check_reply,
    csv_cell,
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
REJECT_SCHEMA = input_validator(
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": {"type": ["string", "null"]}},
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
        "reject_reason": item["reject_reason"],
        "original": _original(item),
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


def _original(item: asyncpg.Record) -> dict[str, Any] | None:
    """The reader's own words, if a moderator has edited them."""
    if item["edited_at"] is None:
        return None
    return {
        "author_name": item["original_author_name"],
        "body": item["original_body"],
        "edited_at": _time(item["edited_at"]),
    }


TARGETS = ("article", "site")
ORDERS = ("newest", "oldest")
TEXT_MAX = 200
ID_MAX = 2**63 - 1


def _choice(request: web.Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = request.query.get(name, default) or default
    if raw not in allowed:
        raise invalid_input({name: f"Phải là một trong: {', '.join(allowed)}."})
    return raw


def _status(request: web.Request, default: str | None) -> Status | None:
    raw = request.query.get("status") or default
    if raw is None:
        return None
    statuses = tuple(s.value for s in Status)
    return Status(_choice(request, "status", statuses, raw))


def _filters(request: web.Request, default_status: str | None) -> store.Filters:
    text = request.query.get("q", "").strip()
    if len(text) > TEXT_MAX or "\x00" in text:
        raise invalid_input({"q": f"Tối đa {TEXT_MAX} ký tự, không chứa ký tự NUL."})
    target = request.query.get("target") or None
    status = _status(request, default_status)
    return store.Filters(
        statuses=(status,) if status else None,
        target=_choice(request, "target", TARGETS, target) if target else None,
        text=text or None,
    )


@routes.get("/api/v1/feedback")
@require_role("moderator")
async def list_items(request: web.Request) -> web.Response:
    """GET /api/v1/feedback?status=&target=&q=&order=&limit=&before=|after=: newest first
    (`next_before` pages on) or, with order=oldest, oldest first (`next_after`)."""
    filters = _filters(request, Status.PENDING.value)
    oldest_first = _choice(request, "order", ORDERS, "newest") == "oldest"
    limit = query_int(request, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    cursor = query_int(request, "after" if oldest_first else "before", 1, ID_MAX)
    async with db.acquire(request.app[POOL]) as conn:
        items = await store.search(conn, filters, limit, oldest_first=oldest_first, cursor=cursor)
    last = items[-1]["id"] if len(items) == limit else None
    return web.json_response(
        {
            "items": [item_json(i) for i in items],
            "next_before": None if oldest_first else last,
            "next_after": last if oldest_first else None,
        },
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


@routes.get(ITEM_PATH + "/history")
@require_role("moderator")
async def history(request: web.Request) -> web.Response:
    """GET: who did what to the item and when, oldest first."""
    item_id = int(request.match_info["id"])
    async with db.acquire(request.app[POOL]) as conn:
        item = await store.get(conn, item_id)
        entries = await store.history(conn, item_id) if item is not None else []
    if item is None:
        raise answers.problem_for(FeedbackNotFound(item_id))
    return web.json_response(
        {
            "items": [
                {
                    "action": entry["action"],
                    "moderator": {"id": entry["moderator_id"], "name": entry["moderator_name"]},
                    "reason": entry["reason"],
                    "at": _time(entry["at"]),
                }
                for entry in entries
            ]
        },
        headers={"Cache-Control": "no-store"},
    )


@routes.post(ITEM_PATH + "/reject")
@require_role("moderator")
async def reject(request: web.Request) -> web.Response:
    """POST {"reason"?}: the public reason the reader sees on the status page (no part of
    the feedback.rejected event). No body rejects without a reason."""
    body = await read_json(request, REJECT_SCHEMA) if request.body_exists else {}
    try:
        command = Reject(check_reject_reason(body.get("reason")))
    except InvalidInput as exc:
        raise answers.problem_for(exc) from exc
    return _item_json_response(await answers.moderate(request, command))


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
    return _item_json_response(
        await answers.moderate(request, answers.reply_command(request, text))
    )


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
        await actions.set_public_question(request.app[POOL], item_id, public, request[PRINCIPAL])
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


# --- the export (CSV) -----------------------------------------------------------------------

# The export is written as it is read, this many items at a time: any period, in bounded
# memory.
EXPORT_BATCH = 1000
EXPORT_COLUMNS = (
    "Mã",
    "Ngày gửi",
    "Trạng thái",
    "Loại",
    "Bản tin",
    "Họ và tên",
    "Email",
    "Nội dung",
    "Trả lời",
    "Lý do từ chối",
)
TARGET_NAMES = {"article": "Bản tin", "site": "Góp ý trang"}


EXPORT_YEARS = range(1970, 3000)


def _day(request: web.Request, name: str) -> date | None:
    """A day given as YYYY-MM-DD (None when absent); a 422 for anything else."""
    raw = request.query.get(name, "")
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        day = None
    # Only the extended form (fromisoformat also takes 20261201), and years that convert
    # to UTC and back without overflow.
    if day is None or len(raw) != 10 or day.year not in EXPORT_YEARS:
        raise invalid_input({name: "Phải là một ngày dạng YYYY-MM-DD (năm 1970 đến 2999)."})
    return day


def _export_row(item: asyncpg.Record) -> list[str]:
    status = Status(item["status"])
    values = (
        item["id"],
        vn_datetime(item["submitted_at"]),
        STATUS_NAMES.get(status, status.value),
        TARGET_NAMES.get(item["target"], item["target"]),
        item["article_title"],
        item["author_name"],
        item["email"],
        item["body"],
        item["reply_body"],
        item["reject_reason"],
    )
    return [csv_cell(value) for value in values]


def export_csv(items: Iterable[asyncpg.Record], header: bool = True) -> bytes:
    """The items as CSV lines in UTF-8, every cell neutralised against formulas
    (domain.csv_cell); with `header`, preceded by a BOM (so spreadsheet programs read the
    accents) and the column names."""
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(EXPORT_COLUMNS)
    writer.writerows(_export_row(item) for item in items)
    return out.getvalue().encode("utf-8-sig" if header else "utf-8")


@routes.get("/api/v1/feedback/export.csv")
@require_role("moderator")
async def export(request: web.Request) -> web.StreamResponse:
    """GET ?from=&to=&status=: items submitted on those days (Vietnam's calendar, both
    included; by default the last 30 days), oldest first, as a CSV file."""
    today = datetime.now(VIETNAM).date()
    first = _day(request, "from") or today - timedelta(days=30)
    last = _day(request, "to") or today
    if last < first:
        raise invalid_input({"to": "Ngày kết thúc phải sau ngày bắt đầu."})
    status = _status(request, None)
    start = datetime.combine(first, time(), VIETNAM)
    end = datetime.combine(last + timedelta(days=1), time(), VIETNAM)
    name = f"phan-hoi-{first.isoformat()}-{last.isoformat()}.csv"
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    if request.method == "HEAD":
        # A streamed answer writes its body itself: to a HEAD, that body would be read
        # as the next answer on the connection.
        await response.write_eof()
        return response
    await response.write(export_csv([]))
    after = 0
    while True:
        async with db.acquire(request.app[POOL]) as conn:
            items = await store.export(conn, start, end, status, after, EXPORT_BATCH)
        if not items:
            break
        await response.write(export_csv(items, header=False))
        after = items[-1]["id"]
    await response.write_eof()
    return response
