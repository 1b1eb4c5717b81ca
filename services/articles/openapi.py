"""The OpenAPI 3.1 document of the articles API, served at /api/v1/articles/openapi.json.

Request bodies are the very JSON Schemas the handlers check input with (services/articles/
api.py), so the document cannot drift from what the API accepts.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

from services.articles import api, users_api
from services.common.auth import ROLES

JSON = "application/json"
PROBLEM = "application/problem+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema: dict[str, Any], content_type: str = JSON) -> dict[str, Any]:
    return {"required": True, "content": {content_type: {"schema": schema}}}


def _ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = {JSON: {"schema": schema}}
    return answer


_PROBLEMS = {
    "400": "JSON or multipart body that cannot be read (invalid_json, invalid_multipart)",
    "401": "no valid token (unauthenticated, token_expired, token_invalid, account_disabled)",
    "403": "the role does not allow it (forbidden)",
    "404": "not found (article_not_found, category_not_found, page_not_found, user_not_found)",
    "409": (
        "conflict (slug_taken, version_conflict, not_published, username_taken, and "
        "last_admin: the change would leave no enabled admin)"
    ),
    "413": "body too large (body_too_large)",
    "415": "wrong media type (unsupported_media_type, unsupported_image_type)",
    "422": "input that breaks the rules; `errors` lists the fields (invalid_input)",
    "429": "too many failed logins (too_many_attempts), with Retry-After",
    "503": "database unavailable (service_unavailable), with Retry-After",
}


def _problems(*statuses: str) -> dict[str, Any]:
    return {
        s: {"description": _PROBLEMS[s], "content": {PROBLEM: {"schema": _ref("Problem")}}}
        for s in statuses
    }


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    auth: bool = False,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if auth:
        operation["security"] = [{"bearer": []}, {"session": []}]
    if body is not None:
        operation["requestBody"] = body
    if parameters:
        operation["parameters"] = parameters
    return operation


def _param(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": description,
    }


ARTICLE_ID = _param("id", "path", {"type": "integer", "minimum": 1}, "article id")
USER_ID = _param("id", "path", {"type": "integer", "minimum": 1}, "user id")
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "code", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "code": {"type": "string", "description": "stable, for programs"},
            "detail": {"type": "string", "description": "Vietnamese, for people"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    },
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
        },
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
            "category": _ref("Category"),
            "image_id": {"type": ["integer", "null"]},
            "image_url": {"type": ["string", "null"]},
            "image_caption": {"type": "string"},
            "status": {"enum": ["draft", "published", "unpublished"]},
            "version": {"type": "integer", "description": "rises with every change"},
            "author_id": {"type": "integer"},
            "created_at": _TIME,
            "updated_at": _TIME,
            "published_at": _NULLABLE_TIME,
        },
    },
    "Article": {
        "allOf": [
            _ref("ArticleSummary"),
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
            "items": {"type": "array", "items": _ref("ArticleSummary")},
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
        "properties": {"items": {"type": "array", "items": _ref("User")}},
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


def document() -> dict[str, Any]:
    article = {"200": _ok("the article", _ref("Article"))}
    publishing = _problems("401", "403", "404", "409")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Bantin articles API",
            "version": "1.0.0",
            "description": (
                "Access tokens, categories, articles, images, static pages and users. Errors "
                "are application/problem+json with a stable `code` and a Vietnamese "
                "`detail`. Writing needs a token (Authorization: Bearer, or the "
                "bantin_session cookie): authors create and edit their own drafts; editors "
                "create, edit, publish and unpublish any article; admins manage users and "
                "pass every check."
            ),
        },
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (EdDSA)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "bantin_session"},
            },
            "schemas": SCHEMAS,
        },
        "paths": {
            "/api/v1/auth/token": {
                "post": _op(
                    "Sign in: an access token for a username and password",
                    {"200": _ok("a token", _ref("Token"))}
                    | _problems("400", "401", "413", "415", "422", "429"),
                    body=_body(api.LOGIN.schema),
                )
            },
            "/api/v1/categories": {
                "get": _op(
                    "Every category",
                    {
                        "200": _ok(
                            "categories",
                            {
                                "type": "object",
                                "properties": {
                                    "items": {"type": "array", "items": _ref("Category")}
                                },
                            },
                        )
                    },
                ),
                "post": _op(
                    "Create a category (editor); the slug comes from the name if not given",
                    {"201": _ok("created", _ref("Category"))}
                    | _problems("401", "403", "409", "422"),
                    auth=True,
                    body=_body(api.CATEGORY_CREATE.schema),
                ),
            },
            "/api/v1/articles": {
                "get": _op(
                    "Published articles, newest first",
                    {"200": _ok("a page of articles", _ref("ArticleList"))}
                    | _problems("404", "422"),
                    parameters=[
                        _param("category", "query", {"type": "string"}, "category slug"),
                        _param(
                            "limit",
                            "query",
                            {"type": "integer", "minimum": 1, "maximum": api.MAX_LIST_LIMIT},
                            "page size (default 20)",
                        ),
                        _param(
                            "before", "query", {"type": "integer"}, "continue after this article"
                        ),
                    ],
                ),
                "post": _op(
                    "Create a draft (author, editor); body_html is sanitised",
                    {"201": _ok("the draft", _ref("Article"))}
                    | _problems("401", "403", "413", "422"),
                    auth=True,
                    body=_body(api.ARTICLE_CREATE.schema),
                ),
            },
            "/api/v1/articles/{id}": {
                "get": _op(
                    "An article: published ones for everyone, drafts for their author and editors",
                    article | _problems("404"),
                    parameters=[ARTICLE_ID],
                ),
                "patch": _op(
                    "Change some fields; a published article's change writes article.updated. "
                    "`version`, if given, must be the current one",
                    article | publishing | _problems("413", "422"),
                    auth=True,
                    body=_body(api.ARTICLE_PATCH.schema),
                    parameters=[ARTICLE_ID],
                ),
            },
            "/api/v1/articles/{id}/publish": {
                "post": _op(
                    "Publish (editor): writes article.published, or article.updated when it "
                    "already was public",
                    article | publishing,
                    auth=True,
                    parameters=[ARTICLE_ID],
                )
            },
            "/api/v1/articles/{id}/unpublish": {
                "post": _op(
                    "Unpublish (editor): writes article.unpublished",
                    article | publishing,
                    auth=True,
                    parameters=[ARTICLE_ID],
                )
            },
            "/api/v1/images": {
                "post": _op(
                    "Upload an image (author, editor): JPEG, PNG, WebP or GIF up to 5 MB, "
                    "recognised by its first bytes",
                    {"201": _ok("stored", _ref("Image"))}
                    | _problems("400", "401", "403", "413", "415", "422"),
                    auth=True,
                    body=_body(
                        {
                            "type": "object",
                            "required": ["file"],
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        },
                        "multipart/form-data",
                    ),
                )
            },
            "/api/v1/users": {
                "get": _op(
                    "Every user (admin)",
                    {"200": _ok("users", _ref("UserList"))} | _problems("401", "403"),
                    auth=True,
                ),
                "post": _op(
                    "Create a user (admin)",
                    {"201": _ok("created", _ref("User"))}
                    | _problems("400", "401", "403", "409", "415", "422"),
                    auth=True,
                    body=_body(users_api.USER_CREATE.schema),
                ),
            },
            "/api/v1/users/{id}": {
                "get": _op(
                    "A user (admin)",
                    {"200": _ok("the user", _ref("User"))} | _problems("401", "403", "404"),
                    auth=True,
                    parameters=[USER_ID],
                ),
                "patch": _op(
                    "Change a user's name, roles, password or disabled flag (admin). A "
                    "disabled user, or one who lost a role, has their current token refused "
                    "at once; a change that would leave no enabled admin is 409 last_admin",
                    {"200": _ok("the user", _ref("User"))}
                    | _problems("400", "401", "403", "404", "409", "415", "422"),
                    auth=True,
                    body=_body(users_api.USER_PATCH.schema),
                    parameters=[USER_ID],
                ),
            },
            "/api/v1/pages/{slug}": {
                "get": _op(
                    "A static page (its default until an admin writes it)",
                    {"200": _ok("the page", _ref("Page"))} | _problems("404"),
                    parameters=[_param("slug", "path", {"type": "string"}, "page slug")],
                ),
                "put": _op(
                    "Create or replace a static page (admin); body_html is sanitised",
                    {"200": _ok("the page", _ref("Page"))} | _problems("401", "403", "413", "422"),
                    auth=True,
                    body=_body(api.PAGE_PUT.schema),
                    parameters=[_param("slug", "path", {"type": "string"}, "page slug")],
                ),
            },
        },
    }


@functools.cache
def _text() -> str:
    return json.dumps(document(), ensure_ascii=False, indent=2)


async def serve(request: web.Request) -> web.Response:
    """GET /api/v1/articles/openapi.json."""
    return web.Response(
        text=_text(),
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )
