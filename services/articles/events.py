"""Events: the data of what articles publishes (article.*), and the handlers that keep the
read models of views (views.counted) and public feedback (feedback.*)."""

from __future__ import annotations

import asyncpg

from services.articles import store
from services.articles.domain import Article, Category, Topic
from services.common.events.envelope import CloudEvent
from services.common.events.payloads import (
    ArticleData,
    ArticleUnpublishedData,
    CategoryRef,
    FeaturedRef,
    FeedbackPublicData,
    FeedbackRejectedData,
    FeedbackSubmittedData,
    FeedbackWithdrawnData,
    NameRef,
    ViewsCountedData,
)

CaseData = FeedbackSubmittedData | FeedbackPublicData | FeedbackRejectedData | FeedbackWithdrawnData


def article_data(article: Article) -> ArticleData:
    """The public representation carried by article.published and article.updated."""
    assert article.published_at is not None, "only a published article is announced"
    return ArticleData(
        id=article.id,
        version=article.version,
        slug=article.slug,
        title=article.title,
        summary=article.summary,
        url=article.url,
        category=CategoryRef(
            slug=article.category.slug,
            name=article.category.name,
            parent=_name_ref(article.category_parent),
        ),
        byline=article.byline,
        image_url=article.image_url,
        published_at=article.published_at,
        updated_at=article.updated_at,
        tags=tuple(NameRef(slug=t.slug, name=t.name) for t in article.tags),
        topic=_name_ref(article.topic),
        featured=FeaturedRef(
            home_until=article.featured_home_until,
            category_until=article.featured_category_until,
        ),
        imported_views=article.imported_views,
    )


def _name_ref(item: Category | Topic | None) -> NameRef | None:
    return NameRef(slug=item.slug, name=item.name) if item is not None else None


def unpublished_data(article: Article) -> ArticleUnpublishedData:
    return ArticleUnpublishedData(
        id=article.id, version=article.version, unpublished_at=article.updated_at
    )


# --- consumers -----------------------------------------------------------------------------


async def on_views_counted(conn: asyncpg.Connection, event: CloudEvent) -> None:
    counted = ViewsCountedData.from_event(event)
    await store.upsert_views(
        conn, counted.article_id, counted.total, counted.today, counted.day, counted.version
    )


def public_feedback(data: FeedbackPublicData) -> store.PublicFeedback:
    reply = data.reply
    return store.PublicFeedback(
        id=data.id,
        article_id=data.article_id,
        author_name=data.author_name,
        body=data.body,
        reply_body=reply.body if reply else None,
        reply_author=(reply.author or None) if reply else None,
        replied_at=reply.replied_at if reply else None,
        approved_at=data.approved_at,
        updated_at=data.updated_at,
    )


async def on_feedback_public(conn: asyncpg.Connection, event: CloudEvent) -> None:
    """feedback.approved and feedback.updated: keep the item's public fields."""
    item = FeedbackPublicData.from_event(event)
    await store.upsert_feedback(conn, public_feedback(item), item.version)


async def on_feedback_withdrawn(conn: asyncpg.Connection, event: CloudEvent) -> None:
    await store.delete_feedback(conn, FeedbackWithdrawnData.from_event(event).id)


# --- desk: manage (the count of feedback waiting for moderation) ---------------------------

# What each moderation event says of its case, and its payload (feedback.updated: an
# approved case edited or answered, still approved).
CASE_STATUS: dict[str, tuple[str, type[CaseData]]] = {
    "feedback.submitted": ("waiting", FeedbackSubmittedData),
    "feedback.approved": ("approved", FeedbackPublicData),
    "feedback.updated": ("approved", FeedbackPublicData),
    "feedback.rejected": ("rejected", FeedbackRejectedData),
    "feedback.withdrawn": ("withdrawn", FeedbackWithdrawnData),
}


async def on_feedback_case(conn: asyncpg.Connection, event: CloudEvent) -> None:
    """Any feedback.* event: keep the case's status at its highest version. A held
    (spam-suspected) case is announced by feedback.submitted too, so it counts as waiting."""
    status, payload = CASE_STATUS[event.type]
    case = payload.from_event(event)
    await store.set_feedback_case(conn, case.id, status, case.version)
