"""The countable articles of an ingest instance, kept fresh by the articles table's NOTIFYs
and by reloads."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

import asyncpg

from services.common import db, listener
from services.counter import store
from services.counter.domain import CountableArticles, parse_notification

log = logging.getLogger(__name__)


class ArticleWatcher:
    """Keeps a CountableArticles fresh: applies the articles table's NOTIFYs as they come
    (a dedicated LISTEN connection, reconnected), reloads the whole set after every
    (re)connect, since NOTIFY is only a doorbell, and slowly in any case."""

    def __init__(
        self,
        dsn: str,
        pool: asyncpg.Pool,
        articles: CountableArticles,
        reload_seconds: float = 60.0,
        retry_seconds: float = 1.0,
    ) -> None:
        self._dsn = dsn
        self._pool = pool
        self.articles = articles
        self._reload_seconds = reload_seconds
        self._retry_seconds = retry_seconds
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.reload()
        self._tasks = [
            asyncio.create_task(self._listen(), name="articles-listen"),
            asyncio.create_task(self._reload_periodically(), name="articles-reload"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task

    async def reload(self) -> None:
        async with self._lock:
            self.articles.begin_reload()
            try:
                async with db.acquire(self._pool) as conn:
                    ids = await store.countable_article_ids(conn)
            except BaseException:
                self.articles.abandon_reload()
                raise
            self.articles.finish_reload(ids)

    # Both loops outlive any failure (only cancellation ends them): were one to end, the
    # set would silently go stale and new articles would answer 404 until a restart.

    async def _reload_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._reload_seconds)
            try:
                await self.reload()
            except (*db.UNAVAILABLE_ERRORS, asyncpg.PostgresError) as exc:
                log.warning("countable articles: reload failed (%s)", exc)
            except Exception:
                log.exception("countable articles: reload failed unexpectedly")

    async def _listen(self) -> None:
        # Reload on every (re)connect: changes made while nobody listened.
        await listener.listen_forever(
            self._dsn,
            "articles",
            self._on_notify,
            self.reload,
            "countable articles",
            self._retry_seconds,
        )

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            article_id, countable = parse_notification(payload)
        except ValueError:
            log.error("countable articles: unreadable notification", extra={"payload": payload})
            return
        self.articles.apply(article_id, countable)
