"""The event types and the fields each one carries (checked before anything is written)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from exchange.events.errors import EventPayloadInvalid, EventPayloadTooLarge, EventTypeUnknown
from exchange.models.events import EventType

#: The largest payload accepted, as compact JSON (bytes). A change of circumstances is a
#: handful of short fields; anything bigger is a mistake or an attack.
MAX_PAYLOAD_BYTES = 8 * 1024


@dataclass(frozen=True)
class FieldSpec:
    required: bool = False
    max_chars: int = 200
    kind: str = "text"  # "text", "date" (ISO 8601) or "ids" (a list of short strings)
    max_items: int = 20


FIELDS: dict[str, dict[str, FieldSpec]] = {
    EventType.ADDRESS: {
        "address_line": FieldSpec(required=True, max_chars=200),
        "locality": FieldSpec(max_chars=100),
        "postcode": FieldSpec(required=True, max_chars=16),
        "moved_on": FieldSpec(kind="date"),
    },
    EventType.NAME: {
        "given_name": FieldSpec(required=True, max_chars=100),
        "middle_name": FieldSpec(max_chars=100),
        "family_name": FieldSpec(required=True, max_chars=100),
        "previous_family_name": FieldSpec(max_chars=100),
    },
    EventType.BIRTH: {
        "given_name": FieldSpec(required=True, max_chars=100),
        "family_name": FieldSpec(required=True, max_chars=100),
        "date_of_birth": FieldSpec(required=True, kind="date"),
        "sex": FieldSpec(max_chars=1),
        "parents": FieldSpec(kind="ids", max_chars=16, max_items=2),
    },
    EventType.DEATH: {
        "date_of_death": FieldSpec(required=True, kind="date"),
        "place_of_death": FieldSpec(max_chars=200),
    },
    EventType.HOUSEHOLD: {
        "household_ref": FieldSpec(required=True, max_chars=64),
        "members": FieldSpec(kind="ids", max_chars=16, max_items=20),
        "change": FieldSpec(max_chars=100),
    },
}


def event_type_check(value: str) -> str:
    if value not in EventType.values:
        raise EventTypeUnknown(
            f"{value!r} is not an event type; use one of {', '.join(EventType.values)}.",
            errors={"type": [f"one of {', '.join(EventType.values)}"]},
        )
    return value


def _field_errors(name: str, value: Any, spec: FieldSpec) -> list[str]:
    if spec.kind == "ids":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return ["must be a list of identifiers"]
        if len(value) > spec.max_items:
            return [f"at most {spec.max_items} items"]
        if any(len(v) > spec.max_chars or not v for v in value):
            return [f"each identifier has 1 to {spec.max_chars} characters"]
        return []
    if not isinstance(value, str):
        return ["must be text"]
    if spec.required and not value.strip():
        return ["is required"]
    if len(value) > spec.max_chars:
        return [f"at most {spec.max_chars} characters"]
    if spec.kind == "date" and value:
        try:
            date.fromisoformat(value)
        except ValueError:
            return ["must be a date, YYYY-MM-DD"]
    return []


def payload_check(*, type: str, payload: Any) -> dict[str, Any]:
    """The payload as stored (stripped text), or EventPayloadInvalid / TooLarge."""
    event_type_check(type)
    if not isinstance(payload, dict):
        raise EventPayloadInvalid("The payload must be an object.", errors={"payload": ["object"]})
    size = len(json.dumps(payload, separators=(",", ":"), default=str).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise EventPayloadTooLarge(
            f"The payload is {size:,} bytes; at most {MAX_PAYLOAD_BYTES:,} are accepted.",
            limit=MAX_PAYLOAD_BYTES,
            received=size,
        )
    fields = FIELDS[type]
    errors: dict[str, list[str]] = {}
    for name in payload:
        if name not in fields:
            errors[f"payload.{name}"] = [f"not a field of a {type} event"]
    clean: dict[str, Any] = {}
    for name, spec in fields.items():
        if name not in payload or payload[name] is None:
            if spec.required:
                errors[f"payload.{name}"] = ["is required"]
            continue
        problems = _field_errors(name, payload[name], spec)
        if problems:
            errors[f"payload.{name}"] = problems
            continue
        value = payload[name]
        clean[name] = value.strip() if isinstance(value, str) else list(value)
    if errors:
        raise EventPayloadInvalid(
            f"The {type} event's data is not valid: {', '.join(sorted(errors))}.", errors=errors
        )
    return clean
