"""The counter's HTTP API: view ingest (the beacon, POST /api/v1/views, and the pixel,
GET /v.gif?a=), an article's views, the most read articles, and (admin) the starting total
imported from an earlier system.

Nothing on the ingest path writes to Postgres (a salt is read at most once a day per
instance, and made a day ahead by the maintenance task): a view is answered once the
broker confirmed the views.batch holding it."""

from __future__ import annotations

import json

import asyncpg
from aiohttp import web
from prometheus_client import Counter

from services.common import db
from services.common.auth import require_role
from services.common.errors import (
    PROBLEM_JSON,
    Problem,
    check_input,
    input_validator,
    invalid_input,
    query_int,
    read_json,
)
from services.common.metrics import VIEWS_DROPPED
from services.common.vietnam import vn_day
from services.common.web import POOL, client_address
from services.counter import actions, store
from services.counter.batcher import BatchFailed
from services.counter.config import ANSWERS, ARTICLES, BATCHER, CLOCK, SALTS
from services.counter.domain import (
    ARTICLE_ID_MAX,
    FORM_TYPE,
    SERIES_MAX_DAYS,
    BeaconFault,
    DropReason,
    InvalidBeacon,
    Period,
    View,
    address_key,
    bucket_of,
    day_series,
    first_day,
    from_other_site,
    is_bot,
    parse_article_id,
    parse_beacon_form,
    parse_beacon_json,
    plain_article_id,
    view_key,
)

routes = web.RouteTableDef()

# Counts change about once a second: a few seconds in a cache cost nothing.
CACHE = {"Cache-Control": "public, max-age=5"}
# Bounds of the public counts API, so nobody can load the shared database through it:
# lists of at most 50 over at most 30 days, series of at most 90 days, answers cached.
MOST_READ_MAX_LIMIT = 50
SERIES_DEFAULT_DAYS = 30

IMPORTED_SCHEMA = input_validator(
    {
        "type": "object",
        "required": ["total"],
        "additionalProperties": False,
        "properties": {"total": {"type": "integer", "minimum": 0, "maximum": 2**62}},
    }
)
BEACON_SCHEMA = input_validator(
    {
        "type": "object",
        "required": ["article_id"],
        "additionalProperties": False,
        "properties": {
            "article_id": {"type": "integer", "minimum": 1, "maximum": ARTICLE_ID_MAX},
        },
    }
)

# A beacon body is {"article_id": N}: a few dozen bytes.
BODY_LIMIT = 1024
NO_STORE = {"Cache-Control": "no-store"}
# A 1x1 transparent GIF.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)

VIEWS_INGESTED = Counter(
    "bantin_views_ingested_total",
    "Beacon and pixel hits by outcome (accepted, bot, other_site, head, unknown_article,"
    " invalid, unavailable)",
    ["outcome"],
)


# --- view ingest --------------------------------------------------------------------------


@routes.post("/api/v1/views")
async def beacon(request: web.Request) -> web.Response:
    """POST /api/v1/views: navigator.sendBeacon's {"article_id": N}, or a form a=N."""
    try:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise Problem(
                413, "body_too_large", "Nội dung gửi lên vượt quá giới hạn cho phép."
            ) from exc
        await count_view(request, beacon_article_id(request.content_type, body))
    except Problem as problem:
        return _problem(problem)
    return web.Response(status=204, headers=NO_STORE)


@routes.get("/v.gif")
async def pixel(request: web.Request) -> web.Response:
    """GET /v.gif?a=N: the <noscript> pixel. HEAD answers alike but counts nothing."""
    try:
        try:
            article_id = parse_article_id(request.query.get("a"))
        except InvalidBeacon as invalid:
            raise beacon_problem(invalid) from invalid
        await count_view(request, article_id, count=request.method == "GET")
    except Problem as problem:
        return _problem(problem)
    return web.Response(body=PIXEL, content_type="image/gif", headers=NO_STORE)


