"""The data of every event type as a small frozen dataclass, beside its JSON Schema in
./schemas: publishers build one and write `to_data()`; consumers read one with
`from_event(event)` instead of indexing `event.data` by hand.

The JSON Schemas stay the contract (checked on every outbox write and every consumed
message); tests/unit/test_event_payloads.py checks that each class and its schema agree.
Times travel as ISO 8601 with Vietnam's offset, days as YYYY-MM-DD.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
import uuid
from datetime import date, datetime
from typing import Any, Self

from services.common.events.envelope import CloudEvent, source_for
from services.common.vietnam import iso_time


class EventData:
    """What every payload class can do; the subclasses are frozen dataclasses."""

    @property
    def subject(self) -> str:
        """The CloudEvent subject: the id of the item the event is about."""
        return str(getattr(self, "id"))  # noqa: B009 - every item payload has an id

    def to_data(self) -> dict[str, Any]:
        data = _encode(self)
        assert isinstance(data, dict)
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Self:
        decoded = _decode(cls, data)
        assert isinstance(decoded, cls)
        return decoded

    @classmethod
    def from_event(cls, event: CloudEvent) -> Self:
        return cls.from_data(event.data)


# --- article.* (published by articles) -------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NameRef(EventData):
    """A parent category, a tag or a topic: its slug and its name."""

    slug: str
    name: str


@dataclasses.dataclass(frozen=True)
class CategoryRef(EventData):
    slug: str
    name: str
    # The parent of a child category (categories nest one level); added later, so
    # optional: a subscriber that ignores it keeps working.
    parent: NameRef | None = None


@dataclasses.dataclass(frozen=True)
class FeaturedRef(EventData):
    """Until when the article is pinned to the top of the home page and of its category
    (null: not pinned). A pin ends by itself at its time, without another event."""

    home_until: datetime | None = None
    category_until: datetime | None = None


@dataclasses.dataclass(frozen=True)
class ArticleData(EventData):
    """article.published and article.updated: the article's public representation. The
    taxonomy fields (tags, topic, featured, category.parent) and imported_views came
    later and are optional."""

    id: int
    version: int
    slug: str
    title: str
    url: str
    category: CategoryRef
    published_at: datetime
    updated_at: datetime
    summary: str = ""
    byline: str = ""
    image_url: str | None = None
    tags: tuple[NameRef, ...] = ()
    topic: NameRef | None = None
    featured: FeaturedRef | None = None
    # The views an imported article had on the site it came from (None: written here).
    # The counter starts the article's total there once, the first time it sees one.
    imported_views: int | None = None


@dataclasses.dataclass(frozen=True)
class ArticleUnpublishedData(EventData):
    """article.unpublished: the article left the public site."""

    id: int
    version: int
    unpublished_at: datetime


# --- feedback.* (published by feedback) ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FeedbackSubmittedData(EventData):
    """feedback.submitted: something waits for moderation; no name, no e-mail."""

    id: int
    version: int
    article_id: int | None
    target: str
    submitted_at: datetime


@dataclasses.dataclass(frozen=True)
class Reply(EventData):
    """The organisation's official answer to a feedback item."""

    body: str
    replied_at: datetime
    author: str = ""


@dataclasses.dataclass(frozen=True)
class FeedbackPublicData(EventData):
    """feedback.approved and feedback.updated: the item as readers see it."""

    id: int
    version: int
    article_id: int | None
    author_name: str
    body: str
    approved_at: datetime
    updated_at: datetime
    reply: Reply | None = None


@dataclasses.dataclass(frozen=True)
class FeedbackRejectedData(EventData):
    id: int
    version: int
    article_id: int | None
    rejected_at: datetime


@dataclasses.dataclass(frozen=True)
class FeedbackWithdrawnData(EventData):
    """feedback.withdrawn: the item is erased; consumers drop what they kept of it."""

    id: int
    version: int
    article_id: int | None
    withdrawn_at: datetime


# --- views.* (published by counter) ----------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class BatchedView(EventData):
    article_id: int
    key: str
    day: date
    # The keyed hash of the view's address, article and bucket (domain.address_key): the
    # consumer counts at most so many agents per address key. Added later, so optional: a
    # view without one (from an older ingest) is counted by its key alone.
    address_key: str | None = None


@dataclasses.dataclass(frozen=True)
class ViewsBatchData(EventData):
    """views.batch (internal to the counter): a micro-batch of view keys."""

    views: tuple[BatchedView, ...]
    version: int = 1

    @property
    def subject(self) -> str:
        # A batch is about no one item: each gets an id of its own.
        return str(uuid.uuid4())

    # Thousands of views a second: written and read directly rather than by the generic
    # walk over the fields (same JSON; tests/unit/test_event_payloads.py compares them).

    def to_data(self) -> dict[str, Any]:
        return {
            "views": [
                {
                    "article_id": v.article_id,
                    "key": v.key,
                    "day": v.day.isoformat(),
                    "address_key": v.address_key,
                }
                for v in self.views
            ],
            "version": self.version,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Self:
        days: dict[str, date] = {}
        views = []
        for v in data["views"]:
            day = days.get(v["day"])
            if day is None:
                day = days[v["day"]] = date.fromisoformat(v["day"])
            views.append(BatchedView(int(v["article_id"]), v["key"], day, v.get("address_key")))
        return cls(views=tuple(views), version=int(data["version"]))


@dataclasses.dataclass(frozen=True)
class ViewsCountedData(EventData):
    """views.counted: an article's total, and its views on `day`, in the 7 and in the 30
    days ending on `day` (the two sums came later, so optional; the most-read lists)."""

    article_id: int
    version: int
    total: int
    today: int
    day: date
    last_7_days: int | None = None
    last_30_days: int | None = None

    @property
    def subject(self) -> str:
        return str(self.article_id)


PAYLOADS: dict[str, type[EventData]] = {
    "article.published": ArticleData,
    "article.updated": ArticleData,
    "article.unpublished": ArticleUnpublishedData,
    "feedback.submitted": FeedbackSubmittedData,
    "feedback.approved": FeedbackPublicData,
    "feedback.updated": FeedbackPublicData,
    "feedback.rejected": FeedbackRejectedData,
    "feedback.withdrawn": FeedbackWithdrawnData,
    "views.batch": ViewsBatchData,
    "views.counted": ViewsCountedData,
}


def new_event(event_type: str, payload: EventData) -> CloudEvent:
    """A CloudEvent of `event_type` carrying `payload`, its source the publishing service."""
    expected = PAYLOADS[event_type]
    if not isinstance(payload, expected):
        raise TypeError(f"{event_type} carries {expected.__name__}, not {type(payload).__name__}")
    return CloudEvent(
        type=event_type,
        source=source_for(event_type),
        subject=payload.subject,
        data=payload.to_data(),
    )


# --- conversion between the dataclasses and JSON data ----------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, EventData):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}  # type: ignore[arg-type]
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(annotation: Any, value: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _decode(inner, value)
    if origin is tuple:
        item = typing.get_args(annotation)[0]
        return tuple(_decode(item, v) for v in value)
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        hints = _field_types(annotation)
        return annotation(
            **{
                f.name: _decode(hints[f.name], value[f.name])
                for f in dataclasses.fields(annotation)
                if f.name in value
            }
        )
    if annotation is datetime:
        return datetime.fromisoformat(value)
    if annotation is date:
        return date.fromisoformat(value)
    return annotation(value)
