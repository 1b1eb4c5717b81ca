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
from services.feedback import domain, limits, receipts, spam
from services.feedback.api import (
    EDIT_SCHEMA,
    EXPORT_COLUMNS,
    IDEMPOTENCY_HEADER,
    MAX_LIMIT,
    ORDERS,
    REJECT_SCHEMA,
    REPLY_SCHEMA,
    SPAM_STATS_DEFAULT_DAYS,
    SPAM_STATS_MAX_DAYS,
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
            "invalid_transition: the action does not apply to the item's status; nothing "
            "changed. not_for_questions (the /qa routes): only an approved and answered "
            "site suggestion can be shown on /hoi-dap"
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
        "required": ["id", "status", "receipt", "status_url"],
        "properties": {
            "id": {"type": "integer"},
            "status": {"const": "pending"},
            "receipt": {
                "type": "string",
                "pattern": "^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{2}$",
                "description": (
                    "The case's receipt code (10 characters of Crockford base32, 50 random "
                    "bits): whoever holds it sees the case's status and answer at "
                    f"{receipts.LOOKUP_PATH}?ma=CODE. Only its hash is stored; it cannot be "
                    "shown again except by repeating the request with the same Idempotency-Key."
                ),
            },
            "status_url": {"type": "string", "description": "The status page of the case"},
        },
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
            "hold_reasons": {
                "type": "array",
                "items": {"enum": [reason.value for reason in spam.HoldReason]},
                "description": "Why the item was held for a moderator (empty if it was not)",
            },
            "reply": ref("Reply"),
            "public_qa": {
                "type": "boolean",
                "description": "Shown on /hoi-dap (site suggestions, approved and answered)",
            },
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
    "SpamStats": {
        "type": "object",
        "required": ["days", "since", "counts"],
        "properties": {
            "days": {"type": "integer"},
            "since": {"type": "string", "format": "date"},
            "counts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["outcome", "reason", "label", "target", "count"],
                    "properties": {
                        "outcome": {"enum": ["refused", "held"]},
                        "reason": {"type": "string", "description": "The refusal's code"},
                        "label": {"type": "string", "description": "Vietnamese"},
                        "target": {"enum": ["article", "site"]},
                        "count": {"type": "integer", "minimum": 1},
                    },
                },
            },
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
                        "action": {
                            "enum": sorted(
                                a
                                for a, _ in (
                                    *domain.ACTIONS.values(),
                                    *domain.QUESTION_ACTIONS.values(),
                                )
                            )
                        },
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
    "site, otherwise a published article. `phone` is optional and private like the e-mail "
    "(8 to 15 digits, at most {phone} characters); `title` is optional, at most {title} "
    "characters. Text is normalised to NFC. The e-mail and phone are deleted "
    "FEEDBACK_CONTACT_RETENTION_DAYS (90) days after the case is closed.\n\n"
    "Spam rules. Refused (nothing stored; each refusal counted by its code in spam-stats): "
    f"more than {spam.MAX_LINKS_HELD} links; the same text (whatever its case, spacing or "
    "punctuation) sent again by the same visitor to the same target within 24 hours (the "
    "first is already waiting); the daily cap and the limit per minute of a visitor. Held "
    "for a moderator (stored with status `held` and its `hold_reasons`, answered 202 like "
    "any accepted submission): "
    f"more than {spam.MAX_LINKS} links (`many_links`); a word of the configured banned list "
    "in the name or the text, compared without accents or case (`banned_word`); the same "
    "text the same visitor sent to another target within 24 hours (`repeated_text`). A "
    "visitor is a keyed hash of the client address and the day; the address is never stored."
).format(phone=domain.PHONE_MAX, title=domain.TITLE_MAX)

IDEMPOTENCY = param(
    IDEMPOTENCY_HEADER,
    "header",
    {"type": "string", "minLength": 1, "maxLength": receipts.API_KEY_MAX},
    "Optional; a random value (a UUID) per submission. Sent again with the same body (after "
    "a timeout, a lost answer), nothing is stored and the first case is answered again: the "
    "same id and receipt, with `Idempotent-Replayed: true`. The same key with another body "
    "is refused (422 idempotency_key_reused). Visible ASCII, 1 to 255 characters.",
)