def beacon_article_id(content_type: str, body: bytes) -> int:
    """The article id a beacon body names: JSON {"article_id": N} (as application/json or
    text/plain) or a form a=N. Problem 415/400/422 otherwise."""
    try:
        if content_type == FORM_TYPE:
            return parse_beacon_form(body)
        document = parse_beacon_json(content_type, body)
    except InvalidBeacon as invalid:
        raise beacon_problem(invalid) from invalid
    # The body every page sends, taken without the validator (which costs more than the
    # rest of the request); anything else is checked by the schema and its errors given.
    article_id = plain_article_id(document)
    if article_id is not None:
        return article_id
    check_input(document, BEACON_SCHEMA)
    return int(document["article_id"])


def beacon_problem(invalid: InvalidBeacon) -> Problem:
    """The answer to a beacon or pixel the domain could not read."""
    if invalid.fault is BeaconFault.INVALID_INPUT:
        return invalid_input(invalid.errors)
    status = 415 if invalid.fault is BeaconFault.UNSUPPORTED_TYPE else 400
    return Problem(status, invalid.fault.value, invalid.message)


async def count_view(request: web.Request, article_id: int, count: bool = True) -> None:
    """Publish the view of `article_id` (confirmed) unless it comes from a bot; a Problem
    for an article that may not receive views or when the view cannot be published."""
    app = request.config_dict
    if article_id not in app[ARTICLES]:
        VIEWS_INGESTED.labels("unknown_article").inc()
        raise Problem(
            404, "article_not_found", "Không tìm thấy bài viết, hoặc bài viết chưa được đăng."
        )
    user_agent = request.headers.get("User-Agent", "")
    if not count:
        VIEWS_INGESTED.labels("head").inc()
        return
    if is_bot(user_agent):
        _dropped(DropReason.BOT)
        return
    headers = request.headers
    if from_other_site(headers.get("Sec-Fetch-Site"), headers.get("Origin"), request.host):
        _dropped(DropReason.OTHER_SITE)
        return
    now = app[CLOCK]()
    day = vn_day(now)
    try:
        salt = await app[SALTS].salt_for(day)
        address, bucket = client_address(request), bucket_of(now)
        key = view_key(salt, address, user_agent, article_id, bucket)
        reader_address = address_key(salt, address, article_id, bucket)
        await app[BATCHER].submit(View(article_id, key, day, reader_address))
    except (BatchFailed, *db.UNAVAILABLE_ERRORS, asyncpg.PostgresError) as exc:
        VIEWS_INGESTED.labels("unavailable").inc()
        raise Problem(
            503,
            "service_unavailable",
            # "may not": a batch the broker did not confirm in time may still reach it.
            "Hệ thống đang bận, lượt xem có thể chưa được ghi nhận; xin vui lòng thử lại sau.",
            headers={"Retry-After": "5"},
        ) from exc
    VIEWS_INGESTED.labels("accepted").inc()


def _dropped(reason: DropReason) -> None:
    """A view answered alike but not counted, by the rule that dropped it."""
    VIEWS_INGESTED.labels(reason.value).inc()
    VIEWS_DROPPED.labels(reason.value).inc()


def _problem(problem: Problem) -> web.Response:
    """problem+json whatever the path (the pixel's too), and never cached: an article that
    is unknown now may be published a second later."""
    if problem.status < 500 and problem.code != "article_not_found":
        VIEWS_INGESTED.labels("invalid").inc()
    return web.Response(
        status=problem.status,
        text=json.dumps(problem.to_dict(), ensure_ascii=False),
        content_type=PROBLEM_JSON,
        headers={**problem.headers, **NO_STORE},
    )


# --- counts -------------------------------------------------------------------------------


def _article_id(request: web.Request) -> int:
    article_id = int(request.match_info["article_id"])  # the route admits digits only
    if not 1 <= article_id <= ARTICLE_ID_MAX:
        raise _not_found()
    return article_id


def _not_found() -> Problem:
    return Problem(404, "article_not_found", "Không tìm thấy bài viết.")


