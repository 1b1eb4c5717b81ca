"""Events: the data of what articles publishes (article.*), and the handlers that keep the
read models of views (views.counted) and public feedback (feedback.*)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from services.articles import store
from services.articles.domain import Article, iso_time
from services.common.events.envelope import CloudEvent

SERVICE = "articles"


def article_data(article: Article) -> dict[str, Any]:
    """The public representation carried by article.published and article.updated."""
    assert article.published_at is not None, "only a published article is announced"
    return {
        "id": article.id,
        "version": article.version,
        "slug": article.slug,
        "title": article.title,
        "summary": article.summary,
        "url": article.url,
        "category": {"slug": article.category.slug, "name": article.category.name},
        "byline": article.byline,
        "image_url": article.image_url,
        "published_at": iso_time(article.published_at),
        "updated_at": iso_time(article.updated_at),
    }


def unpublished_data(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "version": article.version,
        "unpublished_at": iso_time(article.updated_at),
    }


# --- consumers -----------------------------------------------------------------------------


async def on_views_counted(conn: asyncpg.Connection, event: CloudEvent) -> None:
    data = event.data
    await store.upsert_views(
        conn,
        int(data["article_id"]),
        int(data["total"]),
        int(data["today"]),
        date.fromisoformat(data["day"]),
        event.version,
    )


def public_feedback(data: dict[str, Any]) -> store.PublicFeedback:
    reply = data.get("reply") or None
    return store.PublicFeedback(
        id=int(data["id"]),
        article_id=data["article_id"],
        author_name=data["author_name"],
        body=data["body"],
        reply_body=reply["body"] if reply else None,
        reply_author=reply.get("author") if reply else None,
        replied_at=datetime.fromisoformat(reply["replied_at"]) if reply else None,
        approved_at=datetime.fromisoformat(data["approved_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
    )


async def on_feedback_public(conn: asyncpg.Connection, event: CloudEvent) -> None:
    """feedback.approved and feedback.updated: keep the item's public fields."""
    await store.upsert_feedback(conn, public_feedback(event.data), event.version)


async def on_feedback_withdrawn(conn: asyncpg.Connection, event: CloudEvent) -> None:
    await store.delete_feedback(conn, int(event.data["id"]))
