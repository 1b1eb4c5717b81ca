"""The one polling wait of the tests: ask a condition again and again until it holds."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    timeout: float = ...,
    interval: float = ...,
    message: str | None = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T],
    *,
    timeout: float = ...,
    interval: float = ...,
    message: str | None = ...,
) -> T: ...


async def eventually(
    check: Callable[[], Any],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | None = None,
) -> Any:
    """Call `check` (plain or async) every `interval` seconds until its answer is truthy,
    and return that answer. Fail with an AssertionError naming what was awaited (`message`,
    else the check's name) and its last answer once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if inspect.isawaitable(answer):
            answer = await answer
        if answer:
            return answer
        if time.monotonic() >= deadline:
            what = message or getattr(check, "__qualname__", repr(check))
            raise AssertionError(f"not within {timeout} s: {what}; last answer: {answer!r}")
        await asyncio.sleep(interval)
