"""View ingest: the beacon (POST /api/v1/views) and the pixel (GET /v.gif?a=), and what they
need in memory: the countable articles (kept fresh by NOTIFY and reloads), the daily salts,
and the micro-batcher that publishes views with confirms before the requests are answered.

Nothing on the request path writes to Postgres (a salt is read at most once a day per
instance, and made a day ahead by the maintenance task)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from datetime import date, datetime

import asyncpg
from aiohttp import web
from prometheus_client import Counter, Histogram

from services.common import db, listener
from services.common.errors import PROBLEM_JSON, Problem
from services.common.web import client_address
from services.counter import store
from services.counter.counting import (
    CountableArticles,
    View,
    bucket_of,
    is_bot,
    parse_article_id,
    parse_beacon,
    parse_notification,
    view_key,
    vn_day,
)

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
PublishViews = Callable[[Sequence[View]], Awaitable[None]]

# A beacon body is {"article_id": N}: a few dozen bytes.
BODY_LIMIT = 1024
NO_STORE = {"Cache-Control": "no-store"}
# A 1x1 transparent GIF.
PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)

VIEWS_INGESTED = Counter(
    "bantin_views_ingested_total",
    "Beacon and pixel hits by outcome (accepted, bot, head, unknown_article, invalid, unavailable)",
    ["outcome"],
)
VIEW_BATCH_SIZE = Histogram(
    "bantin_view_batch_size",
    "Views per published views.batch",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000),
)
VIEW_BATCH_FAILURES = Counter(
    "bantin_view_batch_failures_total", "views.batch publishes that failed (views answered 503)"
)


class ViewBatcher:
    """Collects views and publishes them in batches: when `max_size` are waiting, or
    `max_delay` seconds after the first of a batch arrived. `submit` returns once the
    broker confirmed the view's batch and raises if it did not, so a request is answered
    only for a view that will be counted."""

    def __init__(
        self, publish: PublishViews, *, max_size: int = 500, max_delay: float = 0.02
    ) -> None:
        self._publish = publish
        self._max_size = max_size
        self._max_delay = max_delay
        self._pending: list[tuple[View, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def waiting(self) -> int:
        return len(self._pending)

    async def submit(self, view: View) -> None:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((view, future))
        if self._closing or len(self._pending) >= self._max_size:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._max_delay, self.flush)
        await future

    def flush(self) -> None:
        """Send what is waiting now, as one batch."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        task = asyncio.create_task(self._send(batch), name="views-batch")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[View, asyncio.Future[None]]]) -> None:
        VIEW_BATCH_SIZE.observe(len(batch))
        try:
            await self._publish([view for view, _ in batch])
        except Exception as exc:
            VIEW_BATCH_FAILURES.inc()
            log.error("views batch not published", extra={"views": len(batch), "error": repr(exc)})
            for _, future in batch:
                if not future.done():
                    future.set_exception(BatchFailed(repr(exc)))
                    future.exception()  # retrieved here too: a waiter may have gone away
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    def close(self) -> None:
        """Shutting down: send what waits now, and from now on every view at once."""
        self._closing = True
        self.flush()

    async def drain(self) -> None:
        """Close, then wait until every batch is confirmed or failed."""
        self.close()
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)


class BatchFailed(Exception):
    """The batch holding this view was not published."""


class SaltKeeper:
    """Each day's salt, read from (or made in) the counter schema once and cached."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._salts: dict[date, bytes] = {}
        self._lock = asyncio.Lock()

    async def salt_for(self, day: date) -> bytes:
        salt = self._salts.get(day)
        if salt is not None:
            return salt
        async with self._lock:  # at midnight, one query, not one per waiting request
            if day not in self._salts:
                async with self._pool.acquire(timeout=db.ACQUIRE_TIMEOUT) as conn:
                    self._salts[day] = await store.daily_salt(conn, day)
            return self._salts[day]

    def cached(self, day: date) -> bytes | None:
        return self._salts.get(day)

    def forget_before(self, day: date) -> None:
        for old in [d for d in self._salts if d < day]:
            del self._salts[old]


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
                async with self._pool.acquire(timeout=db.ACQUIRE_TIMEOUT) as conn:
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


# --- the HTTP handlers --------------------------------------------------------------------

CLOCK = web.AppKey[Clock]("clock")
ARTICLES = web.AppKey("countable_articles", CountableArticles)
SALTS = web.AppKey("salts", SaltKeeper)
BATCHER = web.AppKey("batcher", ViewBatcher)


async def beacon(request: web.Request) -> web.Response:
    """POST /api/v1/views: navigator.sendBeacon's {"article_id": N}, or a form a=N."""
    try:
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge as exc:
            raise Problem(
                413, "body_too_large", "Nội dung gửi lên vượt quá giới hạn cho phép."
            ) from exc
        await count_view(request, parse_beacon(request.content_type, body))
    except Problem as problem:
        return _problem(problem)
    return web.Response(status=204, headers=NO_STORE)


async def pixel(request: web.Request) -> web.Response:
    """GET /v.gif?a=N: the <noscript> pixel. HEAD answers alike but counts nothing."""
    try:
        article_id = parse_article_id(request.query.get("a"))
        await count_view(request, article_id, count=request.method == "GET")
    except Problem as problem:
        return _problem(problem)
    return web.Response(body=PIXEL, content_type="image/gif", headers=NO_STORE)


async def count_view(request: web.Request, article_id: int, count: bool = True) -> None:
    """Publish the view of `article_id` (confirmed) unless it comes from a bot; a Problem
    for an article that may not receive views or when the view cannot be published."""
    app = request.config_dict
    if article_id not in app[ARTICLES]:
        VIEWS_INGESTED.labels("unknown_article").inc()
        raise Problem(
            404, "article_not_found", "Không tìm thấy bài viết, hoặc bài viết chưa được đăng."
        )
    user_agent = request.headers.get("User-Agent", "")
    if not count:
        VIEWS_INGESTED.labels("head").inc()
        return
    if is_bot(user_agent):
        VIEWS_INGESTED.labels("bot").inc()
        return
    now = app[CLOCK]()
    day = vn_day(now)
    try:
        salt = await app[SALTS].salt_for(day)
        key = view_key(salt, client_address(request), user_agent, article_id, bucket_of(now))
        await app[BATCHER].submit(View(article_id, key, day))
    except (BatchFailed, *db.UNAVAILABLE_ERRORS, asyncpg.PostgresError) as exc:
        VIEWS_INGESTED.labels("unavailable").inc()
        raise Problem(
            503,
            "service_unavailable",
            "Hệ thống đang bận, lượt xem chưa được ghi nhận; xin vui lòng thử lại sau.",
            headers={"Retry-After": "5"},
        ) from exc
    VIEWS_INGESTED.labels("accepted").inc()


def _problem(problem: Problem) -> web.Response:
    """problem+json whatever the path (the pixel's too), and never cached: an article that
    is unknown now may be published a second later."""
    if problem.status < 500 and problem.code != "article_not_found":
        VIEWS_INGESTED.labels("invalid").inc()
    return web.Response(
        status=problem.status,
        text=json.dumps(problem.to_dict(), ensure_ascii=False),
        content_type=PROBLEM_JSON,
        headers={**problem.headers, **NO_STORE},
    )
