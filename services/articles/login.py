"""Signing in: checks the password (services/articles/users.py) and slows down guessing.

Failures are counted per username and per client address, each under an HMAC key (the
address and the typed name are never stored). Past the allowed number of recent
failures, further tries are refused with 429 for a delay that doubles with every new
failure; a success forgets the username's failures. The address counter is left to
expire on its own, so an attacker cannot clear it by signing in to an account of theirs.
"""

from __future__ import annotations

import hashlib
import hmac

from aiohttp import web

from services.articles import domain, store, users
from services.articles.config import THROTTLE_SECRET
from services.articles.request_context import acquire
from services.common.errors import Problem
from services.common.web import client_address


def _key(secret: bytes, kind: str, value: str) -> str:
    digest = hmac.new(secret, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}:{digest}"


def throttle_keys(secret: bytes, username: str, address: str) -> tuple[str, str]:
    return (
        _key(secret, "user", username.strip().lower()),
        _key(secret, "addr", address),
    )


def too_many_attempts(wait_seconds: int) -> Problem:
    minutes = max(1, -(-wait_seconds // 60))
    return Problem(
        429,
        "too_many_attempts",
        f"Bạn đã nhập sai quá nhiều lần. Xin vui lòng thử lại sau khoảng {minutes} phút.",
        headers={"Retry-After": str(wait_seconds)},
    )


INVALID_CREDENTIALS = "Tên đăng nhập hoặc mật khẩu không đúng."


async def sign_in(request: web.Request, username: str, password: str) -> users.User:
    """The user these credentials belong to; Problem 429 while this name or address is
    slowed down, 401 for wrong credentials (or a disabled account)."""
    secret = request.app[THROTTLE_SECRET]
    user_key, address_key = throttle_keys(secret, username, client_address(request))
    async with acquire(request) as conn:
        wait = await store.login_wait_seconds(conn, (user_key, address_key))
        if wait > 0:
            raise too_many_attempts(wait)
        user = await users.authenticate(conn, username, password)
        if user is None:
            async with conn.transaction():
                for key, allowed in (
                    (user_key, domain.FAILURES_PER_USERNAME),
                    (address_key, domain.FAILURES_PER_ADDRESS),
                ):
                    failures = await store.record_login_failure(
                        conn, key, domain.FAILURE_WINDOW_SECONDS
                    )
                    delay = domain.login_delay(failures, allowed)
                    if delay:
                        await store.block_login(conn, key, delay)
            raise Problem(401, "invalid_credentials", INVALID_CREDENTIALS)
        await store.reset_login_failures(conn, user_key, domain.FAILURE_WINDOW_SECONDS)
    return user
