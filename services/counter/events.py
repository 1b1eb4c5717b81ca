"""Events in and out of the counter: the read model of articles, the counting of view
batches, and the views.batch / views.counted events it sends (actions writes the
views.counted to the outbox)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

import asyncpg

from services.common.events.broker import Publisher
from services.common.events.consumer import Handler
from services.common.events.envelope import CloudEvent
from services.common.events.grouping import GroupHandler
from services.common.events.payloads import (
    ArticleData,
    ArticleUnpublishedData,
    ViewsBatchData,
    ViewsCountedData,
    new_event,
)
from services.common.events.topology import INTERNAL_EXCHANGE
from services.common.metrics import VIEWS_DROPPED
from services.common.vietnam import vn_day
from services.counter import store
from services.counter.domain import AGENTS_PER_ADDRESS, Clock, DropReason, View, oldest_kept_day

log = logging.getLogger(__name__)

ARTICLE_STATE_QUEUE = "counter.article-state"
VIEW_BATCHES_QUEUE = "counter.view-batches"
VIEWS_BATCH = "views.batch"
VIEWS_COUNTED = "views.counted"
# A batch is published before the requests in it are answered: a broker that cannot
# confirm within this time makes them fail fast (503) rather than hang.
BATCH_PUBLISH_TIMEOUT = 5.0


class BatchNotPublished(Exception):
    """The broker did not take a batch of views; none of them is counted."""


# --- consumed: article state --------------------------------------------------------------


async def on_article_public(conn: asyncpg.Connection, event: CloudEvent) -> None:
    """article.published / article.updated: the article may receive views. An imported
    view count starts the article's total the first time one arrives, never again."""
    article = ArticleData.from_event(event)
    await store.set_article_state(conn, article.id, True, article.version)
    if article.imported_views is not None:
        await store.start_imported(conn, article.id, article.imported_views)


async def on_article_unpublished(conn: asyncpg.Connection, event: CloudEvent) -> None:
    article = ArticleUnpublishedData.from_event(event)
    await store.set_article_state(conn, article.id, False, article.version)


ARTICLE_HANDLERS: dict[str, Handler] = {
    "article.published": on_article_public,
    "article.updated": on_article_public,
    "article.unpublished": on_article_unpublished,
}


# --- consumed: our own view batches -------------------------------------------------------


def views_batch_handler(clock: Clock, agents_limit: int = AGENTS_PER_ADDRESS) -> Handler:
    """Count a views.batch in the consumer's transaction: keys seen before add nothing, so
    a batch delivered twice (or published twice) counts once; at most `agents_limit`
    distinct agents count per address, article and bucket. What the counting consumer
    does with a batch alone (its group failed, see views_batches_handler)."""
    count = views_batches_handler(clock, agents_limit)

    async def on_views_batch(conn: asyncpg.Connection, event: CloudEvent) -> None:
        await count(conn, [event])

    return on_views_batch


def views_batches_handler(clock: Clock, agents_limit: int = AGENTS_PER_ADDRESS) -> GroupHandler:
    """Count a group of views.batch events in one statement of the consumer's transaction
    (one commit for many batches). Their views are counted as one batch would be: a key
    twice in the group counts once, the agents per address are capped across the group."""

    async def on_views_batches(conn: asyncpg.Connection, events: Sequence[CloudEvent]) -> None:
        views = [view for event in events for view in ViewsBatchData.from_event(event).views]
        oldest = oldest_kept_day(vn_day(clock()))
        counted = await store.count_views(conn, views, oldest, agents_limit)
        too_old = sum(1 for v in views if v.day < oldest)
        if too_old:
            log.warning(
                "views of days whose keys are gone were not counted",
                extra={"event_ids": [event.id for event in events], "views": too_old},
            )
        # Counted before the commit: a group handled again after a failed commit counts its
        # drops twice here (the metric is a rate to watch, the totals are what is exact).
        VIEWS_DROPPED.labels(DropReason.REPEAT).inc(counted.repeats)
        VIEWS_DROPPED.labels(DropReason.ADDRESS_LIMIT).inc(counted.over_limit)
        VIEWS_DROPPED.labels(DropReason.TOO_OLD).inc(too_old)
        log.debug(
            "views counted",
            extra={"batches": len(events), "views": len(views), "new": counted.new},
        )

    return on_views_batches


# --- published ----------------------------------------------------------------------------


async def publish_views(publisher: Publisher, views: Sequence[View]) -> None:
    """Publish one views.batch to the internal exchange and wait for the broker's confirm.
    Raises (BatchNotPublished or the publish error) if the views may not have reached the
    counting queue."""
    event = new_event(VIEWS_BATCH, ViewsBatchData(views=tuple(views)))
    routed = await publisher.publish(
        INTERNAL_EXCHANGE,
        VIEWS_BATCH,
        event.to_json(),
        message_id=event.id,
        timeout=BATCH_PUBLISH_TIMEOUT,
    )
    if not routed:
        raise BatchNotPublished("views.batch was confirmed but routed to no queue")


def views_counted(row: asyncpg.Record, today: date) -> ViewsCountedData:
    """The views.counted of an article's claimed totals (store.claim_changed_totals)."""
    return ViewsCountedData(
        article_id=row["article_id"],
        version=row["version"],
        total=row["total"],
        today=row["today"],
        day=today,
        last_7_days=row["last_7_days"],
        last_30_days=row["last_30_days"],
    )
