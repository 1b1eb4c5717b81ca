"""The CloudEvents 1.0 envelope (JSON structured mode) every Bantin event travels in."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
EXCHANGE = "bantin.events"


class MalformedEvent(ValueError):
    """A message body that is not a Bantin CloudEvent; retrying it cannot help."""


@dataclass(frozen=True)
class CloudEvent:
    type: str
    source: str
    subject: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))

    @property
    def entity(self) -> str:
        """What the event is about ("article" for "article.published")."""
        return self.type.split(".", 1)[0]

    @property
    def version(self) -> int:
        return int(self.data["version"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": self.time,
            "datacontenttype": "application/json",
            "dataschema": f"/bantin/schemas/{self.type}.json",
            "data": self.data,
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> CloudEvent:
        try:
            if body["specversion"] != "1.0":
                raise MalformedEvent(f"unsupported specversion {body['specversion']!r}")
            return cls(
                type=str(body["type"]),
                source=str(body["source"]),
                subject=str(body["subject"]),
                data=dict(body["data"]),
                id=str(body["id"]),
                time=str(body["time"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, MalformedEvent):
                raise
            raise MalformedEvent(f"not a CloudEvent: {exc!r}") from exc

    @classmethod
    def from_json(cls, raw: bytes) -> CloudEvent:
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise MalformedEvent(f"body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise MalformedEvent("body is not a JSON object")
        return cls.from_dict(body)


# The service that publishes each kind of event ("article" for "article.published"): the
# one place an event's `source` comes from. It names the service, never a setting.
PUBLISHERS = {"article": "articles", "feedback": "feedback", "views": "counter"}


def source_of(service: str) -> str:
    return f"/bantin/{service}"


def source_for(event_type: str) -> str:
    """The `source` of an event of this type: /bantin/<the service that publishes it>."""
    return source_of(PUBLISHERS[event_type.split(".", 1)[0]])