@routes.get("/api/v1/views/most-read")
async def most_read(request: web.Request) -> web.Response:
    """GET /api/v1/views/most-read?period=day|week|month&limit=10 -> {"period", "days",
    "from", "to", "items": [{"article_id", "views" (in the period), "total"}]}: published
    articles only, most views first. Cached a few seconds."""
    period = _period(request.query.get("period"))
    limit = query_int(request, "limit", 1, MOST_READ_MAX_LIMIT) or 10
    app = request.config_dict
    today = vn_day(app[CLOCK]())

    async def ranked() -> list[dict[str, int]]:
        async with db.acquire(app[POOL]) as conn:
            rows = await store.most_read(conn, today, period.days, limit)
        return [
            {"article_id": r["article_id"], "views": r["views"], "total": r["total"]} for r in rows
        ]

    items = await app[ANSWERS].get(("most-read", today, period, limit), ranked)
    return web.json_response(
        {
            "period": period.value,
            "days": period.days,
            "from": first_day(today, period.days).isoformat(),
            "to": today.isoformat(),
            "items": items,
        },
        headers=CACHE,
    )


def _period(raw: str | None) -> Period:
    if raw is None or raw == "":
        return Period.WEEK
    try:
        return Period(raw)
    except ValueError:
        raise invalid_input({"period": "Phải là day, week hoặc month."}) from None


@routes.get(r"/api/v1/views/{article_id:\d{1,19}}/days")
async def article_days(request: web.Request) -> web.Response:
    """GET /api/v1/views/{article_id}/days?days=30 -> {"article_id", "days": [{"day",
    "views"}]}: each of the last `days` days (today included, at most 90), oldest first,
    0 where none. Cached a few seconds."""
    article_id = _article_id(request)
    days = query_int(request, "days", 1, SERIES_MAX_DAYS) or SERIES_DEFAULT_DAYS
    app = request.config_dict
    today = vn_day(app[CLOCK]())

    async def series() -> list[dict[str, object]] | None:
        async with db.acquire(app[POOL]) as conn:
            if not await store.article_known(conn, article_id):
                return None
            counted = await store.daily_views(conn, article_id, first_day(today, days), today)
        return [
            {"day": day.isoformat(), "views": views}
            for day, views in day_series(today, days, counted)
        ]

    found = await app[ANSWERS].get(("days", today, article_id, days), series)
    if found is None:
        raise _not_found()
    return web.json_response({"article_id": article_id, "days": found}, headers=CACHE)


@routes.get(r"/api/v1/views/{article_id:\d{1,19}}")
async def article_views(request: web.Request) -> web.Response:
    """GET /api/v1/views/{article_id} -> {"article_id", "total", "today"}."""
    article_id = _article_id(request)
    today = vn_day(request.config_dict[CLOCK]())
    async with db.acquire(request.config_dict[POOL]) as conn:
        row = await store.article_totals(conn, article_id, today)
    if row is None:
        raise _not_found()
    return web.json_response(
        {"article_id": article_id, "total": row["total"], "today": row["today"]}, headers=CACHE
    )


@routes.put(r"/api/v1/views/{article_id:\d{1,19}}/imported")
@require_role("admin")
async def set_imported(request: web.Request) -> web.Response:
    """PUT /api/v1/views/{article_id}/imported {"total": N} (admin): a correction of the
    starting total carried over from an earlier system (imports set it through the
    article's event, once). The admin's figure replaces the one there and no later
    event changes it. The new total goes out as views.counted."""
    article_id = _article_id(request)
    body = await read_json(request, IMPORTED_SCHEMA)
    today = vn_day(request.config_dict[CLOCK]())
    async with db.acquire(request.config_dict[POOL]) as conn:
        await actions.set_imported(conn, article_id, int(body["total"]))
        row = await store.article_totals(conn, article_id, today)
    assert row is not None
    return web.json_response(
        {
            "article_id": article_id,
            "total": row["total"],
            "today": row["today"],
            "imported": row["imported"],
        }
    )