def _submission() -> dict[str, Any]:
    """POST /api/v1/feedback: open to every reader, so its refusals say more."""
    return op(
        "Send feedback (kept pending until a moderator approves it)",
        {
            "202": ok(
                "Stored, pending or held for a moderator (answered `pending` alike; "
                "feedback.submitted published), or the case stored earlier with the same "
                "Idempotency-Key",
                ref("Accepted"),
            )
        }
        | problems(*BODY_PROBLEMS, "403", DATABASE)
        | {
            "409": problems.answer(
                "409",
                "spam_duplicate: this visitor sent the same text to the same target in the "
                "last 24 hours",
            ),
            "422": problems.answer(
                "422",
                "invalid_input (per-field errors; a malformed Idempotency-Key too), "
                "article_unavailable (unknown or unpublished article), spam_too_many_links "
                f"(more than {spam.MAX_LINKS_HELD} links), idempotency_key_reused (the key "
                "was sent before with another body; nothing stored)",
            ),
            "429": problems.answer(
                "429",
                "too_many_submissions: this client address has sent its daily number of "
                "submissions (FEEDBACK_DAILY_LIMIT_PER_ADDRESS, 20 by default; forms and API "
                "together; the day is the calendar day in Asia/Ho_Chi_Minh). Retry-After "
                "gives the seconds until midnight there. submission_rate: this visitor has "
                f"sent {limits.DEFAULT_PER_MINUTE} (FEEDBACK_LIMIT_PER_MINUTE) in the last "
                "minute; Retry-After gives the seconds to wait.",
            ),
        },
        body=body(ref("Submission")),
        parameters=[IDEMPOTENCY],
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
            "Moderation needs a token (Authorization: Bearer, or the bantin_access cookie) "
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
            "/api/v1/feedback/spam-stats": {
                "get": op(
                    "Refused and held submissions, counted by reason and target kind",
                    {"200": ok("The counts, largest first", ref("SpamStats"))}
                    | problems(*PROTECTED, "422", DATABASE),
                    auth=True,
                    parameters=[
                        param(
                            "days",
                            "query",
                            {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": SPAM_STATS_MAX_DAYS,
                                "default": SPAM_STATS_DEFAULT_DAYS,
                            },
                            "the last so many calendar days in Asia/Ho_Chi_Minh, today included",
                        )
                    ],
                    description=(
                        "Every refusal of a submission by a spam rule or a limit (code as in "
                        "the refusal's problem) and every hold (code as in hold_reasons). "
                        "The records hold no address, visitor key or text."
                    ),
                )
            },
            "/api/v1/feedback/{id}": {
                "get": _moderation("One item"),
                "patch": _moderation(
                    "Edit the public fields (pending, held or approved items); an approved item is "
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
                    "Approve a pending or held item: feedback.approved with the public fields",
                    "409",
                )
            },
            "/api/v1/feedback/{id}/reject": {
                "post": _moderation(
                    "Reject a pending or held item, with the public reason: feedback.rejected",
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
                    "Withdraw an item (pending, held, approved or rejected): its name, e-mail, "
                    "text and reply are erased; feedback.withdrawn",
                    "409",
                )
            },
            "/api/v1/feedback/{id}/qa": {
                "post": _moderation(
                    "Show an approved, answered site suggestion on /hoi-dap (name, date, "
                    "question and the organisation's answer; never the e-mail or phone)",
                    "409",
                ),
                "delete": _moderation("Stop showing a site suggestion on /hoi-dap", "409"),
            },
            "/api/v1/feedback/{id}/reply": {
                "put": _moderation(
                    "Set the organisation's official reply, signed in public with the "
                    "organisation's unit name (FEEDBACK_ORGANISATION_NAME, 'Ban biên tập' by "
                    "default; the moderator is recorded privately); an approved item is "
                    "re-published (feedback.updated)",
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
