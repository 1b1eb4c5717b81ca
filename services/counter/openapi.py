"""The OpenAPI 3.1 document of the counter API, served at /api/v1/views/openapi.json.

Request bodies are the very JSON Schemas the handlers check input with (the beacon's and
the imported total's), so the document cannot drift from what the API accepts.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.common import openapi
from services.common.openapi import bodies, body, ok, op, param, ref
from services.counter.api import (
    BEACON_SCHEMA,
    IMPORTED_SCHEMA,
    MOST_READ_MAX_LIMIT,
    SERIES_DEFAULT_DAYS,
)
from services.counter.domain import SERIES_MAX_DAYS, Period

problems = openapi.Problems(
    {
        "400": "a body that cannot be read (invalid_json, invalid_form)",
        "404": (
            "article_not_found: no such article, or (beacon and pixel) not one that may "
            "receive views now"
        ),
        "503": (
            "database or broker unavailable (service_unavailable), with Retry-After; a view "
            "answered so was not counted"
        ),
    }
)
BODY_PROBLEMS = ("400", "413", "415", "422")
DATABASE = "503"

ARTICLE_ID = param("article_id", "path", {"type": "integer", "minimum": 1}, "article id")

SCHEMAS: dict[str, Any] = {
    "Beacon": BEACON_SCHEMA.schema,
    "Counts": {
        "type": "object",
        "required": ["article_id", "total", "today"],
        "properties": {
            "article_id": {"type": "integer"},
            "total": {
                "type": "integer",
                "description": "All views, the imported starting total included",
            },
            "today": {"type": "integer", "description": "Views today (Asia/Ho_Chi_Minh)"},
        },
    },
    "MostRead": {
        "type": "object",
        "required": ["period", "days", "from", "to", "items"],
        "properties": {
            "period": {"type": "string", "enum": [p.value for p in Period]},
            "days": {"type": "integer", "description": "Days in the period (1, 7 or 30)"},
            "from": {"type": "string", "format": "date", "description": "First day"},
            "to": {"type": "string", "format": "date", "description": "Today"},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["article_id", "views", "total"],
                    "properties": {
                        "article_id": {"type": "integer"},
                        "views": {
                            "type": "integer",
                            "description": "Views in the period",
                        },
                        "total": {"type": "integer"},
                    },
                },
            },
        },
    },
    "Days": {
        "type": "object",
        "required": ["article_id", "days"],
        "properties": {
            "article_id": {"type": "integer"},
            "days": {
                "type": "array",
                "description": "Each day, oldest first, 0 where none",
                "items": {
                    "type": "object",
                    "required": ["day", "views"],
                    "properties": {
                        "day": {"type": "string", "format": "date"},
                        "views": {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
    },
}

# The beacon's form body (a page without JavaScript's fetch); the handler reads a= (or
# article_id=) as text.
BEACON_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["a"],
    "properties": {"a": {"type": "integer", "minimum": 1}},
}
IMPORTED_COUNTS: dict[str, Any] = {
    "allOf": [
        ref("Counts"),
        {
            "type": "object",
            "required": ["imported"],
            "properties": {"imported": {"type": "integer"}},
        },
    ]
}


def document() -> openapi.Document:
    return openapi.document(
        title="Bantin counter API",
        description=(
            "Article views: the beacon and the pixel every article page carries, each "
            "article's counts, and the most read articles. One reader counts once per "
            "article per 30-minute bucket, and at most a few distinct browsers from one address "
            "do; known bots and requests from other sites are answered but not counted. Errors "
            "are application/problem+json with a stable `code` and a Vietnamese `detail`. "
            "Days are calendar days in Asia/Ho_Chi_Minh."
        ),
        schemas=SCHEMAS,
        paths={
            "/api/v1/views/openapi.json": openapi.this_document(),
            "/api/v1/views": {
                "post": op(
                    "Count a view (navigator.sendBeacon)",
                    {"204": ok("Taken (or a bot: answered alike, not counted)")}
                    | problems(*BODY_PROBLEMS, "403", "404", DATABASE),
                    body=bodies(
                        {
                            "text/plain": ref("Beacon"),
                            "application/json": ref("Beacon"),
                            "application/x-www-form-urlencoded": BEACON_FORM,
                        }
                    ),
                    description=(
                        "Answered only once the view is safely queued for counting. Body at "
                        "most 1 KB. Cache-Control: no-store on every answer."
                    ),
                )
            },
            "/v.gif": {
                "get": op(
                    "Count a view (the <noscript> pixel)",
                    {"200": ok("Taken (or a bot: answered alike, not counted)", {}, "image/gif")}
                    | problems("404", "422", DATABASE),
                    parameters=[
                        param(
                            "a",
                            "query",
                            {"type": "integer", "minimum": 1},
                            "article id",
                            required=True,
                        )
                    ],
                    description=(
                        "A 1x1 transparent GIF, Cache-Control: no-store. HEAD answers alike "
                        "and counts nothing."
                    ),
                )
            },
            "/api/v1/views/most-read": {
                "get": op(
                    "The most read published articles today, in 7 or in 30 days",
                    {"200": ok("Most views first", ref("MostRead"))} | problems("422", DATABASE),
                    parameters=[
                        param(
                            "period",
                            "query",
                            {
                                "type": "string",
                                "enum": [p.value for p in Period],
                                "default": Period.WEEK.value,
                            },
                            "day: today; week: the last 7 days; month: the last 30 days"
                            " (today included)",
                        ),
                        param(
                            "limit",
                            "query",
                            {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MOST_READ_MAX_LIMIT,
                                "default": 10,
                            },
                            "how many articles",
                        ),
                    ],
                    description="Cached for a few seconds.",
                )
            },
            "/api/v1/views/{article_id}/days": {
                "get": op(
                    "An article's views day by day",
                    {"200": ok("One entry per day", ref("Days"))}
                    | problems("404", "422", DATABASE),
                    parameters=[
                        ARTICLE_ID,
                        param(
                            "days",
                            "query",
                            {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": SERIES_MAX_DAYS,
                                "default": SERIES_DEFAULT_DAYS,
                            },
                            "how many days back, today included",
                        ),
                    ],
                    description="Cached for a few seconds.",
                )
            },
            "/api/v1/views/{article_id}": {
                "get": op(
                    "An article's views",
                    {"200": ok("Counts", ref("Counts"))} | problems("404", DATABASE),
                    parameters=[ARTICLE_ID],
                )
            },
            "/api/v1/views/{article_id}/imported": {
                "put": op(
                    "Correct the starting total carried over from an earlier system (admin)",
                    {"200": ok("The article's counts now", IMPORTED_COUNTS)}
                    | problems(*BODY_PROBLEMS, "401", "403", "404", DATABASE),
                    auth=True,
                    body=body(IMPORTED_SCHEMA.schema),
                    parameters=[ARTICLE_ID],
                    description=(
                        "An import sets an article's starting total through its"
                        " article.published event (imported_views), once; this corrects it"
                        " when the figure brought over was wrong. The admin's figure replaces"
                        " the imported one, no later event changes it, and real views keep"
                        " adding to it. The new total is published as views.counted within"
                        " about a second."
                    ),
                )
            },
        },
    )


routes = web.RouteTableDef()


@routes.get("/api/v1/views/openapi.json")
async def serve(request: web.Request) -> web.Response:
    return openapi.response(document)
