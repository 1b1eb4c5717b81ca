"""The counts API: an article's views, the most read articles, and (admin) the starting total
imported from an earlier system."""

from __future__ import annotations

from aiohttp import web

from services.common import db
from services.common.auth import require_role
from services.common.errors import Problem, input_validator, query_int, read_json
from services.common.web import POOL
from services.counter import store
from services.counter.counting import ARTICLE_ID_MAX, vn_day
from services.counter.ingest import CLOCK

# Counts change about once a second: a few seconds in a cache cost nothing.
CACHE = {"Cache-Control": "public, max-age=5"}
MOST_READ_MAX_LIMIT = 100
MOST_READ_MAX_DAYS = 365

IMPORTED_SCHEMA = input_validator(
    {
        "type": "object",
        "required": ["total"],
        "additionalProperties": False,
        "properties": {"total": {"type": "integer", "minimum": 0, "maximum": 2**62}},
    }
)


def _article_id(request: web.Request) -> int:
    article_id = int(request.match_info["article_id"])  # the route admits digits only
    if not 1 <= article_id <= ARTICLE_ID_MAX:
        raise _not_found()
    return article_id


def _not_found() -> Problem:
    return Problem(404, "article_not_found", "Không tìm thấy bài viết.")


async def article_views(request: web.Request) -> web.Response:
    """GET /api/v1/views/{article_id} -> {"article_id", "total", "today"}."""
    article_id = _article_id(request)
    today = vn_day(request.config_dict[CLOCK]())
    async with request.config_dict[POOL].acquire(timeout=db.ACQUIRE_TIMEOUT) as conn:
        row = await store.article_totals(conn, article_id, today)
    if row is None:
        raise _not_found()
    return web.json_response(
        {"article_id": article_id, "total": row["total"], "today": row["today"]}, headers=CACHE
    )


async def most_read(request: web.Request) -> web.Response:
    """GET /api/v1/views/most-read?limit=10&days=7 -> {"days", "items": [{"article_id",
    "views" (in those days), "total"}]}, published articles only, most views first."""
    limit = query_int(request, "limit", 1, MOST_READ_MAX_LIMIT) or 10
    days = query_int(request, "days", 1, MOST_READ_MAX_DAYS) or 7
    today = vn_day(request.config_dict[CLOCK]())
    async with request.config_dict[POOL].acquire(timeout=db.ACQUIRE_TIMEOUT) as conn:
        rows = await store.most_read(conn, today, days, limit)
    items = [
        {"article_id": r["article_id"], "views": r["views"], "total": r["total"]} for r in rows
    ]
    return web.json_response({"days": days, "items": items}, headers=CACHE)


@require_role("admin")
async def set_imported(request: web.Request) -> web.Response:
    """PUT /api/v1/views/{article_id}/imported {"total": N} (admin): the starting total
    carried over from an earlier system. The new total goes out as views.counted."""
    article_id = _article_id(request)
    body = await read_json(request, IMPORTED_SCHEMA)
    today = vn_day(request.config_dict[CLOCK]())
    async with request.config_dict[POOL].acquire(timeout=db.ACQUIRE_TIMEOUT) as conn:
        async with conn.transaction():
            await store.set_imported(conn, article_id, int(body["total"]))
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
