"""What the articles handlers (api, users_api, pages, admin, login) share: a database
connection, the signed-in user if there is one, whether the reader's browser reached the
site over HTTPS, the id in a path, a JSON answer. One copy each, so the handler modules
cannot drift apart."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from services.common import db
from services.common.auth import Principal, principal_from_request, token_from_request
from services.common.errors import Problem

# The same rule client_address() applies to X-Forwarded-For (DESIGN rule 9).
from services.common.web import POOL, SETTINGS, is_trusted_proxy


def acquire(request: web.Request) -> Any:
    """A pooled connection, waiting at most db.ACQUIRE_TIMEOUT (then a 503)."""
    return request.app[POOL].acquire(timeout=db.ACQUIRE_TIMEOUT)


async def optional_principal(request: web.Request) -> Principal | None:
    """The signed-in user if the request carries a valid token; anyone else reads as the
    public (an expired session cookie must not turn a public read into a 401, and sends a
    person to the login form rather than to an error page)."""
    if token_from_request(request) is None:
        return None
    try:
        return await principal_from_request(request)
    except Problem as refused:
        if refused.status == 401:
            return None
        raise


def scheme(request: web.Request) -> str:
    """ "https" or "http" as the reader's browser used it: the gateway's X-Forwarded-Proto,
    believed only from a proxy in TRUSTED_PROXIES; otherwise this connection's own."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").strip().lower()
    if forwarded in ("http", "https") and is_trusted_proxy(
        request.remote or "", request.app[SETTINGS].trusted_proxies
    ):
        return forwarded
    return request.scheme


def is_https(request: web.Request) -> bool:
    return scheme(request) == "https"


def path_id(request: web.Request, missing: Problem) -> int:
    """The route's {id:\\d+} as a number; `missing` for one too long to be any row's id."""
    raw = request.match_info["id"]
    if len(raw) > 18:
        raise missing
    return int(raw)


def json_response(
    body: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer with Vietnamese written as it is (not as \\u escapes)."""
    return web.Response(
        text=json.dumps(body, ensure_ascii=False),
        status=status,
        headers=headers,
        content_type="application/json",
    )
