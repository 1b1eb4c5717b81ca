"""The OpenAPI 3.1 document of the articles API, served at /api/v1/articles/openapi.json.

Request bodies are the very JSON Schemas the handlers check input with (services/articles/
api.py), so the document cannot drift from what the API accepts. How documents are built and
served is common to every service (services/common/openapi.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.articles import api, domain
from services.articles.api import USER_CREATE, USER_PATCH
from services.articles.domain import STATES, TRANSITIONS
from services.common import openapi
from services.common.openapi import bodies, body, ok, op, param, ref
from services.common.roles import ROLES

problems = openapi.Problems(
    {
        "401": (
            "no valid token (unauthenticated, token_expired, token_invalid, account_disabled; "
            "invalid_credentials when signing in)"
        ),
        "404": (
            "not found (article_not_found, category_not_found, tag_not_found, "
            "topic_not_found, page_not_found, revision_not_found, user_not_found, "
            "document_not_found)"
        ),
        "409": (
            "conflict (slug_taken, version_conflict, invalid_transition: the step is not "
            "open from the article's state, not_published, username_taken, "
            "category_not_empty, category_has_children, category_too_deep, last_admin: "
            "the change would leave no enabled admin; for pages also already_published, "
            "not_deleted and page_deleted: restore it first)"
        ),
        "415": (
            "wrong media type (unsupported_media_type; unsupported_image_type: the file's "
            "first bytes are no JPEG, PNG, WebP, GIF or HEIC; unsupported_document_type: the "
            "content is no PDF, DOCX, XLSX, ODT or ODS, or the file name's extension names "
            "another type)"
        ),
        "429": "too many failed logins (too_many_attempts), with Retry-After",
    }
)
# Every route with a JSON or multipart body: unreadable, too large, wrong type, bad fields.
BODY_PROBLEMS = ("400", "413", "415", "422")
# Every route that reads the database (the token's user is looked up on protected ones).
DATABASE = "503"
PROTECTED = ("401", "403")

ARTICLE_ID = param("id", "path", {"type": "integer", "minimum": 1}, "article id")
REVISION = param(
    "rev", "path", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, "revision number"
)
USER_ID = param("id", "path", {"type": "integer", "minimum": 1}, "user id")
REVISION = param("rev", "path", {"type": "integer", "minimum": 1}, "revision number")
CATEGORY_ID = param("id", "path", {"type": "integer", "minimum": 1}, "category id")
DOCUMENT_ID = param("id", "path", {"type": "integer", "minimum": 1}, "document id")
TAG_ID = param("id", "path", {"type": "integer", "minimum": 1}, "tag id")
TOPIC_ID = param("id", "path", {"type": "integer", "minimum": 1}, "topic id")
PIN_SCOPE = param(
    "scope", "query", {"enum": ["home", "category"]}, "which pin to end", required=True
)
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

EXPIRES_IN: dict[str, Any] = {
    "type": "object",
    "required": ["expires_in"],
    "properties": {"expires_in": {"type": "integer", "description": "the access token's seconds"}},
}

SCHEMAS: dict[str, Any] = {
    "Token": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": {"type": "string", "description": "EdDSA JWT"},
            "token_type": {"const": "Bearer"},
            "expires_in": {"type": "integer", "description": "seconds"},
        },
    },
    "Category": {
        "type": "object",
        "required": ["id", "name", "slug"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "slug": {"type": "string"},
            "parent_id": {
                "type": ["integer", "null"],
                "description": "the parent of a child category (categories nest one level)",
            },
            "position": {"type": "integer", "description": "order in the menu, then by name"},
        },
    },
    "Named": {
        "type": "object",
        "description": "a tag or a topic",
        "required": ["id", "slug", "name"],
        "properties": {
            "id": {"type": "integer"},
            "slug": {"type": "string"},
            "name": {"type": "string"},
        },
    },
    "NamedList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": ref("Named")}},
    },
    "ArticleSummary": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "slug": {"type": "string"},
            "url": {"type": "string", "description": "public page, /tin/{slug}-{id}"},
            "title": {"type": "string"},
            "summary": {"type": "string"},
            "byline": {"type": "string"},
            "category_id": {"type": "integer"},
            "category": ref("Category"),
            "image_id": {"type": ["integer", "null"]},
            "image_url": {"type": ["string", "null"]},
            "image_caption": {"type": "string"},
            "image_alt": {
                "type": "string",
                "description": "The lead image's alt text; empty: the page uses the caption.",
            },
            "author_name": {"type": "string"},
            "unit": {"type": "string"},
            "source": {"type": "string", "description": "Nguồn"},
            "status": {"enum": list(STATES)},
            "version": {"type": "integer", "description": "rises with every change"},
            "author_id": {"type": "integer"},
            "created_at": _TIME,
            "updated_at": _TIME,
            "published_at": _NULLABLE_TIME,
            "text_updated_at": {
                **_TIME,
                "description": "last change of the text ('Cập nhật vào ngày')",
            },
            "publish_at": {**_NULLABLE_TIME, "description": "scheduled publication"},
            "end_at": {**_NULLABLE_TIME, "description": "when it expires"},
            "return_reason": {
                "type": ["string", "null"],
                "description": "why an editor sent it back (until it moves on)",
            },
            "deleted_at": {**_NULLABLE_TIME, "description": "in the trash since"},
            "category_parent": {
                "oneOf": [ref("Category"), {"type": "null"}],
                "description": "the category's parent, if the category is a child",
            },
            "tags": {"type": "array", "items": ref("Named")},
            "topic_id": {"type": ["integer", "null"]},
            "topic": {"oneOf": [ref("Named"), {"type": "null"}]},
            "featured": {
                "type": "object",
                "description": "pins still running (null: none, or ended)",
                "properties": {"home_until": _NULLABLE_TIME, "category_until": _NULLABLE_TIME},
            },
        },
    },
    "History": {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["from", "to", "action", "user_id", "at", "reason"],
                    "properties": {
                        "from": {"enum": list(STATES)},
                        "to": {"enum": list(STATES)},
                        "action": {"enum": list(TRANSITIONS)},
                        "user_id": {
                            "type": ["integer", "null"],
                            "description": "null: the scheduler",
                        },
                        "at": _TIME,
                        "reason": {"type": ["string", "null"]},
                    },
                },
            }
        },
    },
    "Revision": {
        "type": "object",
        "required": ["number", "article_id", "title", "summary", "created_at"],
        "properties": {
            "number": {"type": "integer"},
            "article_id": {"type": "integer"},
            "title": {"type": "string"},
            "summary": {"type": "string"},
            "body_html": {"type": "string", "description": "only when one revision is read"},
            "author_name": {"type": "string"},
            "unit": {"type": "string"},
            "byline": {"type": "string"},
            "source": {"type": "string"},
            "user_id": {"type": ["integer", "null"]},
            "created_at": _TIME,
        },
    },
    "RevisionList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": ref("Revision")}},
    },
    "RevisionDiff": {
        "type": "object",
        "required": ["from", "to", "title", "summary", "body"],
        "properties": {
            "from": {"type": "integer"},
            "to": {"type": "integer"},
            "title": {"type": "string", "description": "unified diff; empty when equal"},
            "summary": {"type": "string", "description": "unified diff; empty when equal"},
            "body": {"type": "string", "description": "unified diff of the text, per block"},
        },
    },
    "Article": {
        "allOf": [
            ref("ArticleSummary"),
            {
                "type": "object",
                "properties": {"body_html": {"type": "string", "description": "sanitised"}},
            },
        ]
    },
    "ArticleList": {
        "type": "object",
        "required": ["items", "next_before"],
        "properties": {
            "items": {"type": "array", "items": ref("ArticleSummary")},
            "next_before": {
                "type": ["integer", "null"],
                "description": "pass as ?before= for the next page; null at the end",
            },
        },
    },
    "Image": {
        "type": "object",
        "required": ["id", "url", "content_type", "size", "width", "height", "variants"],
        "properties": {
            "id": {"type": "integer"},
            "url": {
                "type": "string",
                "description": (
                    "/anh/{id}: the cleaned original (full size, no EXIF or GPS, upright; "
                    "an animated GIF keeps its frames; HEIC is kept as JPEG)"
                ),
            },
            "content_type": {"enum": ["image/jpeg", "image/png", "image/webp", "image/gif"]},
            "size": {"type": "integer", "description": "bytes of the cleaned original"},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "variants": {"type": "array", "items": ref("ImageVariant")},
        },
    },
    "ImageVariant": {
        "type": "object",
        "description": (
            "Made once at upload, never wider than the original: lead (the article page, "
            f"{domain.LEAD_WIDTH} px wide), list ({domain.LIST_WIDTH} px), share (the card "
            f"of a shared link, {domain.SHARE_SIZE[0]}x{domain.SHARE_SIZE[1]}, centred crop); "
            "each in the original's type (PNG for a GIF, JPEG for a HEIC) and WebP. Served "
            "with Cache-Control: public, max-age=31536000, immutable, an ETag and nosniff."
        ),
        "required": ["name", "url", "content_type", "width", "height", "size"],
        "properties": {
            "name": {"enum": list(domain.VARIANT_NAMES)},
            "url": {"type": "string", "description": "/anh/{id}/{name}.{jpg|png|webp}"},
            "content_type": {"enum": list(domain.EXTENSIONS)},
            "width": {"type": "integer"},
            "height": {"type": "integer"},
            "size": {"type": "integer", "description": "bytes"},
        },
    },
    "Document": {
        "type": "object",
        "description": "a document (văn bản) attached to an article",
        "required": [
            "id",
            "article_id",
            "title",
            "file_name",
            "content_type",
            "kind",
            "size",
            "position",
            "url",
            "uploaded_at",
        ],
        "properties": {
            "id": {"type": "integer"},
            "article_id": {"type": "integer"},
            "title": {"type": "string", "description": "the name readers see"},
            "file_name": {"type": "string", "description": "offered when downloading"},
            "content_type": {"enum": list(domain.DOCUMENT_TYPES)},
            "kind": {"enum": sorted({kind for _, kind in domain.DOCUMENT_TYPES.values()})},
            "size": {"type": "integer", "description": "bytes"},
            "position": {"type": "integer", "description": "order in the article's list"},
            "url": {"type": "string", "description": "/van-ban/{id}, once the article is public"},
            "uploaded_at": _TIME,
        },
    },
    "DocumentList": {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Document"}}
        },
    },
    "User": {
        "type": "object",
        "description": "a user of the admin; never a password or its hash",
        "required": ["id", "username", "display_name", "roles", "disabled", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "username": {"type": "string"},
            "display_name": {"type": "string"},
            "roles": {
                "type": "array",
                "items": {"enum": sorted(ROLES)},
            },
            "disabled": {"type": "boolean"},
            "must_change_password": {
                "type": "boolean",
                "description": "an admin set the password: no token until its owner changes it",
            },
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    },
    "UserList": {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": ref("User")}},
    },
    "Page": {
        "type": "object",
        "description": ("a static page; `updated_by` and `deleted_at` only for editors and admins"),
        "required": ["slug", "url", "title", "status", "version", "updated_at"],
        "properties": {
            "slug": {"type": "string"},
            "url": {"type": "string", "description": "/gioi-thieu or /trang/{slug}"},
            "title": {"type": "string"},
            "body_html": {"type": "string", "description": "sanitised"},
            "status": {
                "enum": ["draft", "published", "deleted", "default"],
                "description": "default: the built-in text of a page nobody has written",
            },
            "version": {"type": "integer", "description": "rises with every change; 0: default"},
            "updated_at": _NULLABLE_TIME,
            "updated_by": {"anyOf": [ref("Who"), {"type": "null"}]},
            "deleted_at": {
                **_NULLABLE_TIME,
                "description": f"in the trash since; purged {domain.PAGE_TRASH_DAYS} days later",
            },
        },
    },
    "PageList": {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {"type": "array", "items": ref("Page"), "description": "without body_html"}
        },
    },
    "Who": {
        "type": "object",
        "required": ["id", "display_name"],
        "properties": {"id": {"type": "integer"}, "display_name": {"type": ["string", "null"]}},
    },
    "PageRevision": {
        "type": "object",
        "required": ["number", "title", "saved_by", "saved_at", "restored_from"],
        "properties": {
            "number": {"type": "integer", "description": "1, 2, 3... per page"},
            "title": {"type": "string"},
            "body_html": {"type": "string"},
            "saved_by": {"anyOf": [ref("Who"), {"type": "null"}]},
            "saved_at": _TIME,
            "restored_from": {
                "type": ["integer", "null"],
                "description": "the revision this save restored",
            },
        },
    },
    "PageRevisionList": {
        "type": "object",
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "items": ref("PageRevision"),
                "description": "newest first, without body_html",
            }
        },
    },
}

PAGES_DESCRIPTION = (
    'Static pages ("Giới thiệu" at /gioi-thieu, others at /trang/{slug}) are managed by '
    "editors and admins (authors and moderators get 403). A page is a `draft` or "
    "`published`, or `deleted` (in the trash, restorable for "
    f"{domain.PAGE_TRASH_DAYS} days, then purged with its revisions). Only a published page "
    "is public (its page, /so-do, /sitemap.xml, the public GET); a built-in page "
    '("gioi-thieu") shows its default text until a page with its slug is published. '
    "Editing a published page changes the public text at once (like WordPress' Update); "
    "to prepare a change out of sight, unpublish first. Every save of the text keeps a "
    "revision. Pages publish no events."
)

IMAGE_MEGABYTES = domain.IMAGE_MAX_BYTES // (1024 * 1024)
IMAGE_MEGAPIXELS = domain.IMAGE_MAX_PIXELS // 1_000_000
IMAGE_UPLOAD: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}},
}

DOCUMENT_UPLOAD: dict[str, Any] = {
    **api.DOCUMENT_UPLOAD.schema,
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary"},
        **api.DOCUMENT_UPLOAD.schema["properties"],
    },
}
DOCUMENT_FILE = {
    "description": "the file, as uploaded, with Content-Disposition: attachment",
    "content": {
        content_type: {"schema": {"type": "string", "format": "binary"}}
        for content_type in domain.DOCUMENT_TYPES
    },
}


STEP_SUMMARIES = {
    "submit": "Send a draft for review (its author, an editor)",
    "return": "Send a pending article back to its author as a draft, with a reason (editor)",
    "publish": (
        "Publish (editor), now or at a publication time in the past: article.published, "
        "or article.updated when it already was public"
    ),
    "schedule": (
        "Schedule (editor): it publishes itself at publish_at (future) and, with end_at, "
        "expires then (article.unpublished)"
    ),
    "unpublish": "Take down a published article or cancel a schedule (editor)",
    "delete": (
        "Into the trash (editor), restorable for 30 days, then purged; article.unpublished "
        "when it was public"
    ),
    "restore": "Out of the trash into its former state, unpublished if it was public (editor)",
}
# The steps that read a body, and whether it may be left out.
STEP_BODIES = {
    "return": (api.ARTICLE_RETURN.schema, True),
    "schedule": (api.ARTICLE_SCHEDULE.schema, True),
    "publish": (api.ARTICLE_PUBLISH.schema, False),
}


def step_operation(step: str, summary: str) -> dict[str, Any]:
    """A step of the workflow: who may take it from where is domain.TRANSITIONS."""
    transition = TRANSITIONS[step]
    description = (
        f"From {', '.join(s for s in STATES if s in transition.sources)}; "
        "403 forbidden for a role the step is not open to, 409 invalid_transition from "
        "any other state."
    )
    statuses = [*PROTECTED, "404", "409", DATABASE]
    step_body = None
    if step in STEP_BODIES:
        schema, required = STEP_BODIES[step]
        step_body = body(schema) | {"required": required}
        statuses += BODY_PROBLEMS
    return op(
        summary,
        {"200": ok("the article after the step", ref("Article"))} | problems(*statuses),
        auth=True,
        body=step_body,
        parameters=[ARTICLE_ID],
        description=description,
    )


def document() -> openapi.Document:
    article = {"200": ok("the article", ref("Article"))}
    slug = param("slug", "path", {"type": "string"}, "page slug")
    page = {"200": ok("the page", ref("Page"))}
    return openapi.document(
        title="Bantin articles API",
        description=(
            "Access tokens, categories (nested one level), tags, topics, articles (with "
            "their tags, topic and pins), images, static pages and users. Errors "
            "are application/problem+json with a stable `code` and a Vietnamese "
            "`detail`. Writing needs a token (Authorization: Bearer, or the "
            "bantin_access cookie): authors create and edit their own drafts; editors "
            "create, edit, publish and unpublish any article and manage static pages; admins "
            "manage users and pass every check. " + PAGES_DESCRIPTION
        ),
        schemas=SCHEMAS,
        paths={
            "/api/v1/articles/openapi.json": openapi.this_document(),
            "/api/v1/auth/token": {
                "post": op(
                    "Sign in: an access token for a username and password",
                    {"200": ok("a token", ref("Token"))}
                    | problems(*BODY_PROBLEMS, "401", "403", "429", DATABASE),
                    body=body(api.LOGIN.schema),
                    description=(
                        "403 password_change_required: the password was set by an admin (or "
                        "is the first admin's from the settings); change it first with "
                        "POST /api/v1/auth/password. 503 busy, with Retry-After, when too "
                        "many passwords are being checked at once."
                    ),
                )
            },
            # --- desk: auth ---
            "/api/v1/auth/session": {
                "post": op(
                    "Sign a browser in: a revocable sign-in session (HttpOnly cookie "
                    "bantin_session) and an access token cookie (bantin_access)",
                    {"200": ok("signed in", EXPIRES_IN)}
                    | problems(*BODY_PROBLEMS, "401", "403", "429", DATABASE),
                    body=body(api.LOGIN.schema),
                    description=(
                        "For pages that sign in again in place. 403 password_change_required "
                        "as for /api/v1/auth/token."
                    ),
                )
            },
            "/api/v1/auth/refresh": {
                "post": op(
                    "Renew the access token cookie from the browser's sign-in session",
                    {"200": ok("renewed", EXPIRES_IN)}
                    | problems(*BODY_PROBLEMS, "401", "403", DATABASE),
                    body=body(api.REFRESH.schema),
                    description=(
                        "401 session_ended when the session is gone (signed out, password "
                        "changed or reset, account disabled, idle or absolute limit passed)."
                    ),
                )
            },
            "/api/v1/auth/password": {
                "post": op(
                    "Change one's own password with the current one; every sign-in session "
                    "of the account ends",
                    {"204": ok("changed")} | problems(*BODY_PROBLEMS, "401", "429", DATABASE),
                    body=body(api.PASSWORD_CHANGE.schema),
                )
            },
            "/api/v1/categories": {
                "get": op(
                    "Every category",
                    {
                        "200": ok(
                            "categories",
                            {
                                "type": "object",
                                "properties": {
                                    "items": {"type": "array", "items": ref("Category")}
                                },
                            },
                        )
                    }
                    | problems(DATABASE),
                ),
                "post": op(
                    "Create a category (editor); the slug comes from the name if not given",
                    {"201": ok("created", ref("Category"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, "409", DATABASE),
                    auth=True,
                    body=body(api.CATEGORY_CREATE.schema),
                ),
            },
            "/api/v1/categories/{id}": {
                "patch": op(
                    "Rename, reorder or nest a category (editor). parent_id null moves it to "
                    "the top; a child cannot have children and a parent cannot become a "
                    "child (409). A new name, slug or parent writes article.updated for "
                    "every public article it touches",
                    {"200": ok("the category", ref("Category"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    body=body(api.CATEGORY_PATCH.schema),
                    parameters=[CATEGORY_ID],
                ),
                "delete": op(
                    "Delete an empty category (editor): 409 category_not_empty while any "
                    "article (of any state) is in it, category_has_children while it has "
                    "children",
                    {"204": ok("deleted")} | problems(*PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    parameters=[CATEGORY_ID],
                ),
            },
            "/api/v1/tags": {
                "get": op("Every tag", {"200": ok("tags", ref("NamedList"))} | problems(DATABASE)),
                "post": op(
                    "Create a tag (author, editor); the slug comes from the name if not "
                    "given. An article's `tags` also creates the names it does not find",
                    {"201": ok("created", ref("Named"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, "409", DATABASE),
                    auth=True,
                    body=body(api.NAMED.schema),
                ),
            },
            "/api/v1/tags/{id}": {
                "patch": op(
                    "Rename a tag (editor); writes article.updated for every public article "
                    "with it",
                    {"200": ok("the tag", ref("Named"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    body=body(api.NAMED.schema),
                    parameters=[TAG_ID],
                ),
                "delete": op(
                    "Delete a tag (editor), taking it off every article; writes "
                    "article.updated for every public one",
                    {"204": ok("deleted")} | problems(*PROTECTED, "404", DATABASE),
                    auth=True,
                    parameters=[TAG_ID],
                ),
            },
            "/api/v1/topics": {
                "get": op(
                    "Every topic (dòng sự kiện), newest first",
                    {"200": ok("topics", ref("NamedList"))} | problems(DATABASE),
                ),
                "post": op(
                    "Create a topic (editor); the slug comes from the name if not given",
                    {"201": ok("created", ref("Named"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, "409", DATABASE),
                    auth=True,
                    body=body(api.TOPIC.schema),
                ),
            },
            "/api/v1/topics/{id}": {
                "patch": op(
                    "Rename a topic (editor); writes article.updated for every public "
                    "article in it",
                    {"200": ok("the topic", ref("Named"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    body=body(api.TOPIC.schema),
                    parameters=[TOPIC_ID],
                ),
                "delete": op(
                    "Delete a topic (editor); its articles stay, without a topic, and the "
                    "public ones write article.updated",
                    {"204": ok("deleted")} | problems(*PROTECTED, "404", DATABASE),
                    auth=True,
                    parameters=[TOPIC_ID],
                ),
            },
            "/api/v1/articles/{id}/feature": {
                "post": op(
                    "Pin (editor) to the top of the home page or of its category until a "
                    "future time; the pin ends by itself then. Any article may be pinned; "
                    "it shows once it is public. A public article writes article.updated",
                    article | problems(*BODY_PROBLEMS, *PROTECTED, "404", DATABASE),
                    auth=True,
                    body=body(api.FEATURE.schema),
                    parameters=[ARTICLE_ID],
                ),
                "delete": op(
                    "End a pin now (editor); a public article writes article.updated",
                    article | problems(*PROTECTED, "404", "422", DATABASE),
                    auth=True,
                    parameters=[ARTICLE_ID, PIN_SCOPE],
                ),
            },
            "/api/v1/articles": {
                "get": op(
                    "Published articles, newest first; with a staff token and any of "
                    "status, author, q: articles in any state, newest first by id (an "
                    "author's own only)",
                    {"200": ok("a page of articles", ref("ArticleList"))}
                    | problems("401", "403", "404", "422", DATABASE),
                    parameters=[
                        param("status", "query", {"enum": list(STATES)}, "staff: this state"),
                        param(
                            "author",
                            "query",
                            {"type": "integer", "minimum": 1},
                            "staff: this author's articles",
                        ),
                        param("q", "query", {"type": "string"}, "staff: words in the text"),
                        param(
                            "category",
                            "query",
                            {"type": "string"},
                            "category slug (a parent's articles include its children's)",
                        ),
                        param(
                            "limit",
                            "query",
                            {"type": "integer", "minimum": 1, "maximum": api.MAX_LIST_LIMIT},
                            "page size (default 20)",
                        ),
                        param(
                            "before", "query", {"type": "integer"}, "continue after this article"
                        ),
                    ],
                ),
                "post": op(
                    "Create a draft (author, editor); body_html is sanitised",
                    {"201": ok("the draft", ref("Article"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, DATABASE),
                    auth=True,
                    body=body(api.ARTICLE_CREATE.schema),
                ),
            },
            "/api/v1/articles/{id}": {
                "get": op(
                    "An article: published ones for everyone, drafts for their author and editors",
                    article | problems("404", DATABASE),
                    parameters=[ARTICLE_ID],
                ),
                "patch": op(
                    "Change some fields; a published article's change writes article.updated. "
                    "`version`, if given, must be the current one. An author edits only "
                    "their own drafts",
                    article | problems(*BODY_PROBLEMS, *PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    body=body(api.ARTICLE_PATCH.schema),
                    parameters=[ARTICLE_ID],
                ),
                "delete": step_operation("delete", "Into the trash (as POST .../delete)"),
            },
            **{
                f"/api/v1/articles/{{id}}/{step}": {"post": step_operation(step, summary)}
                for step, summary in STEP_SUMMARIES.items()
            },
            "/api/v1/articles/{id}/history": {
                "get": op(
                    "Every step the article went through, oldest first (its author, editors)",
                    {"200": ok("the history", ref("History"))}
                    | problems(*PROTECTED, "404", DATABASE),
                    auth=True,
                    parameters=[ARTICLE_ID],
                )
            },
            "/api/v1/articles/{id}/revisions": {
                "get": op(
                    "Every saved text of the article, newest first, without the body",
                    {"200": ok("revisions", ref("RevisionList"))}
                    | problems(*PROTECTED, "404", DATABASE),
                    auth=True,
                    parameters=[ARTICLE_ID],
                )
            },
            "/api/v1/articles/{id}/revisions/{rev}": {
                "get": op(
                    "One saved text of the article",
                    {"200": ok("the revision", ref("Revision"))}
                    | problems(*PROTECTED, "404", "422", DATABASE),
                    auth=True,
                    parameters=[ARTICLE_ID, REVISION],
                )
            },
            "/api/v1/articles/{id}/revisions/compare": {
                "get": op(
                    "A unified diff of two revisions' title, summary and body text",
                    {"200": ok("the differences", ref("RevisionDiff"))}
                    | problems(*PROTECTED, "404", "422", DATABASE),
                    auth=True,
                    parameters=[
                        ARTICLE_ID,
                        param(
                            "from",
                            "query",
                            {"type": "integer", "minimum": 1},
                            "older",
                            required=True,
                        ),
                        param(
                            "to", "query", {"type": "integer", "minimum": 1}, "newer", required=True
                        ),
                    ],
                )
            },
            "/api/v1/articles/{id}/revisions/{rev}/restore": {
                "post": op(
                    "Make a revision's text the article's again (an edit: a new revision, "
                    "article.updated if public)",
                    article | problems(*PROTECTED, "404", "409", "422", DATABASE),
                    auth=True,
                    parameters=[ARTICLE_ID, REVISION],
                )
            },
            "/api/v1/images": {
                "post": op(
                    f"Upload an image (author, editor): JPEG, PNG, WebP, GIF or HEIC up to "
                    f"{IMAGE_MEGABYTES} MB and {IMAGE_MEGAPIXELS} megapixels",
                    {"201": ok("stored", ref("Image"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, DATABASE)
                    | {
                        "413": problems.answer(
                            "413", f"the file is over {IMAGE_MEGABYTES} MB (body_too_large)"
                        ),
                        "422": problems.answer(
                            "422",
                            "the file does not decode as the image its first bytes claim "
                            "(image_unreadable), its header claims more than "
                            f"{IMAGE_MEGAPIXELS} megapixels, all frames counted "
                            "(image_too_large_in_pixels: refused before decoding), or the "
                            "field file is missing (invalid_input); nothing is stored",
                        ),
                    },
                    auth=True,
                    body=bodies({"multipart/form-data": IMAGE_UPLOAD}),
                    description=(
                        "The file (multipart field `file`) must decode, with Pillow, as the "
                        "type its first bytes claim, whatever its name says. It is stored "
                        "without its metadata (EXIF, GPS), turned as its EXIF orientation "
                        "says, and resized once into the variants the public pages use "
                        "(srcset, width and height). Location: /anh/{id}."
                    ),
                )
            },
            "/api/v1/articles/{id}/documents": {
                "post": op(
                    "Attach a document (whoever may edit the article): PDF, DOCX, XLSX, ODT "
                    f"or ODS up to {domain.DOCUMENT_MAX_BYTES // (1024 * 1024)} MB, its type "
                    "read from its content and agreeing with its name's extension; the "
                    "title defaults to the file name without its extension",
                    {"201": ok("stored, last in the article's list", ref("Document"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    body=bodies({"multipart/form-data": DOCUMENT_UPLOAD}),
                    parameters=[ARTICLE_ID],
                ),
                "get": op(
                    "The article's documents in their order (whoever sees the article)",
                    {"200": ok("documents", ref("DocumentList"))}
                    | problems(*PROTECTED, "404", DATABASE),
                    auth=True,
                    parameters=[ARTICLE_ID],
                ),
            },
            "/api/v1/documents/{id}": {
                "patch": op(
                    "Rename a document or move it in its article's list (whoever may edit "
                    "the article)",
                    {"200": ok("the document", ref("Document"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    body=body(api.DOCUMENT_PATCH.schema),
                    parameters=[DOCUMENT_ID],
                ),
                "delete": op(
                    "Remove a document (whoever may edit the article)",
                    {"204": ok("deleted")} | problems(*PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    parameters=[DOCUMENT_ID],
                ),
            },
            "/api/v1/documents/{id}/file": {
                "get": op(
                    "Download a document of an article the asker sees, a draft's included "
                    "(never cached); the public downloads at /van-ban/{id}",
                    {"200": DOCUMENT_FILE} | problems(*PROTECTED, "404", DATABASE),
                    auth=True,
                    parameters=[DOCUMENT_ID],
                )
            },
            "/api/v1/users": {
                "get": op(
                    "Every user (admin)",
                    {"200": ok("users", ref("UserList"))} | problems(*PROTECTED, DATABASE),
                    auth=True,
                ),
                "post": op(
                    "Create a user (admin)",
                    {"201": ok("created", ref("User"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, "409", DATABASE),
                    auth=True,
                    body=body(USER_CREATE.schema),
                ),
            },
            "/api/v1/users/{id}": {
                "get": op(
                    "A user (admin)",
                    {"200": ok("the user", ref("User"))} | problems(*PROTECTED, "404", DATABASE),
                    auth=True,
                    parameters=[USER_ID],
                ),
                "patch": op(
                    "Change a user's name, roles, password or disabled flag (admin). A "
                    "disabled user, or one who lost a role, has their current token refused "
                    "at once; a password set here is a reset (its owner must change it at the "
                    "next sign-in) and, like disabling, ends the user's sign-in sessions; a "
                    "change that would leave no enabled admin is 409 last_admin",
                    {"200": ok("the user", ref("User"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    body=body(USER_PATCH.schema),
                    parameters=[USER_ID],
                ),
            },
            "/api/v1/pages": {
                "get": op(
                    "Every page in every state, the trash included, and the built-in "
                    "defaults nobody has written (editor)",
                    {"200": ok("pages", ref("PageList"))} | problems(*PROTECTED, DATABASE),
                    auth=True,
                ),
                "post": op(
                    "Create a draft page (editor); the slug comes from the title if not "
                    "given; body_html is sanitised. A new revision",
                    {"201": ok("the draft", ref("Page"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, "409", DATABASE),
                    auth=True,
                    body=body(api.PAGE_CREATE.schema),
                ),
            },
            "/api/v1/pages/{slug}": {
                "get": op(
                    "A static page: the published one (or its built-in default) for "
                    "everyone; in any state for editors",
                    page | problems("404", DATABASE),
                    parameters=[slug],
                ),
                "put": op(
                    "Create or replace a static page and publish it, from any state (editor); "
                    "body_html is sanitised. A new revision",
                    page | problems(*BODY_PROBLEMS, *PROTECTED, DATABASE),
                    auth=True,
                    body=body(api.PAGE_PUT.schema),
                    parameters=[slug],
                ),
                "patch": op(
                    "Change the title or body (editor), keeping the state: a published "
                    "page's new text is public at once. `version`, if given, must be the "
                    "current one (409 version_conflict). A new revision",
                    page | problems(*BODY_PROBLEMS, *PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    body=body(api.PAGE_PATCH.schema),
                    parameters=[slug],
                ),
                "delete": op(
                    f"Move to the trash (editor): off the public site at once, restorable "
                    f"for {domain.PAGE_TRASH_DAYS} days",
                    page | problems(*PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    parameters=[slug],
                ),
            },
            "/api/v1/pages/{slug}/publish": {
                "post": op(
                    "Publish a draft page (editor); 409 already_published",
                    page | problems(*PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    parameters=[slug],
                )
            },
            "/api/v1/pages/{slug}/unpublish": {
                "post": op(
                    "Unpublish (editor): a draft again, off the public site at once; "
                    "409 not_published",
                    page | problems(*PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    parameters=[slug],
                )
            },
            "/api/v1/pages/{slug}/restore": {
                "post": op(
                    "Take a page out of the trash, as a draft (editor); 409 not_deleted",
                    page | problems(*PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    parameters=[slug],
                )
            },
            "/api/v1/pages/{slug}/revisions": {
                "get": op(
                    "A page's revisions, newest first (editor)",
                    {"200": ok("revisions", ref("PageRevisionList"))}
                    | problems(*PROTECTED, "404", DATABASE),
                    auth=True,
                    parameters=[slug],
                )
            },
            "/api/v1/pages/{slug}/revisions/{rev}": {
                "get": op(
                    "One revision with its body (editor)",
                    {"200": ok("the revision", ref("PageRevision"))}
                    | problems(*PROTECTED, "404", DATABASE),
                    auth=True,
                    parameters=[slug, REVISION],
                )
            },
            "/api/v1/pages/{slug}/revisions/{rev}/restore": {
                "post": op(
                    "Make a revision's title and body the page's text again (editor): a "
                    "new revision; 409 page_deleted for a page in the trash",
                    page | problems(*PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    parameters=[slug, REVISION],
                )
            },
        },
    )


routes = web.RouteTableDef()


@routes.get("/api/v1/articles/openapi.json")
async def serve(request: web.Request) -> web.Response:
    return openapi.response(document)
