"""Application forms as JSON Schema (draft 2020-12): checking a schema, checking data.

A form may carry display hints beside the standard keywords (`title`, `description`,
`x-hint`, `x-order`, ...); validators ignore unknown keywords, pages read them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, ValidationError

DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
MAX_ERRORS = 100


def schema_problems(schema: Any) -> list[str]:
    """Why `schema` is not a usable draft 2020-12 JSON Schema for a form (empty if it is)."""
    if not isinstance(schema, dict):
        return ["the form must be a JSON object (a JSON Schema)"]
    declared = schema.get("$schema")
    if declared is not None and declared.rstrip("#") != DRAFT_2020_12:
        return [f"the form must use JSON Schema draft 2020-12 ({DRAFT_2020_12}), not {declared}"]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        return [f"at {where}: {exc.message}"]
    if schema.get("type", "object") != "object":
        return ["the form's top-level type must be 'object'"]
    return []


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _messages(error: ValidationError) -> list[tuple[str, str]]:
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [p for p in error.validator_value if p not in error.instance]
        base = list(error.absolute_path)
        return [(_path([*base, name]), "This field is required.") for name in missing]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set((error.schema or {}).get("properties", {}))
        base = list(error.absolute_path)
        extra = [k for k in error.instance if k not in allowed]
        return [(_path([*base, name]), "This field is not part of the form.") for name in extra]
    return [(_path(error.absolute_path) or "(form)", error.message)]


def data_errors(check: Draft202012Validator, data: Any) -> dict[str, list[str]]:
    """Every error in `data`, by field path (`children[0].name`); empty if valid."""
    errors: dict[str, list[str]] = {}
    for count, error in enumerate(check.iter_errors(data)):
        if count >= MAX_ERRORS:
            break
        for path, message in _messages(error):
            errors.setdefault(path, []).append(message)
    return errors
