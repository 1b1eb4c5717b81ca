"""The OpenAPI 3.1 document of the feedback API, served at /api/v1/feedback/openapi.json.

Request bodies are the very JSON Schemas the handlers check input with (services/feedback/
api.py); the rules the domain adds (lengths, the e-mail's form) are told in words, as they
are checked after the schema and answered alike (422 invalid_input).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.common import openapi
from services.common.openapi import body, ok, op, param, ref
from services.feedback import domain
from services.feedback.api import (
    EDIT_SCHEMA,
    EXPORT_COLUMNS,
    MAX_LIMIT,
    ORDERS,
    REJECT_SCHEMA,
    REPLY_SCHEMA,
    SUBMISSION_SCHEMA,
    TARGETS,
    TEXT_MAX,
)

problems = openapi.Problems(
    {
        "403": (
            "not a moderator (forbidden), or a change sent with the session cookie from "
            "another site (cross_site_request)"
        ),
        "404": "feedback_not_found",
        "409": (
            "invalid_transition: the action does not apply to the item's status; nothing changed"
        ),
    }
)
BODY_PROBLEMS = ("400", "413", "415", "422")
DATABASE = "503"
PROTECTED = ("401", "403")

ITEM_ID = param("id", "path", {"type": "integer", "minimum": 1}, "feedback item id")
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
# Every status an item can be in (the statuses a moderator may filter on).
STATUSES = [status.value for status in domain.Status]

SCHEMAS: dict[str, Any] = {
    "Submission": SUBMISSION_SCHEMA.schema,
    "Accepted": {
        "type": "object",
        "required": ["id", "status"],
        "properties": {"id": {"type": "integer"}, "status": {"const": "pending"}},
    },
    "Reply": {
        "type": ["object", "null"],
        "properties": {
            "body": {"type": "string"},
            "author": {"type": "string"},
            "replied_at": _TIME,
        },
    },
    "Item": {
        "type": "object",
        "description": "A feedback item as moderators see it (with the e-mail).",
        "properties": {
            "id": {"type": "integer"},
            "status": {"enum": STATUSES},
            "version": {"type": "integer", "description": "Rises with every change"},
            "target": {"enum": ["article", "site"]},
            "article_id": {"type": ["integer", "null"]},
            "article": {
                "type": ["object", "null"],
                "properties": {
                    "id": {"type": "integer"},
                    "title": {"type": ["string", "null"]},
                    "url": {"type": ["string", "null"]},
                },
            },
            "author_name": {"type": "string"},
            "email": {"type": ["string", "null"]},
            "body": {"type": "string"},
            "reply": ref("Reply"),
            "reject_reason": {
                "type": ["string", "null"],
                "description": "Why it was rejected, as the reader sees it on the status page",
            },
            "original": {
                "type": ["object", "null"],
                "description": "The reader's own words, kept at a moderator's first edit",
                "properties": {
                    "author_name": {"type": ["string", "null"]},
                    "body": {"type": ["string", "null"]},
                    "edited_at": _TIME,
                },
            },
            "submitted_at": _TIME,
            "approved_at": _NULLABLE_TIME,
            "rejected_at": _NULLABLE_TIME,
            "withdrawn_at": _NULLABLE_TIME,
            "updated_at": _TIME,
        },
    },
    "Page": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": ref("Item")},
            "next_before": {
                "type": ["integer", "null"],
                "description": "Newest first: pass as `before` for the next page; null on the last",
            },
            "next_after": {
                "type": ["integer", "null"],
                "description": "Oldest first: pass as `after` for the next page; null on the last",
            },
        },
    },
    "History": {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "action": {"enum": sorted(a for a, _ in domain.ACTIONS.values())},
                        "moderator": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "integer"},
                                "name": {"type": "string"},
                            },
                        },
                        "reason": {"type": ["string", "null"]},
                        "at": _TIME,
                    },
                },
            }
        },
    },
}

SUBMISSION_RULES = (
    f"`author_name` is required, at most {domain.NAME_MAX} characters, and published with "
    "the feedback once approved. `email` is optional and private: shown to moderators only, "
    f"never published. `body` is plain text of {domain.BODY_MIN} to {domain.BODY_MAX} "
    "characters; any HTML is removed. `article_id` is null (or absent) for feedback on the "
    "site, otherwise a published article."
)


def _submission() -> dict[str, Any]:
    """POST /api/v1/feedback: open to every reader, so its refusals say more."""
    return op(
        "Send feedback (kept pending until a moderator approves it)",
        {"202": ok("Stored as pending; feedback.submitted published", ref("Accepted"))}
        | problems(*BODY_PROBLEMS, "403", DATABASE)
        | {
            "409": problems.answer(
                "409", "spam_duplicate: the same text was sent in the last 24 hours"
            ),
            "422": problems.answer(
                "422",
                "invalid_input (per-field errors), article_unavailable (unknown or "
                "unpublished article), spam_too_many_links (more than 2 links)",
            ),
            "429": problems.answer(
                "429",
                "too_many_submissions: this client address has sent its daily number of "
                "submissions (FEEDBACK_DAILY_LIMIT_PER_ADDRESS, 20 by default; forms and API "
                "together; the day is the calendar day in Asia/Ho_Chi_Minh). Retry-After "
                "gives the seconds until midnight there.",
            ),
        },
        body=body(ref("Submission")),
        description=SUBMISSION_RULES,
    )


def _moderation(summary: str, *statuses: str, **extra: Any) -> dict[str, Any]:
    """An operation of the moderators (role moderator; admin passes) on one item."""
    return op(
        summary,
        {"200": ok("The item after the change", ref("Item"))}
        | problems(*statuses, *PROTECTED, "404", DATABASE),
        auth=True,
        parameters=[ITEM_ID],
        **extra,
    )


def document() -> openapi.Document:
    return openapi.document(
        title="Bantin feedback API",
        description=(
            "Readers' feedback on articles and on the site, and its moderation. Errors are "
            "application/problem+json with a stable `code` and a Vietnamese `detail`. "
            "Moderation needs a token (Authorization: Bearer, or the bantin_session cookie) "
            "with the role moderator; admin passes."
        ),
        schemas=SCHEMAS,
        paths={
            "/api/v1/feedback/openapi.json": openapi.this_document(),
            "/api/v1/feedback": {
                "post": _submission(),
                "get": op(
                    "List feedback by status, target and text, newest or oldest first",
                    {"200": ok("A page of items", ref("Page"))}
                    | problems(*PROTECTED, "422", DATABASE),
                    auth=True,
                    parameters=[
                        param(
                            "status",
                            "query",
                            {"enum": STATUSES, "default": "pending"},
                            "the items' status",
                        ),
                        param("target", "query", {"enum": list(TARGETS)}, "article or site"),
                        param(
                            "q",
                            "query",
                            {"type": "string", "maxLength": TEXT_MAX},
                            "Text found in the name or the body (accents and case ignored)",
                        ),
                        param(
                            "order",
                            "query",
                            {"enum": list(ORDERS), "default": "newest"},
                            "newest first (page with `before`) or oldest first (with `after`)",
                        ),
                        param(
                            "limit",
                            "query",
                            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20},
                            "page size",
                        ),
                        param(
                            "before",
                            "query",
                            {"type": "integer", "minimum": 1},
                            "Only items with a smaller id (the previous page's next_before)",
                        ),
                        param(
                            "after",
                            "query",
                            {"type": "integer", "minimum": 1},
                            "order=oldest: only items with a larger id (next_after)",
                        ),
                    ],
                ),
            },
            "/api/v1/feedback/{id}": {
                "get": _moderation("One item"),
                "patch": _moderation(
                    "Edit the public fields (pending or approved items); an approved item is "
                    "re-published (feedback.updated)",
                    *BODY_PROBLEMS,
                    "409",
                    body=body(EDIT_SCHEMA.schema),
                    description=(
                        f"`author_name` at most {domain.NAME_MAX} characters; `body` "
                        f"{domain.BODY_MIN} to {domain.BODY_MAX}."
                    ),
                ),
            },
            "/api/v1/feedback/{id}/approve": {
                "post": _moderation(
                    "Approve a pending item: feedback.approved with the public fields", "409"
                )
            },
            "/api/v1/feedback/{id}/reject": {
                "post": _moderation(
                    "Reject a pending item, with the public reason: feedback.rejected",
                    "400",
                    "409",
                    "413",
                    "415",
                    "422",
                    body={
                        "required": False,
                        "content": {"application/json": {"schema": REJECT_SCHEMA.schema}},
                    },
                    description=(
                        f"`reason` (optional, at most {domain.REASON_MAX} characters) is shown "
                        "to the reader on the status page; it is not in feedback.rejected. "
                        f"The desk offers: {'; '.join(domain.REJECT_REASONS)}."
                    ),
                )
            },
            "/api/v1/feedback/{id}/history": {
                "get": op(
                    "Who did what to the item, and when (oldest first)",
                    {"200": ok("The item's history", ref("History"))}
                    | problems(*PROTECTED, "404", DATABASE),
                    auth=True,
                    parameters=[ITEM_ID],
                )
            },
            "/api/v1/feedback/export.csv": {
                "get": op(
                    "Export items as CSV (UTF-8 with BOM), oldest first",
                    {
                        "200": ok(
                            "Columns: " + ", ".join(EXPORT_COLUMNS) + ". A cell starting with "
                            "=, +, -, @, tab or carriage return is prefixed with an apostrophe.",
                            {"type": "string"},
                            "text/csv",
                        )
                    }
                    | problems(*PROTECTED, "422", DATABASE),
                    auth=True,
                    parameters=[
                        param(
                            "from",
                            "query",
                            {"type": "string", "format": "date"},
                            "First day of submission (Asia/Ho_Chi_Minh); 30 days ago by default",
                        ),
                        param(
                            "to",
                            "query",
                            {"type": "string", "format": "date"},
                            "Last day, included; today by default",
                        ),
                        param("status", "query", {"enum": STATUSES}, "Only items in this status"),
                    ],
                )
            },
            "/api/v1/feedback/{id}/withdraw": {
                "post": _moderation(
                    "Withdraw an item (pending, approved or rejected): its name, e-mail, text "
                    "and reply are erased; feedback.withdrawn",
                    "409",
                )
            },
            "/api/v1/feedback/{id}/reply": {
                "put": _moderation(
                    "Set the organisation's official reply (signed with the moderator's name); "
                    "an approved item is re-published (feedback.updated)",
                    *BODY_PROBLEMS,
                    "409",
                    body=body(REPLY_SCHEMA.schema),
                    description=f"`body`: 1 to {domain.REPLY_MAX} characters.",
                )
            },
        },
    )


routes = web.RouteTableDef()


@routes.get("/api/v1/feedback/openapi.json")
async def serve(request: web.Request) -> web.Response:
    return openapi.response(document)
