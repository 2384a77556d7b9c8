"""Pure helpers: check a registry schema, validate a record, normalise values for search.

Nothing here touches the database; services and selectors build on it.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from referencing.exceptions import Unresolvable

from registries.choices import PersonRef

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
FIELD_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_ -]{0,63}$")
SCHEMA_MAX_BYTES = 256 * 1024
RECORD_MAX_BYTES = 64 * 1024
VALUE_MAX = 200  # longer normalised values are indexed as a hash
RESERVED_FIELDS = frozenset({"uuid"})
SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean"})

# CivicStack's annotations on a schema's properties (JSON Schema ignores unknown keywords).
SEARCHABLE_KEY = "x-searchable"
PERSONAL_KEY = "x-personal"
PERSON_KEY = "x-person"
PRIMARY_KEY = "primaryKey"  # the GovStack database API's own keyword


def json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str).encode("utf-8"))


def properties(schema: Mapping[str, Any]) -> dict[str, Any]:
    props = schema.get("properties")
    return dict(props) if isinstance(props, Mapping) else {}


def declarations_from_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The searchable, personal, person and key fields a schema's annotations declare."""
    searchable, personal, persons, key = [], [], {}, ""
    for name, prop in properties(schema).items():
        if not isinstance(prop, Mapping):
            continue
        if prop.get(SEARCHABLE_KEY) is True:
            searchable.append(name)
        if prop.get(PERSONAL_KEY) is True:
            personal.append(name)
        if isinstance(prop.get(PERSON_KEY), str):
            persons[name] = prop[PERSON_KEY]
        if prop.get(PRIMARY_KEY) is True and not key:
            key = name
    return {
        "searchable_fields": searchable,
        "personal_fields": personal,
        "person_fields": persons,
        "id_field": key,
    }


def _types_of(prop: Mapping[str, Any]) -> set[str]:
    kind = prop.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)}
    return set()


