"""The OpenAPI 3.1 document of the articles API, served at /api/v1/articles/openapi.json.

Request bodies are the very JSON Schemas the handlers check input with (services/articles/
api.py), so the document cannot drift from what the API accepts. How documents are built and
served is common to every service (services/common/openapi.py).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.articles import api
from services.articles.api import USER_CREATE, USER_PATCH
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
            "topic_not_found, page_not_found, user_not_found)"
        ),
        "409": (
            "conflict (slug_taken, version_conflict, not_published, username_taken, "
            "category_not_empty, category_has_children, category_too_deep, and "
            "last_admin: the change would leave no enabled admin)"
        ),
        "415": "wrong media type (unsupported_media_type, unsupported_image_type)",
        "429": "too many failed logins (too_many_attempts), with Retry-After",
    }
)
# Every route with a JSON or multipart body: unreadable, too large, wrong type, bad fields.
BODY_PROBLEMS = ("400", "413", "415", "422")
# Every route that reads the database (the token's user is looked up on protected ones).
DATABASE = "503"
PROTECTED = ("401", "403")

ARTICLE_ID = param("id", "path", {"type": "integer", "minimum": 1}, "article id")
USER_ID = param("id", "path", {"type": "integer", "minimum": 1}, "user id")
CATEGORY_ID = param("id", "path", {"type": "integer", "minimum": 1}, "category id")
TAG_ID = param("id", "path", {"type": "integer", "minimum": 1}, "tag id")
TOPIC_ID = param("id", "path", {"type": "integer", "minimum": 1}, "topic id")
PIN_SCOPE = param(
    "scope", "query", {"enum": ["home", "category"]}, "which pin to end", required=True
)
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

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
            "status": {"enum": ["draft", "published", "unpublished"]},
            "version": {"type": "integer", "description": "rises with every change"},
            "author_id": {"type": "integer"},
            "created_at": _TIME,
            "updated_at": _TIME,
            "published_at": _NULLABLE_TIME,
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
        "required": ["id", "url", "content_type", "size"],
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string", "description": "/anh/{id}"},
            "content_type": {"enum": ["image/jpeg", "image/png", "image/webp", "image/gif"]},
            "size": {"type": "integer"},
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
        "properties": {
            "slug": {"type": "string"},
            "title": {"type": "string"},
            "body_html": {"type": "string"},
            "version": {"type": "integer", "description": "0: the built-in default"},
            "updated_at": _NULLABLE_TIME,
        },
    },
}


IMAGE_UPLOAD: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary"}},
}


def document() -> openapi.Document:
    article = {"200": ok("the article", ref("Article"))}
    slug = param("slug", "path", {"type": "string"}, "page slug")
    return openapi.document(
        title="Bantin articles API",
        description=(
            "Access tokens, categories (nested one level), tags, topics, articles (with "
            "their tags, topic and pins), images, static pages and users. Errors "
            "are application/problem+json with a stable `code` and a Vietnamese "
            "`detail`. Writing needs a token (Authorization: Bearer, or the "
            "bantin_session cookie): authors create and edit their own drafts; editors "
            "create, edit, publish and unpublish any article; admins manage users and "
            "pass every check."
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
                    "Published articles, newest first",
                    {"200": ok("a page of articles", ref("ArticleList"))}
                    | problems("404", "422", DATABASE),
                    parameters=[
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
                    "`version`, if given, must be the current one",
                    article | problems(*BODY_PROBLEMS, *PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    body=body(api.ARTICLE_PATCH.schema),
                    parameters=[ARTICLE_ID],
                ),
            },
            "/api/v1/articles/{id}/publish": {
                "post": op(
                    "Publish (editor): writes article.published, or article.updated when it "
                    "already was public",
                    article | problems(*PROTECTED, "404", DATABASE),
                    auth=True,
                    parameters=[ARTICLE_ID],
                )
            },
            "/api/v1/articles/{id}/unpublish": {
                "post": op(
                    "Unpublish (editor): writes article.unpublished",
                    article | problems(*PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    parameters=[ARTICLE_ID],
                )
            },
            "/api/v1/images": {
                "post": op(
                    "Upload an image (author, editor): JPEG, PNG, WebP or GIF up to 5 MB, "
                    "recognised by its first bytes",
                    {"201": ok("stored", ref("Image"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, DATABASE),
                    auth=True,
                    body=bodies({"multipart/form-data": IMAGE_UPLOAD}),
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
                    "at once; a change that would leave no enabled admin is 409 last_admin",
                    {"200": ok("the user", ref("User"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, "404", "409", DATABASE),
                    auth=True,
                    body=body(USER_PATCH.schema),
                    parameters=[USER_ID],
                ),
            },
            "/api/v1/pages/{slug}": {
                "get": op(
                    "A static page (its default until an admin writes it)",
                    {"200": ok("the page", ref("Page"))} | problems("404", DATABASE),
                    parameters=[slug],
                ),
                "put": op(
                    "Create or replace a static page (admin); body_html is sanitised",
                    {"200": ok("the page", ref("Page"))}
                    | problems(*BODY_PROBLEMS, *PROTECTED, DATABASE),
                    auth=True,
                    body=body(api.PAGE_PUT.schema),
                    parameters=[slug],
                ),
            },
        },
    )


routes = web.RouteTableDef()


@routes.get("/api/v1/articles/openapi.json")
async def serve(request: web.Request) -> web.Response:
    return openapi.response(document)
