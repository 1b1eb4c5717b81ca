"""Events in and out. In: article.published / updated / unpublished keep the read model of
the articles that may receive feedback. Out: the data of each feedback.* event, built from
a stored item with the public fields only (the schemas forbid anything else)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from services.common.events.envelope import CloudEvent
from services.common.events.payloads import (
    ArticleData,
    ArticleUnpublishedData,
    EventData,
    FeedbackPublicData,
    FeedbackRejectedData,
    FeedbackSubmittedData,
    FeedbackWithdrawnData,
    Reply,
)
from services.feedback import store

QUEUE = "feedback.article-state"


async def on_article_public(conn: asyncpg.Connection, event: CloudEvent) -> None:
    """article.published and article.updated: the article is public, with this title."""
    article = ArticleData.from_event(event)
    await store.article_published(conn, article.id, article.title, article.url, article.version)


async def on_article_unpublished(conn: asyncpg.Connection, event: CloudEvent) -> None:
    article = ArticleUnpublishedData.from_event(event)
    await store.article_unpublished(conn, article.id, article.version)


HANDLERS = {
    "article.published": on_article_public,
    "article.updated": on_article_public,
    "article.unpublished": on_article_unpublished,
}


def submitted(item: Mapping[str, Any]) -> FeedbackSubmittedData:
    """feedback.submitted: that something waits for moderation; no name, no e-mail."""
    return FeedbackSubmittedData(
        id=item["id"],
        version=item["version"],
        article_id=item["article_id"],
        target=item["target"],
        submitted_at=item["submitted_at"],
    )


def reply_of(item: asyncpg.Record) -> Reply | None:
    """The organisation's official reply to an item, if it has one."""
    if item["reply_body"] is None:
        return None
    return Reply(
        body=item["reply_body"], author=item["reply_author"], replied_at=item["replied_at"]
    )


def public(item: asyncpg.Record) -> FeedbackPublicData:
    """feedback.approved / feedback.updated: the item as readers see it under the article."""
    return FeedbackPublicData(
        id=item["id"],
        version=item["version"],
        article_id=item["article_id"],
        author_name=item["author_name"],
        body=item["body"],
        reply=reply_of(item),
        approved_at=item["approved_at"],
        updated_at=item["updated_at"],
    )


def rejected(item: asyncpg.Record) -> FeedbackRejectedData:
    return FeedbackRejectedData(
        id=item["id"],
        version=item["version"],
        article_id=item["article_id"],
        rejected_at=item["rejected_at"],
    )


def withdrawn(item: asyncpg.Record) -> FeedbackWithdrawnData:
    return FeedbackWithdrawnData(
        id=item["id"],
        version=item["version"],
        article_id=item["article_id"],
        withdrawn_at=item["withdrawn_at"],
    )


# The builder of each published event type's data from the stored item.
BUILDERS: dict[str, Callable[[asyncpg.Record], EventData]] = {
    "feedback.submitted": submitted,
    "feedback.approved": public,
    "feedback.updated": public,
    "feedback.rejected": rejected,
    "feedback.withdrawn": withdrawn,
}


def payload(event_type: str, item: asyncpg.Record) -> EventData:
    """The data of `event_type` for the stored `item`."""
    return BUILDERS[event_type](item)
