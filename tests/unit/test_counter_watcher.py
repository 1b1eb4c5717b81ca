"""The watcher of countable articles without a database: its periodic reload outlives an
unexpected failure (only cancellation ends it). Its LISTEN loop is the shared one,
tested in tests/unit/test_listener.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager, suppress
from typing import Any, cast

import asyncpg
import pytest

from services.counter import store
from services.counter.domain import CountableArticles
from services.counter.watcher import ArticleWatcher
from tests.support.polling import eventually


class FakePool:
    """Hands out a connection nobody uses: the store function is replaced."""

    @asynccontextmanager
    async def acquire(self, timeout: float | None = None) -> AsyncIterator[object]:
        yield object()


def watcher(**kw: Any) -> ArticleWatcher:
    pool = cast(asyncpg.Pool, FakePool())
    return ArticleWatcher("postgresql://unused", pool, CountableArticles(), **kw)


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
        await eventually(lambda: 7 in articles.articles or task.done(), timeout=5.0, interval=0.01)
        assert not task.done()
    assert calls >= 2
