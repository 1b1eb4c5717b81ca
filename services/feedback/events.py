"""Events in and out. In: article.published / updated / unpublished keep the read model of
the articles that may receive feedback. Out: the data of each feedback.* event, built from
a stored item with the public fields only (the schemas forbid anything else)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.common.events.envelope import CloudEvent
from services.feedback import store

QUEUE = "feedback.article-state"


async def on_article_public(conn: asyncpg.Connection, event: CloudEvent) -> None:
    """article.published and article.updated: the article is public, with this title."""
    data = event.data
    await store.article_published(conn, data["id"], data["title"], data["url"], event.version)


async def on_article_unpublished(conn: asyncpg.Connection, event: CloudEvent) -> None:
    await store.article_unpublished(conn, event.data["id"], event.version)


HANDLERS = {
    "article.published": on_article_public,
    "article.updated": on_article_public,
    "article.unpublished": on_article_unpublished,
}


def _time(value: datetime) -> str:
    return value.isoformat()


def submitted(item: asyncpg.Record) -> dict[str, Any]:
    """feedback.submitted: that something waits for moderation; no name, no e-mail."""
    return {
        "id": item["id"],
        "version": item["version"],
        "article_id": item["article_id"],
        "target": item["target"],
        "submitted_at": _time(item["submitted_at"]),
    }


def reply_of(item: asyncpg.Record) -> dict[str, Any] | None:
    """The organisation's official reply to an item, if it has one."""
    if item["reply_body"] is None:
        return None
    return {
        "body": item["reply_body"],
        "author": item["reply_author"],
        "replied_at": _time(item["replied_at"]),
    }


def public(item: asyncpg.Record) -> dict[str, Any]:
    """feedback.approved / feedback.updated: the item as readers see it under the article."""
    reply = reply_of(item)
    return {
        "id": item["id"],
        "version": item["version"],
        "article_id": item["article_id"],
        "author_name": item["author_name"],
        "body": item["body"],
        "reply": reply,
        "approved_at": _time(item["approved_at"]),
        "updated_at": _time(item["updated_at"]),
    }


def rejected(item: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": item["id"],
        "version": item["version"],
        "article_id": item["article_id"],
        "rejected_at": _time(item["rejected_at"]),
    }


def withdrawn(item: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": item["id"],
        "version": item["version"],
        "article_id": item["article_id"],
        "withdrawn_at": _time(item["withdrawn_at"]),
    }
