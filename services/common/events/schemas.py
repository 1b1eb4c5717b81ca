"""JSON Schemas of the event contract: one file per event type in ./schemas, plus the envelope.

Every event is checked against them when it is written to the outbox, so a change that
breaks the public contract fails in the transaction that made it, not in a subscriber.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

SCHEMA_DIR = Path(__file__).parent / "schemas"
ENVELOPE = "cloudevent"


class EventSchemaError(ValueError):
    """An event that does not match the published contract."""

    def __init__(self, message: str, redacted: str | None = None) -> None:
        super().__init__(message)
        # The same without the event's values (a park reason, a log line): where, and
        # which rule of the schema it breaks.
        self.redacted = redacted or message


# Rules whose message names only fields (of the schema or the event), never a value.
_VALUE_FREE_RULES = frozenset({"required", "additionalProperties"})


def _redacted(name: str, where: str, error: ValidationError) -> str:
    if error.validator in _VALUE_FREE_RULES:
        return f"{name}: {where}: {error.message}"
    rule = json.dumps(error.validator_value, ensure_ascii=False)
    return f"{name}: {where}: breaks {error.validator} {rule[:120]}"


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
        fast = FAST_CHECKS.get(name)
        if fast is not None:
            fast(instance)
            continue
        try:
            _validator(name).validate(instance)
        except ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise EventSchemaError(
                f"{name}: {where}: {exc.message}", _redacted(name, where, exc)
            ) from exc


# --- hand-written checks of the busiest types ------------------------------------------------

# jsonschema takes ~75 us a view to check a views.batch (thousands of views a second); this
# check refuses exactly what views.batch.json refuses (tests/unit/test_event_payloads.py
# compares the two on valid and invalid batches) in a fraction of that.
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_VIEW_FIELDS = frozenset({"article_id", "key", "day", "address_key"})
_VIEW_REQUIRED = frozenset({"article_id", "key", "day"})


def _check_views_batch(data: Any) -> None:
    def refuse(where: str, message: str) -> EventSchemaError:
        return EventSchemaError(f"views.batch: {where}: {message}")

    if not isinstance(data, dict):
        raise refuse("(root)", "not an object")
    if set(data) != {"version", "views"}:
        raise refuse("(root)", f"fields {sorted(data)}, wanted version and views")
    if data["version"] != 1 or isinstance(data["version"], bool):
        raise refuse("version", "must be 1")
    views = data["views"]
    if not isinstance(views, list) or not 1 <= len(views) <= 5000:
        raise refuse("views", "must be a list of 1 to 5000 views")
    for index, view in enumerate(views):
        if not isinstance(view, dict) or not _VIEW_REQUIRED <= view.keys() <= _VIEW_FIELDS:
            raise refuse(f"views/{index}", "not a view")
        article_id, key, day = view["article_id"], view["key"], view["day"]
        if not _is_integer(article_id) or article_id < 1:
            raise refuse(f"views/{index}/article_id", "must be an integer from 1")
        if type(key) is not str or not _HEX64.fullmatch(key):
            raise refuse(f"views/{index}/key", "must be 64 lowercase hex digits")
        if type(day) is not str or not _is_day(day):
            raise refuse(f"views/{index}/day", "must be a date")
        address = view.get("address_key")
        if address is not None and (type(address) is not str or not _HEX64.fullmatch(address)):
            raise refuse(f"views/{index}/address_key", "must be 64 lowercase hex digits")


def _is_integer(value: Any) -> bool:
    """An integer as JSON Schema counts them (7.0 is one; true is not)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_day(text: str) -> bool:
    if not _DAY.fullmatch(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


FAST_CHECKS: dict[str, Callable[[Any], None]] = {"views.batch": _check_views_batch}
