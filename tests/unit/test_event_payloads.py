"""Every event type's dataclass agrees with its JSON Schema (the contract): the same fields,
the same required ones, the same JSON types; and what a publisher builds reads back as
the same value."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.common.events import payloads
from services.common.events.envelope import CloudEvent
from services.common.events.payloads import PAYLOADS, EventData, new_event
from services.common.events.schemas import EventSchemaError, _validator, event_types, validate

MOMENT = datetime(2026, 11, 28, 2, 30, tzinfo=UTC)


def _json_types(annotation: Any) -> set[str]:
    """The JSON types a field of this annotation travels as."""
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):
        return set().union(*(_json_types(a) for a in typing.get_args(annotation)))
    if annotation is type(None):
        return {"null"}
    if typing.get_origin(annotation) is tuple:
        return {"array"}
    if dataclasses.is_dataclass(annotation):
        return {"object"}
    return {int: {"integer"}, str: {"string"}, datetime: {"string"}, date: {"string"}}[annotation]


def _schema_types(schema: dict[str, Any]) -> set[str]:
    if "const" in schema:
        return {"integer"} if isinstance(schema["const"], int) else {"string"}
    if "enum" in schema:
        return {"string"}
    declared = schema["type"]
    return set(declared) if isinstance(declared, list) else {declared}


def disagreements(cls: type, schema: dict[str, Any], where: str) -> list[str]:
    """How the dataclass `cls` and the object `schema` differ, nested objects included."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    properties = schema["properties"]
    found = []
    if set(fields) != set(properties):
        found.append(f"{where}: fields {sorted(fields)} != properties {sorted(properties)}")
    # A field the schema fixes to one value may default to it; any other default makes the
    # field optional.
    required = {
        name
        for name, f in fields.items()
        if (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
        or f.default == properties.get(name, {}).get("const", dataclasses.MISSING)
    }
    if required != set(schema.get("required", [])):
        found.append(f"{where}: required {sorted(required)} != {sorted(schema['required'])}")
    for name in set(fields) & set(properties):
        annotation, prop = hints[name], properties[name]
        if _json_types(annotation) != _schema_types(prop):
            found.append(f"{where}.{name}: {annotation} is not {prop.get('type')}")
        nested = annotation
        if typing.get_origin(annotation) in (types.UnionType, typing.Union):
            (nested,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(nested) is tuple:
            nested, prop = typing.get_args(nested)[0], prop["items"]
        if dataclasses.is_dataclass(nested):
            found += disagreements(nested, prop, f"{where}.{name}")  # type: ignore[arg-type]
        for kind, wanted in ((datetime, "date-time"), (date, "date")):
            if nested is kind and prop.get("format") != wanted:
                found.append(f"{where}.{name}: format should be {wanted}")
    return found


def test_every_event_type_has_a_payload_class_and_every_class_a_schema() -> None:
    assert sorted(PAYLOADS) == event_types()


@pytest.mark.parametrize("event_type", event_types())
def test_the_payload_class_and_the_schema_agree(event_type: str) -> None:
    schema = _validator(event_type).schema
    assert disagreements(PAYLOADS[event_type], schema, event_type) == []


def test_the_comparison_sees_a_difference() -> None:
    @dataclasses.dataclass(frozen=True)
    class Wrong(EventData):
        id: int
        version: str
        extra: int = 0

    schema = _validator("article.unpublished").schema
    assert len(disagreements(Wrong, schema, "x")) == 3  # fields, required, version's type


SAMPLES: dict[str, EventData] = {
    "article.published": payloads.ArticleData(
        id=42,
        version=3,
        slug="khoi-thi-dua",
        title="Khối thi đua ký kết giao ước",
        url="/tin/khoi-thi-dua-42",
        category=payloads.CategoryRef(slug="tin-tuc", name="Tin tức"),
        published_at=MOMENT,
        updated_at=MOMENT,
    ),
    # The taxonomy fields, optional additions, filled in: nested category, tags, topic, pins.
    "article.updated": payloads.ArticleData(
        id=42,
        version=4,
        slug="khoi-thi-dua",
        title="Khối thi đua ký kết giao ước",
        url="/tin/khoi-thi-dua-42",
        category=payloads.CategoryRef(
            slug="thi-dua",
            name="Thi đua",
            parent=payloads.NameRef(slug="tin-tuc", name="Tin tức"),
        ),
        published_at=MOMENT,
        updated_at=MOMENT,
        tags=(payloads.NameRef("bien-dao", "Biển đảo"), payloads.NameRef("thi-dua", "Thi đua")),
        topic=payloads.NameRef("dai-hoi-hoi-nong-dan", "Đại hội Hội Nông dân"),
        featured=payloads.FeaturedRef(home_until=MOMENT, category_until=None),
    ),
    "article.unpublished": payloads.ArticleUnpublishedData(42, 4, MOMENT),
    "feedback.submitted": payloads.FeedbackSubmittedData(7, 1, None, "site", MOMENT),
    "feedback.approved": payloads.FeedbackPublicData(
        7, 2, 42, "Trần Thị B", "Bài viết hay.", MOMENT, MOMENT, payloads.Reply("Cảm ơn.", MOMENT)
    ),
    "feedback.rejected": payloads.FeedbackRejectedData(7, 2, 42, MOMENT),
    "feedback.withdrawn": payloads.FeedbackWithdrawnData(7, 3, 42, MOMENT),
    "views.batch": payloads.ViewsBatchData(
        (payloads.BatchedView(42, "a" * 64, date(2026, 11, 28)),)
    ),
    "views.counted": payloads.ViewsCountedData(42, 9, 1250, 17, date(2026, 11, 28)),
}


@pytest.mark.parametrize("event_type", sorted(SAMPLES))
def test_a_built_event_matches_its_schema_and_reads_back_the_same(event_type: str) -> None:
    event = new_event(event_type, SAMPLES[event_type])
    validate(event.to_dict())
    received = CloudEvent.from_json(event.to_json())
    assert PAYLOADS[event_type].from_event(received) == SAMPLES[event_type]


def test_the_source_names_the_publishing_service() -> None:
    assert new_event("article.published", SAMPLES["article.published"]).source == (
        "/bantin/articles"
    )
    assert new_event("feedback.rejected", SAMPLES["feedback.rejected"]).source == (
        "/bantin/feedback"
    )
    assert new_event("views.counted", SAMPLES["views.counted"]).subject == "42"


def test_an_event_refuses_the_payload_of_another_type() -> None:
    with pytest.raises(TypeError):
        new_event("article.unpublished", SAMPLES["article.published"])


def test_an_article_event_without_the_taxonomy_fields_still_reads() -> None:
    """A publisher (or a stored event) from before the taxonomy fields is still valid and
    reads with the defaults: no parent, no tags, no topic, no pins."""
    data = SAMPLES["article.published"].to_data()
    for added in ("tags", "topic", "featured"):
        del data[added]
    del data["category"]["parent"]
    event = CloudEvent(type="article.published", source="/bantin/articles", subject="42", data=data)
    validate(event.to_dict())
    assert payloads.ArticleData.from_data(data) == SAMPLES["article.published"]


def test_times_travel_in_vietnam_time() -> None:
    data = SAMPLES["article.unpublished"].to_data()
    assert data["unpublished_at"] == "2026-11-28T09:30:00+07:00"


# --- the hand-written check and codec of views.batch ----------------------------------------

KEY = "ab" * 32
GOOD_VIEW = {"article_id": 7, "key": KEY, "day": "2026-12-02", "address_key": "cd" * 32}


def _batch(**view: Any) -> dict[str, Any]:
    return {"version": 1, "views": [{**GOOD_VIEW, **view}]}


BATCHES = [
    {"version": 1, "views": [GOOD_VIEW]},
    {"version": 1, "views": [{k: v for k, v in GOOD_VIEW.items() if k != "address_key"}]},
    _batch(address_key=None),
    _batch(article_id=0),
    _batch(article_id=-3),
    _batch(article_id=True),
    _batch(article_id=7.0),
    _batch(article_id="7"),
    _batch(key=KEY.upper()),
    _batch(key=KEY[:-1]),
    _batch(key=KEY + "0"),
    _batch(key=None),
    _batch(day="2026-02-30"),
    _batch(day="20261202"),
    _batch(day="2026-12-02T00:00:00"),
    _batch(day=20261202),
    _batch(address_key="x" * 64),
    _batch(address_key=7),
    _batch(user_agent="Mozilla/5.0"),
    {"version": 1, "views": [{"article_id": 7, "day": "2026-12-02"}]},
    {"version": 1, "views": []},
    {"version": 1, "views": [GOOD_VIEW] * 5001},
    {"version": 1, "views": [GOOD_VIEW] * 5000},
    {"version": 2, "views": [GOOD_VIEW]},
    {"version": True, "views": [GOOD_VIEW]},
    {"version": 1.0, "views": [GOOD_VIEW]},
    {"views": [GOOD_VIEW]},
    {"version": 1, "views": [GOOD_VIEW], "extra": 1},
    {"version": 1, "views": "not a list"},
    {"version": 1, "views": ["not a view"]},
    [],
]


@pytest.mark.parametrize("data", BATCHES)
def test_the_views_batch_check_refuses_exactly_what_its_schema_refuses(data: Any) -> None:
    by_schema = not list(_validator("views.batch").iter_errors(data))
    envelope = CloudEvent("views.batch", "/bantin/counter", "batch", data).to_dict()
    try:
        validate(envelope)
        by_check = True
    except EventSchemaError:
        by_check = False
    assert by_check == by_schema


def test_the_views_batch_codec_writes_and_reads_what_the_generic_one_does() -> None:
    batch = payloads.ViewsBatchData(
        views=(
            payloads.BatchedView(7, KEY, date(2026, 12, 2), "cd" * 32),
            payloads.BatchedView(8, KEY, date(2026, 12, 1)),
        )
    )
    generic = payloads._encode(batch)
    assert batch.to_data() == generic
    assert payloads.ViewsBatchData.from_data(generic) == batch
    assert payloads._decode(payloads.ViewsBatchData, generic) == batch
