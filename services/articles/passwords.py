"""Password hashes: Argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile).

Hashing and checking are deliberately slow CPU work, so they run in a worker thread, off
the event loop. The rules a password must follow are in domain.py.
"""

from __future__ import annotations

import asyncio
import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    # Made on first use, with the same parameters as real hashes, so a login for a name
    # that does not exist costs as much time as one for a name that does.
    return _hasher.hash(secrets.token_urlsafe(16))


async def check(password_hash: str | None, password: str) -> bool:
    """True if `password` is the one `password_hash` was made from. None (no such user)
    is checked against a dummy hash, so the answer takes about as long either way."""
    checked_hash = password_hash if password_hash is not None else _dummy_hash()
    found = await asyncio.to_thread(matches, checked_hash, password)
    return found and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    """True if the hash parameters were raised since this hash was made."""
    return _hasher.check_needs_rehash(password_hash)
