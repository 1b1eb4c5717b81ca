"""Signing in: checks the password (services/articles/users.py) and slows down guessing.

Failures are counted per client address, per (username, address) pair and per username,
each under an HMAC key (neither the address nor the typed name is stored). Past the
allowed number of recent failures, an address or a pair is refused with 429 for a delay
that doubles with every new failure. A username alone is never refused: that would let
anyone lock its owner out by failing on purpose. Instead every try for a name that keeps
failing waits a little before its password is checked, so guessing one name from many
addresses is slowed down while its owner still gets in. A success forgets the pair's and
the name's failures; the address counter is left to expire on its own, so an attacker
cannot clear it by signing in to an account of theirs.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from services.articles import domain, store, users
from services.articles.config import THROTTLE_SECRET
from services.articles.request_context import acquire
from services.common.errors import Problem
from services.common.web import client_address


def _key(secret: bytes, kind: str, value: str) -> str:
    digest = hmac.new(secret, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}:{digest}"


@dataclass(frozen=True)
class ThrottleKeys:
    pair: str
    address: str
    username: str

    @property
    def refusing(self) -> tuple[tuple[str, int], ...]:
        """The counters that refuse tries, each with its allowed failures."""
        return (
            (self.pair, domain.FAILURES_PER_PAIR),
            (self.address, domain.FAILURES_PER_ADDRESS),
        )


def throttle_keys(secret: bytes, username: str, address: str) -> ThrottleKeys:
    name = username.strip().lower()
    return ThrottleKeys(
        pair=_key(secret, "pair", f"{name}\0{address}"),
        address=_key(secret, "addr", address),
        username=_key(secret, "user", name),
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
    """The user these credentials belong to; Problem 429 while this address, or this name
    from this address, is slowed down; 401 for wrong credentials (or a disabled account)."""
    keys = throttle_keys(request.app[THROTTLE_SECRET], username, client_address(request))
    window = domain.FAILURE_WINDOW_SECONDS
    async with acquire(request) as conn:
        wait = await store.login_wait_seconds(conn, [key for key, _ in keys.refusing])
        if wait > 0:
            raise too_many_attempts(wait)
        name_failures = await store.recent_login_failures(conn, keys.username, window)
    pause = domain.username_pause(name_failures)
    if pause:
        # Without holding a connection: waiting tries must not starve the pool.
        await asyncio.sleep(pause)
    async with acquire(request) as conn:
        user = await users.authenticate(conn, username, password)
        if user is None:
            await _count_failure(conn, keys)
            raise Problem(401, "invalid_credentials", INVALID_CREDENTIALS)
        await store.reset_login_failures(conn, (keys.pair, keys.username), window)
    return user


async def _count_failure(conn: asyncpg.Connection, keys: ThrottleKeys) -> None:
    async with conn.transaction():
        await store.record_login_failure(conn, keys.username, domain.FAILURE_WINDOW_SECONDS)
        for key, allowed in keys.refusing:
            failures = await store.record_login_failure(conn, key, domain.FAILURE_WINDOW_SECONDS)
            delay = domain.login_delay(failures, allowed)
            if delay:
                await store.block_login(conn, key, delay)
