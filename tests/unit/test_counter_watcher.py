"""The watcher of countable articles without a database: its periodic reload and its LISTEN
loop outlive an unexpected failure (only cancellation ends them), retrying with a delay
that doubles with each failure in a row."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any, cast

import asyncpg
import pytest

from services.counter import store
from services.counter.counting import CountableArticles
from services.counter.ingest import MAX_RETRY_SECONDS, ArticleWatcher


class FakePool:
    """Hands out a connection nobody uses: the store function is replaced."""

    @asynccontextmanager
    async def acquire(self, timeout: float | None = None) -> AsyncIterator[object]:
        yield object()


def watcher(**kw: Any) -> ArticleWatcher:
    pool = cast(asyncpg.Pool, FakePool())
    return ArticleWatcher("postgresql://unused", pool, CountableArticles(), **kw)


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        await asyncio.sleep(0.01)


@asynccontextmanager
async def running(loop: Coroutine[Any, Any, None]) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(loop)
    try:
        yield task
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        assert task.cancelled()  # cancellation still ends the loop


async def test_the_periodic_reload_goes_on_after_an_unexpected_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0

    async def countable_ids(conn: object) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug, not an outage")
        return [7]

    monkeypatch.setattr(store, "countable_article_ids", countable_ids)
    articles = watcher(reload_seconds=0.01)
    async with running(articles._reload_periodically()) as task:
        await until(lambda: 7 in articles.articles or task.done())
        assert not task.done()
    assert calls >= 2


async def test_the_listen_loop_goes_on_after_an_unexpected_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    articles = watcher(retry_seconds=0.01)
    attempts = 0
    listening = asyncio.Event()

    async def listen_until_lost() -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise KeyError("a bug, not an outage")
        listening.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(articles, "_listen_until_lost", listen_until_lost)
    async with running(articles._listen()) as task:
        await until(lambda: listening.is_set() or task.done())
        assert not task.done()
    assert attempts == 2


def test_the_retry_delay_doubles_with_failures_in_a_row_up_to_a_cap() -> None:
    articles = watcher(retry_seconds=1.0)
    assert [articles._retry_delay(n) for n in (0, 1, 2, 3, 4)] == [1.0, 1.0, 2.0, 4.0, 8.0]
    assert articles._retry_delay(1000) == MAX_RETRY_SECONDS
