"""Sign-in sessions of the desk, and the two cookies a signed-in browser holds.

Signing in (the /dang-nhap form, or POST /api/v1/auth/session from a page) starts a
session: a random secret in the HttpOnly `bantin_session` cookie, of which only the
SHA-256 is stored (store.create_session). The session renews the short access token (the
`bantin_access` cookie, which every service verifies): POST /api/v1/auth/refresh from
session.js while a desk page is open, GET /dang-nhap/gia-han for the moderation desk
(feedback cannot reach articles' tables), and `renewal_middleware` for articles' own desk
pages and API calls that come with the session but an expired access token. A token
renewed from a session carries its id (the `sid` claim), so ending the session (signing
out, a password changed or reset, the account disabled) refuses the token in articles at
once (login.active_check); the other services keep it at most its lifetime (minutes).

A session lives until it renewed nothing for ARTICLES_SESSION_IDLE_HOURS or began
ARTICLES_SESSION_MAX_HOURS ago, whichever comes first (checked on use: store.use_session).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

import asyncpg
from aiohttp import web

from services.articles import domain, store
from services.articles.answers import is_https
from services.articles.config import CONFIG, ISSUER
from services.articles.domain import SessionLimits, User
from services.common import db
from services.common.auth import (
    ACCESS_COOKIE,
    PRINCIPAL,
    SESSION_COOKIE,
    VERIFIER,
    TokenError,
    bearer_token,
)
from services.common.web import POOL

# Where an expired access token is renewed from the session on the way in: articles' desk
# pages and the API the desk's scripts call (not the sign-in routes, which do their own).
RENEWED_PATHS = ("/quan-tri", "/doi-mat-khau", "/api/v1/")
NOT_RENEWED_PATHS = ("/api/v1/auth/",)


def cookie_secure(request: web.Request) -> bool:
    # A browser that came over HTTPS never needs its cookies on plain HTTP: keep them there
    # even where COOKIE_SECURE was forgotten.
    return request.app[CONFIG].cookie_secure or is_https(request)


async def start(pool: asyncpg.Pool, user: User) -> tuple[str, int]:
    """A new session for `user`: its secret (for the cookie) and its id (for tokens)."""
    secret = secrets.token_urlsafe(32)
    async with db.acquire(pool) as conn:
        session_id = await store.create_session(conn, user.id, domain.session_secret_hash(secret))
    return secret, session_id


async def renew(pool: asyncpg.Pool, secret: str | None, limits: SessionLimits) -> tuple[int, User]:
    """The session of `secret` (its id and user), marked used; SessionEndedError when it
    is gone, PasswordChangeRequiredError when its user must choose a new password first."""
    if not domain.is_session_secret(secret):
        raise domain.SessionEndedError
    assert secret is not None
    async with db.acquire(pool) as conn:
        found = await store.use_session(conn, domain.session_secret_hash(secret), limits)
    if found is None or found[1].disabled:
        raise domain.SessionEndedError
    if found[1].must_change_password:
        raise domain.PasswordChangeRequiredError
    return found


async def end(pool: asyncpg.Pool, secret: str | None) -> None:
    if domain.is_session_secret(secret):
        assert secret is not None
        async with db.acquire(pool) as conn:
            await store.end_session(conn, domain.session_secret_hash(secret))


def _cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=cookie_secure(request),
    )


def set_access_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """The access token into its cookie, living as long as the token."""
    ttl = int(request.app[ISSUER].ttl.total_seconds())
    _cookie(request, response, ACCESS_COOKIE, token, ttl)


async def sign_in_browser(request: web.Request, user: User, response: web.StreamResponse) -> None:
    """Start a session for `user` and set both cookies on `response`. A session this
    browser held before is ended."""
    pool = request.app[POOL]
    await end(pool, request.cookies.get(SESSION_COOKIE))
    secret, session_id = await start(pool, user)
    token, _ = request.app[ISSUER].issue(user, session_id=session_id)
    _cookie(request, response, SESSION_COOKIE, secret, request.app[CONFIG].session_max_hours * 3600)
    set_access_cookie(request, response, token)


async def renew_browser(request: web.Request, response: web.StreamResponse) -> None:
    """A new access token from this browser's session, into its cookie;
    SessionEndedError or PasswordChangeRequiredError as renew()."""
    set_access_cookie(request, response, await renewed_token(request))


async def renewed_token(request: web.Request) -> str:
    session_id, user = await renew(
        request.app[POOL], request.cookies.get(SESSION_COOKIE), request.app[CONFIG].session_limits
    )
    token, _ = request.app[ISSUER].issue(user, session_id=session_id)
    return token


async def sign_out_browser(request: web.Request, response: web.StreamResponse) -> None:
    """End this browser's session and take both cookies away."""
    await end(request.app[POOL], request.cookies.get(SESSION_COOKIE))
    for name in (SESSION_COOKIE, ACCESS_COOKIE):
        response.del_cookie(
            name, path="/", httponly=True, samesite="Lax", secure=cookie_secure(request)
        )


def _needs_renewal(request: web.Request) -> bool:
    """True for a desk request with a session cookie and no usable access token."""
    path = request.path
    if not path.startswith(RENEWED_PATHS) or path.startswith(NOT_RENEWED_PATHS):
        return False
    if bearer_token(request) is not None or SESSION_COOKIE not in request.cookies:
        return False
    token = request.cookies.get(ACCESS_COOKIE)
    if not token:
        return True
    try:
        request.config_dict[VERIFIER].verify(token)
    except TokenError:  # expired (or spoilt): the session decides
        return True
    return False


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def renewal_middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Articles' desk pages and API calls renew an expired access token from a living
    session on the way in: the handler sees the person signed in, the answer carries the
    new token. A session that is gone leaves the request as it came (the handler sends a
    person to the sign-in form, or answers 401)."""
    if not _needs_renewal(request):
        return await handler(request)
    try:
        token = await renewed_token(request)
    except (domain.SessionEndedError, domain.PasswordChangeRequiredError):
        return await handler(request)
    # Verified here, just minted from a live session of an enabled user: no further check.
    request[PRINCIPAL] = request.config_dict[VERIFIER].verify(token)
    try:
        response = await handler(request)
    except web.HTTPException as answer:  # a redirect, say: it carries the cookie too
        set_access_cookie(request, answer, token)
        raise
    set_access_cookie(request, response, token)
    return response
