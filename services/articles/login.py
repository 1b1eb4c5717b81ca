"""Who may be signed in: checking a password at sign-in, slowing down guessing, and
refusing at once the token of a user who was disabled or lost a role.

Failures are counted per client address, per (username, address) pair and per username,
each under an HMAC key (domain.throttle_keys). Past the allowed number of recent failures,
an address or a pair is refused for a delay that doubles with every new failure. A
username alone is never refused: that would let anyone lock its owner out by failing on
purpose. Instead every try for a name that keeps failing waits a little before its
password is checked, so guessing one name from many addresses is slowed down while its
owner still gets in. A success forgets the pair's and the name's failures; the address
counter is left to expire on its own, so an attacker cannot clear it by signing in to an
account of theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg

from services.articles import domain, passwords, store
from services.articles.domain import ThrottleKeys, User
from services.common import db
from services.common.roles import Principal


async def authenticate(pool: asyncpg.Pool, username: str, password: str) -> User | None:
    """The user if the password is theirs and the account is enabled, else None.

    Unknown names are checked against a dummy hash, so the answer takes about as long
    whether the name exists or not. No connection is held while the hash is checked:
    a burst of sign-ins waiting for the hashing threads must not starve the pool.
    """
    if len(password) > domain.MAX_PASSWORD_LENGTH:
        return None
    async with db.acquire(pool) as conn:
        found = await store.user_with_password_hash(conn, domain.username_key(username))
    stored_hash = found[1] if found else None
    matches = await passwords.check(stored_hash, password)
    if found is None or stored_hash is None or not matches or found[0].disabled:
        return None
    if passwords.needs_rehash(stored_hash):
        # Hash parameters were raised since this password was set: upgrade it now, while
        # the plain password is at hand.
        new_hash = await passwords.hash_password(password)
        async with db.acquire(pool) as conn:
            await store.replace_password_hash(conn, found[0].id, stored_hash, new_hash)
    return found[0]


async def sign_in(
    pool: asyncpg.Pool, secret: bytes, address: str, username: str, password: str
) -> User:
    """The user these credentials belong to; TooManyAttemptsError while this address, or
    this name from this address, is slowed down; InvalidCredentialsError for wrong
    credentials (or a disabled account)."""
    keys = domain.throttle_keys(secret, username, address)
    window = domain.FAILURE_WINDOW_SECONDS
    async with db.acquire(pool) as conn:
        wait = await store.login_wait_seconds(conn, [key for key, _ in keys.refusing])
        if wait > 0:
            raise domain.TooManyAttemptsError(wait)
        name_failures = await store.recent_login_failures(conn, keys.username, window)
    pause = domain.username_pause(name_failures)
    if pause:
        # Without holding a connection: waiting tries must not starve the pool.
        await asyncio.sleep(pause)
    user = await authenticate(pool, username, password)
    async with db.acquire(pool) as conn:
        if user is None:
            await _count_failure(conn, keys)
            raise domain.InvalidCredentialsError
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


def active_check(
    pool: asyncpg.Pool, limits: domain.SessionLimits
) -> Callable[[Principal], Awaitable[bool]]:
    """The articles app's auth.ACTIVE_CHECK: refuses at once the token of a user who was
    disabled, lost a role it names or must change their password, and a token renewed
    from a sign-in session that was ended, without waiting for it to expire."""

    async def principal_is_active(principal: Principal) -> bool:
        async with db.acquire(pool) as conn:
            return await store.principal_holds(conn, principal, limits)

    return principal_is_active
