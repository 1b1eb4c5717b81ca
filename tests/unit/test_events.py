"""The event contract: envelope, schemas and topology coverage, without I/O."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from services.common.events import topology
from services.common.events.envelope import EXCHANGE, CloudEvent, MalformedEvent, source_of
from services.common.events.schemas import EventSchemaError, event_types, validate

ARTICLE = {
    "id": 7,
    "version": 1,
    "slug": "ky-ket-giao-uoc-thi-dua",
    "title": "Ký kết giao ước thi đua",
    "url": "/tin/ky-ket-giao-uoc-thi-dua-7",
    "category": {"slug": "tinh-hinh-hoat-dong", "name": "Tình hình hoạt động"},
    "published_at": "2017-04-27T08:00:00+07:00",
    "updated_at": "2017-04-27T08:00:00+07:00",
}


def article_event(**data_changes: object) -> CloudEvent:
    return CloudEvent(
        type="article.published",
        source=source_of("articles"),
        subject="7",
        data={**ARTICLE, **data_changes},
    )


def test_envelope_is_cloudevents_structured_json() -> None:
    event = article_event()
    body = json.loads(event.to_json())
    assert body["specversion"] == "1.0"
    assert body["source"] == "/bantin/articles"
    assert body["type"] == "article.published"
    assert body["subject"] == "7"
    assert body["datacontenttype"] == "application/json"
    assert body["data"]["title"] == "Ký kết giao ước thi đua"  # UTF-8, not \u escapes
    assert "Ký kết" in event.to_json().decode()
    assert CloudEvent.from_json(event.to_json()) == event
    validate(body)


def test_each_event_has_its_own_id() -> None:
    assert article_event().id != article_event().id


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1, 2]", b'{"specversion": "0.3"}', b'{"specversion": "1.0", "type": "x"}'],
)
def test_malformed_bodies_are_refused(raw: bytes) -> None:
    with pytest.raises(MalformedEvent):
        CloudEvent.from_json(raw)


def test_data_that_breaks_the_contract_is_refused() -> None:
    with pytest.raises(EventSchemaError, match="version"):
        validate(article_event(version=0).to_dict())
    with pytest.raises(EventSchemaError, match="title"):
        validate({**article_event().to_dict(), "data": {**ARTICLE, "title": ""}})


def test_private_fields_cannot_slip_into_an_event() -> None:
    with pytest.raises(EventSchemaError, match="email"):
        validate(article_event(email="ban.doc@example.vn").to_dict())
    feedback = CloudEvent(
        type="feedback.approved",
        source=source_of("feedback"),
        subject="3",
        data={
            "id": 3,
            "version": 2,
            "article_id": 7,
            "author_name": "Nguyễn Văn A",
            "body": "Bài viết rất hay.",
            "approved_at": "2026-11-28T08:00:00+07:00",
            "updated_at": "2026-11-28T08:00:00+07:00",
            "ip_address": "203.0.113.9",
        },
    )
    with pytest.raises(EventSchemaError, match="ip_address"):
        validate(feedback.to_dict())


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(EventSchemaError, match="no schema"):
        validate({**article_event().to_dict(), "type": "article.exploded"})


# Types no queue of ours binds (for systems outside Bantin only): none since the desk's
# count of feedback waiting (articles.feedback-cases) takes feedback.submitted and .rejected.
UNSUBSCRIBED: set[str] = set()
INTERNAL = {"views.batch"}  # on bantin.internal, counter's own


def topology_gaps(
    types: list[str], queues: tuple[topology.QueueSpec, ...]
) -> tuple[set[str], set[str]]:
    """(routing keys some queue consumes that have no schema, public event types that no
    queue binds on the public exchange)."""
    consumed = {key for spec in queues for key in spec.routing_keys}
    public_bound = {
        key for spec in queues if spec.exchange == EXCHANGE for key in spec.routing_keys
    }
    return consumed - set(types), set(types) - INTERNAL - public_bound


def test_every_event_type_has_a_schema_and_every_consumed_type_is_bound() -> None:
    types = event_types()
    assert INTERNAL | UNSUBSCRIBED <= set(types)
    without_schema, unbound = topology_gaps(types, topology.QUEUES)
    assert without_schema == set()
    assert unbound == UNSUBSCRIBED


def test_the_topology_check_finds_a_missing_binding_and_a_missing_schema() -> None:
    without_updates = tuple(
        replace(spec, routing_keys=tuple(k for k in spec.routing_keys if k != "article.updated"))
        for spec in topology.QUEUES
    )
    assert topology_gaps(event_types(), without_updates)[1] == UNSUBSCRIBED | {"article.updated"}
    extra = (*topology.QUEUES, topology.QueueSpec("articles.new", ("article.archived",)))
    assert topology_gaps(event_types(), extra)[0] == {"article.archived"}


def test_every_queue_dead_letters_to_its_own_parking_queue() -> None:
    for spec in topology.QUEUES:
        arguments = topology.queue_arguments(spec)
        assert arguments["x-queue-type"] == "quorum"
        assert arguments["x-dead-letter-routing-key"] == spec.name
        assert arguments["x-delivery-limit"] > 0


def test_every_public_event_type_is_in_the_asyncapi_document() -> None:
    root = Path(__file__).resolve().parents[2]
    document = yaml.safe_load((root / "docs" / "asyncapi.yaml").read_text())
    public = [t for t in event_types() if t != "views.batch"]  # internal to counter
    assert sorted(c["address"] for c in document["channels"].values()) == public
    for message in document["components"]["messages"].values():
        for part in message["payload"]["allOf"]:
            ref = part.get("$ref") or part["properties"]["data"]["$ref"]
            assert (root / "docs" / ref).resolve().exists(), ref
