"""Password hashes: Argon2id (argon2-cffi's defaults, RFC 9106's low-memory profile).

Hashing and checking are deliberately slow CPU work, each taking about 64 MiB while it
runs, so they run off the event loop in a small pool of threads of their own: at most
`threads` at once (ARTICLES_PASSWORD_THREADS, by default half the CPUs), and at most
`queue` more waiting (ARTICLES_PASSWORD_QUEUE). A burst of sign-ins, with known or
unknown names, then costs a bounded amount of memory and CPU, other requests (and the
image work of the shared default executor) go on being answered, and past the queue a
sign-in is refused at once (domain.HashingBusyError, 503) instead of piling up. The rules
a password must follow are in domain.py.
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.articles.domain import HashingBusyError

_hasher = PasswordHasher()
_Result = TypeVar("_Result")


def default_threads() -> int:
    return max(1, (os.cpu_count() or 2) // 2)


DEFAULT_QUEUE = 64


class HashingPool:
    """A fixed number of hashing threads and a bounded number of waiting jobs."""

    def __init__(self, threads: int, queue: int) -> None:
        if threads < 1 or queue < 0:
            raise ValueError("threads must be at least 1 and queue at least 0")
        self.threads = threads
        self.limit = threads + queue
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self._lock = threading.Lock()
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Jobs running or waiting now."""
        return self._admitted

    def _release(self, _: Future[Any]) -> None:
        with self._lock:
            self._admitted -= 1

    async def run(self, work: Callable[..., _Result], *args: object) -> _Result:
        with self._lock:
            if self._admitted >= self.limit:
                raise HashingBusyError
            self._admitted += 1
        future = self._executor.submit(work, *args)
        # Counted until the thread is done with it, even when the request that asked
        # goes away meanwhile: the bound is on work really in the pool.
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


_pool: HashingPool | None = None


def configure(threads: int, queue: int) -> None:
    """Size the pool (the articles app does at start, from its settings)."""
    global _pool
    if _pool is not None:
        _pool.shutdown()
    _pool = HashingPool(threads, queue)


def pool() -> HashingPool:
    if _pool is None:
        configure(default_threads(), DEFAULT_QUEUE)
    assert _pool is not None
    return _pool


async def hash_password(password: str) -> str:
    return await pool().run(_hasher.hash, password)


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


def _check(password_hash: str | None, password: str) -> bool:
    checked_hash = password_hash if password_hash is not None else _dummy_hash()
    return matches(checked_hash, password) and password_hash is not None


async def check(password_hash: str | None, password: str) -> bool:
    """True if `password` is the one `password_hash` was made from. None (no such user)
    is checked against a dummy hash, so the answer takes about as long either way."""
    return await pool().run(_check, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    """True if the hash parameters were raised since this hash was made."""
    return _hasher.check_needs_rehash(password_hash)
