"""The counter service: view ingest (beacon and pixel), counting, views.counted, counts API."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from services.common.config import Settings, env_int
from services.common.web import (
    POOL,
    PUBLISHER,
    SETTINGS,
    Subscription,
    create_base_app,
)
from services.counter import api, ingest, openapi, tasks
from services.counter.counting import CountableArticles, utc_now
from services.counter.events import (
    ARTICLE_HANDLERS,
    ARTICLE_STATE_QUEUE,
    VIEW_BATCHES_QUEUE,
    VIEWS_BATCH,
    publish_views,
    views_batch_handler,
)
from services.counter.ingest import ARTICLES, BATCHER, CLOCK, SALTS, Clock

SERVICE_DIR = Path(__file__).parent


@dataclass(frozen=True)
class CounterSettings:
    """The counter's own knobs (environment variables, all optional)."""

    batch_max: int = 500  # COUNTER_BATCH_MAX: views per views.batch at most
    batch_delay: float = 0.02  # COUNTER_BATCH_DELAY_MS: longest wait before a batch goes
    counts_interval: float = 1.0  # COUNTER_COUNTS_INTERVAL_MS: views.counted round
    article_reload: float = 60.0  # COUNTER_ARTICLE_RELOAD_SECONDS: full reload of the set
    maintenance_interval: float = 600.0  # COUNTER_MAINTENANCE_SECONDS: salts, old keys

    @classmethod
    def from_env(cls) -> CounterSettings:
        return cls(
            batch_max=max(1, min(5000, env_int("COUNTER_BATCH_MAX", 500))),
            batch_delay=env_int("COUNTER_BATCH_DELAY_MS", 20) / 1000,
            counts_interval=env_int("COUNTER_COUNTS_INTERVAL_MS", 1000) / 1000,
            article_reload=float(env_int("COUNTER_ARTICLE_RELOAD_SECONDS", 60)),
            maintenance_interval=float(env_int("COUNTER_MAINTENANCE_SECONDS", 600)),
        )


COUNTER_SETTINGS = web.AppKey("counter_settings", CounterSettings)


def create_app(
    settings: Settings, counter: CounterSettings | None = None, clock: Clock = utc_now
) -> web.Application:
    counter = counter or CounterSettings.from_env()
    app = create_base_app(
        settings,
        SERVICE_DIR,
        subscriptions=[
            Subscription(ARTICLE_STATE_QUEUE, ARTICLE_HANDLERS),
            # Batches are not versions of an item (the topology says so): every one is
            # applied; the keys make that idempotent.
            Subscription(VIEW_BATCHES_QUEUE, {VIEWS_BATCH: views_batch_handler(clock)}),
        ],
        client_max_size=ingest.BODY_LIMIT,
    )
    app[COUNTER_SETTINGS] = counter
    app[CLOCK] = clock
    app.cleanup_ctx.append(_ingest)
    app.cleanup_ctx.append(_background)
    # First thing on shutdown: send the views waiting in the buffer, so the requests that
    # wait for them are answered before the server stops waiting for handlers.
    app.on_shutdown.insert(0, _flush_views)

    app.router.add_post("/api/v1/views", ingest.beacon)
    app.router.add_get("/v.gif", ingest.pixel)
    app.router.add_routes(openapi.routes)
    app.router.add_get("/api/v1/views/most-read", api.most_read)
    app.router.add_get(r"/api/v1/views/{article_id:\d{1,19}}", api.article_views)
    app.router.add_put(r"/api/v1/views/{article_id:\d{1,19}}/imported", api.set_imported)
    return app


async def _ingest(app: web.Application) -> AsyncIterator[None]:
    """The countable articles (loaded before the first request), the salts and the batcher.
    The batcher is drained before the publisher it uses closes."""
    counter = app[COUNTER_SETTINGS]
    watcher = ingest.ArticleWatcher(
        app[SETTINGS].database_url, app[POOL], CountableArticles(), counter.article_reload
    )
    await watcher.start()
    app[ARTICLES] = watcher.articles
    app[SALTS] = ingest.SaltKeeper(app[POOL])
    app[BATCHER] = ingest.ViewBatcher(
        functools.partial(publish_views, app[PUBLISHER]),
        max_size=counter.batch_max,
        max_delay=counter.batch_delay,
    )
    yield
    await app[BATCHER].drain()
    await watcher.stop()


async def _background(app: web.Application) -> AsyncIterator[None]:
    counter = app[COUNTER_SETTINGS]
    jobs = [
        tasks.Periodic(
            "views-counted", counter.counts_interval, tasks.publish_counts(app[POOL], app[CLOCK])
        ),
        tasks.Periodic(
            "counter-maintenance",
            counter.maintenance_interval,
            tasks.maintain(app[POOL], app[SALTS], app[CLOCK]),
        ),
    ]
    for job in jobs:
        job.start()
    yield
    for job in jobs:
        await job.stop()


async def _flush_views(app: web.Application) -> None:
    if BATCHER in app:
        app[BATCHER].close()
