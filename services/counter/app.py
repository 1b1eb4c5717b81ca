"""The counter service: view ingest (beacon and pixel), counting, views.counted, counts API."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from services.common.config import Settings
from services.common.events.grouping import Grouping
from services.common.periodic import Periodic
from services.common.vietnam import utc_now
from services.common.web import (
    POOL,
    PUBLISHER,
    SETTINGS,
    Subscription,
    create_base_app,
)
from services.counter import api, openapi, tasks
from services.counter.answers import ShortCache
from services.counter.batcher import ViewBatcher
from services.counter.config import (
    ANSWERS,
    ARTICLES,
    BATCHER,
    CLOCK,
    COUNTER_SETTINGS,
    SALTS,
    CounterSettings,
)
from services.counter.domain import Clock, CountableArticles
from services.counter.events import (
    ARTICLE_HANDLERS,
    ARTICLE_STATE_QUEUE,
    VIEW_BATCHES_QUEUE,
    VIEWS_BATCH,
    publish_views,
    views_batch_handler,
    views_batches_handler,
)
from services.counter.salts import SaltKeeper
from services.counter.watcher import ArticleWatcher

SERVICE_DIR = Path(__file__).parent


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
            Subscription(
                VIEW_BATCHES_QUEUE,
                {VIEWS_BATCH: views_batch_handler(clock, counter.agents_per_address)},
                # Several batches in one transaction: every batch touches the day's hot
                # rows, and one commit for many is what keeps the lag down under load.
                Grouping(
                    views_batches_handler(clock, counter.agents_per_address),
                    max_messages=counter.count_group_max,
                    window=counter.count_window,
                ),
            ),
        ],
        client_max_size=api.BODY_LIMIT,
    )
    app[COUNTER_SETTINGS] = counter
    app[CLOCK] = clock
    app[ANSWERS] = ShortCache()
    app.cleanup_ctx.append(_ingest)
    app.cleanup_ctx.append(_background)
    # First thing on shutdown: send the views waiting in the buffer, so the requests that
    # wait for them are answered before the server stops waiting for handlers.
    app.on_shutdown.insert(0, _flush_views)

    app.router.add_routes(api.routes)
    app.router.add_routes(openapi.routes)
    return app


async def _ingest(app: web.Application) -> AsyncIterator[None]:
    """The countable articles (loaded before the first request), the salts and the batcher.
    The batcher is drained before the publisher it uses closes."""
    counter = app[COUNTER_SETTINGS]
    watcher = ArticleWatcher(
        app[SETTINGS].database_url, app[POOL], CountableArticles(), counter.article_reload
    )
    await watcher.start()
    app[ARTICLES] = watcher.articles
    app[SALTS] = SaltKeeper(app[POOL])
    app[BATCHER] = ViewBatcher(
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
        Periodic(
            "views-counted", counter.counts_interval, tasks.publish_counts(app[POOL], app[CLOCK])
        ),
        Periodic(
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
