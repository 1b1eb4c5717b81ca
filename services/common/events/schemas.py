"""JSON Schemas of the event contract: one file per event type in ./schemas, plus the envelope.

Every event is checked against them when it is written to the outbox, so a change that
breaks the public contract fails in the transaction that made it, not in a subscriber.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

SCHEMA_DIR = Path(__file__).parent / "schemas"
ENVELOPE = "cloudevent"


class EventSchemaError(ValueError):
    """An event that does not match the published contract."""


@cache
def _validator(name: str) -> Draft202012Validator:
    path = SCHEMA_DIR / f"{name}.json"
    if not path.exists():
        raise EventSchemaError(f"no schema for event type {name!r}")
    schema = json.loads(path.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def event_types() -> list[str]:
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.json") if p.stem != ENVELOPE)


def validate(envelope: dict[str, Any]) -> None:
    """Raise EventSchemaError unless the envelope and its data match their schemas."""
    for name, instance in ((ENVELOPE, envelope), (str(envelope.get("type")), envelope.get("data"))):
        try:
            _validator(name).validate(instance)
        except ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise EventSchemaError(f"{name}: {where}: {exc.message}") from exc
