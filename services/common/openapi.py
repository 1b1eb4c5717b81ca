"""How every service writes and serves its OpenAPI 3.1 document: small builders for
operations, bodies and answers, the shared Problem schema and security schemes, and the
handler that serves a document as JSON.

Each service's openapi.py holds only its own paths and schemas; its request bodies are the
very JSON Schemas its handlers check input with, so a document cannot drift from what the
API accepts.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from services.common.errors import PROBLEM_JSON

JSON = "application/json"
# A document changes only with a release: a few minutes in a cache cost nothing.
CACHE = {"Cache-Control": "public, max-age=300"}

Document = dict[str, Any]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def body(schema: dict[str, Any], content_type: str = JSON) -> dict[str, Any]:
    return bodies({content_type: schema})


def bodies(schemas: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """A required request body in each of these media types."""
    return {
        "required": True,
        "content": {media: {"schema": schema} for media, schema in schemas.items()},
    }


def ok(
    description: str, schema: dict[str, Any] | None = None, content_type: str = JSON
) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = {content_type: {"schema": schema}}
    return answer


def op(
    summary: str,
    responses: dict[str, Any],
    *,
    auth: bool = False,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary}
    if description:
        operation["description"] = description
    if auth:
        operation["security"] = [{"bearer": []}, {"session": []}]
    if body is not None:
        operation["requestBody"] = body
    if parameters:
        operation["parameters"] = parameters
    operation["responses"] = responses
    return operation


def param(
    name: str, where: str, schema: dict[str, Any], description: str, *, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}

# What each status means in every service; a service adds its own codes to these.
COMMON_PROBLEMS = {
    "400": "a body that cannot be read (invalid_json, invalid_multipart, invalid_form)",
    "401": "no valid token (unauthenticated, token_expired, token_invalid)",
    "403": (
        "the role does not allow it (forbidden), or a change sent with the session cookie "
        "from another site (cross_site_request)"
    ),
    "404": "not found",
    "409": "conflict",
    "413": "body too large (body_too_large)",
    "415": "wrong media type (unsupported_media_type)",
    "422": "input that breaks the rules; `errors` lists the fields (invalid_input)",
    "429": "too many requests, with Retry-After",
    "503": "database or broker unavailable (service_unavailable), with Retry-After",
}


class Problems:
    """Builds the problem+json answers of an operation: `problems("404", "503")`."""

    def __init__(self, descriptions: Mapping[str, str]) -> None:
        self.descriptions = {**COMMON_PROBLEMS, **descriptions}

    def __call__(self, *statuses: str) -> dict[str, Any]:
        return {status: self.answer(status) for status in statuses}

    def answer(self, status: str, description: str | None = None) -> dict[str, Any]:
        """One problem answer; `description` says more than the service-wide one."""
        answer: dict[str, Any] = {
            "description": description or self.descriptions[status],
            "content": {PROBLEM_JSON: {"schema": ref("Problem")}},
        }
        if status in ("429", "503"):
            answer["headers"] = _RETRY_AFTER
        return answer


PROBLEM_SCHEMA: dict[str, Any] = {
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
}

SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (EdDSA)"},
    "session": {"type": "apiKey", "in": "cookie", "name": "bantin_access"},
}


def this_document() -> dict[str, Any]:
    """The operation of a document's own GET."""
    return {"get": op("This document", {"200": ok("OpenAPI 3.1", {"type": "object"})})}


def document(
    *,
    title: str,
    description: str,
    paths: dict[str, Any],
    schemas: dict[str, Any],
) -> Document:
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0", "description": description},
        "servers": [{"url": "/"}],
        "components": {
            "securitySchemes": SECURITY_SCHEMES,
            "schemas": {"Problem": PROBLEM_SCHEMA, **schemas},
        },
        "paths": paths,
    }


@functools.cache
def _text(build: Callable[[], Document]) -> str:
    return json.dumps(build(), ensure_ascii=False, indent=2)


def response(build: Callable[[], Document]) -> web.Response:
    """The document `build` makes, as JSON (made once per process)."""
    return web.Response(text=_text(build), content_type=JSON, headers=CACHE)