def definition_errors(
    *,
    name: str,
    schema: Any,
    id_field: str,
    searchable_fields: list[str],
    personal_fields: list[str],
    person_fields: Mapping[str, str],
) -> dict[str, list[str]]:
    """Everything wrong with a registry definition, by field; empty when it is sound."""
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    if not NAME_PATTERN.match(name or ""):
        add("name", "letters, digits, '-' and '_' only, up to 64, starting with a letter or digit")
    if not isinstance(schema, Mapping):
        add("schema", "must be a JSON object")
        return errors
    if json_size(schema) > SCHEMA_MAX_BYTES:
        add("schema", f"is larger than {SCHEMA_MAX_BYTES // 1024} KB")
        return errors
    declared = schema.get("$schema")
    if declared is not None and declared.rstrip("#") != DRAFT_2020_12:
        add("schema", f"$schema must be {DRAFT_2020_12} (JSON Schema 2020-12)")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        add("schema", f"{exc.message}" + (f" (at /{where})" if where else ""))
        return errors
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), Mapping):
        add("schema", 'a record is an object: give "type": "object" and its "properties"')
        return errors
    props = properties(schema)
    for field in props:
        if field in RESERVED_FIELDS:
            add("schema", f"the field name {field!r} is reserved for the record's id")
        elif not FIELD_PATTERN.match(field):
            add("schema", f"field name {field!r}: letters, digits, '_', '-' and spaces only")

    def check_declared(key: str, fields: list[str]) -> None:
        for field in fields:
            if field not in props:
                add(key, f"{field!r} is not a property of the schema")

    check_declared("searchable_fields", searchable_fields)
    check_declared("personal_fields", personal_fields)
    check_declared("person_fields", list(person_fields))
    for field in searchable_fields:
        prop = props.get(field)
        if not isinstance(prop, Mapping):
            continue
        kinds = _types_of(prop)
        if kinds == {"array"}:
            kinds = _types_of(prop.get("items") or {})
        if kinds and not kinds <= SCALAR_TYPES | {"null"}:
            add("searchable_fields", f"{field!r} must hold text, numbers or booleans to search")
    for field, kind in person_fields.items():
        if kind not in PersonRef.values:
            add("person_fields", f"{field!r}: kind must be one of {', '.join(PersonRef.values)}")
    if id_field:
        if id_field not in props:
            add("id_field", f"{id_field!r} is not a property of the schema")
        elif id_field not in (schema.get("required") or []):
            add("id_field", f"{id_field!r} must be listed in the schema's required fields")
        elif id_field in personal_fields:
            add("id_field", "the key field cannot be personal: it appears in URLs")
    return errors


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(
        json.loads(schema_json), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def validator_for(schema: Mapping[str, Any]) -> Draft202012Validator:
    return _validator(json.dumps(schema, sort_keys=True))


def record_errors(schema: Mapping[str, Any], content: Any) -> dict[str, list[str]]:
    """The record's schema violations keyed by the JSON path of the offending value."""
    errors: dict[str, list[str]] = {}
    try:
        found = sorted(validator_for(schema).iter_errors(content), key=lambda e: list(e.path))
    except Unresolvable as exc:
        return {"record": [f"the schema refers to something it cannot resolve: {exc}"]}
    for error in found:
        path = "/".join(str(p) for p in error.absolute_path)
        if not path and error.validator == "required":
            # name the missing field itself, so a form can show it beside the field
            missing = re.match(r"'([^']+)' is a required property", error.message)
            path = missing.group(1) if missing else ""
        errors.setdefault(path or "record", []).append(error.message)
    return errors


# --- normalised values for the search index ------------------------------------------------


def normalise_text(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


def _scalar(value: Any) -> str | None:
    if value is None or isinstance(value, Mapping | list):
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        text = normalise_text(str(value))
    if len(text) > VALUE_MAX:
        return "#" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return text


def index_values(value: Any) -> Iterator[str]:
    """The normalised forms under which a value is found: one per element of an array."""
    items = value if isinstance(value, list) else [value]
    seen: set[str] = set()
    for item in items:
        text = _scalar(item)
        if text is not None and text not in seen:
            seen.add(text)
            yield text


def query_value(value: Any, prop: Mapping[str, Any] | None = None) -> str:
    """A value asked for, normalised like the stored ones.

    Query strings are typed by the field's schema first, so "2020" finds the number 2020
    of an integer field and "007" stays "007" in a text field.
    """
    if isinstance(value, str) and isinstance(prop, Mapping):
        item = prop.get("items") if _types_of(prop) == {"array"} else prop
        value = coerce_text(item if isinstance(item, Mapping) else {}, value)
    return _scalar(value) or ""


def matches(stored: Any, wanted: Any, prop: Mapping[str, Any] | None = None) -> bool:
    """Whether a stored field value answers a query value (normalised; arrays by element)."""
    if isinstance(wanted, Mapping | list):
        return bool(stored == wanted)
    return query_value(wanted, prop) in set(index_values(stored))


# --- text to typed values (CSV cells, form inputs) -----------------------------------------

TRUE_WORDS = frozenset({"true", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "0"})


def coerce_text(prop: Mapping[str, Any], text: str) -> Any:
    """A text cell as the type the schema wants; left as text when it does not convert,
    so the schema's validation names the problem."""
    kinds = _types_of(prop)
    text = text.strip()
    try:
        if "integer" in kinds and re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        if "number" in kinds:
            return float(text) if re.search(r"[.eE]", text) else int(text)
        if "boolean" in kinds and text.lower() in TRUE_WORDS | FALSE_WORDS:
            return text.lower() in TRUE_WORDS
        if kinds & {"array", "object"} and text[:1] in "[{":
            return json.loads(text)
        if "array" in kinds:
            items = prop.get("items")
            item: Mapping[str, Any] = items if isinstance(items, Mapping) else {}
            return [coerce_text(item, part) for part in text.split(";") if part.strip()]
    except ValueError:
        return text
    return text


def coerce_row(schema: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """A row of text cells as a record: empty cells left out, known fields typed."""
    props = properties(schema)
    content: dict[str, Any] = {}
    for column, raw in row.items():
        if raw is None:
            continue
        if not isinstance(raw, str):
            content[column] = raw
            continue
        if not raw.strip():
            continue
        prop = props.get(column)
        content[column] = coerce_text(prop, raw) if isinstance(prop, Mapping) else raw
    return content
