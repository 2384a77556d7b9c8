"""An agency feed's mapping to the common person schema: parsed, checked, applied to rows.

A mapping is YAML, or the same structure as JSON::

    record_id: TAXPAYER_REF          # the column holding the agency's own record id
    format: csv                      # csv | jsonl: what this agency's files are
    encoding: utf-8                  # how its files are encoded (utf-8 also reads a BOM)
    delimiter: ","                   # csv only
    unknown_columns: error           # a column named nowhere below: error | extra | ignore
    fields:                          # per common field: a column, a list of columns, a rule
      given_name: FORENAME
      address_line: [ADDRESS_1, ADDRESS_2]              # joined with ", "
      phone: {columns: [MOBILE, HOME_TEL], pick: first}  # the first one filled in
      date_of_birth: {column: DOB, formats: ["%d/%m/%Y"]}
      sex: {column: GENDER, values: {MALE: M, FEMALE: F, UNKNOWN: ""}}
    extra:                           # kept in SourceRecord.extra as {name: column's value}
      tax_reference: UTR
    ignore: [INTERNAL_FLAG]          # columns deliberately dropped

`mapping_parse` checks everything and raises `MappingInvalid` with one message per key
("fields.date_of_birth.formats[0]: ..."); `map_row` turns one raw row into common-schema
values and the errors of that row, each naming the common field and the agency's column.
Nothing here touches the database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import yaml

from core.errors import ApplicationError
from registry import standardise

FieldKind = Literal["text", "date", "datetime", "sex"]

#: The common person schema: field -> kind. Every SourceRecord column a feed may fill.
COMMON_FIELDS: dict[str, FieldKind] = {
    "given_name": "text",
    "middle_name": "text",
    "family_name": "text",
    "previous_family_name": "text",
    "date_of_birth": "date",
    "sex": "sex",
    "address_line": "text",
    "locality": "text",
    "postcode": "text",
    "phone": "text",
    "email": "text",
    "national_id": "text",
    "household_ref": "text",
    "source_updated_at": "datetime",
}
SEX_CODES = ("F", "M", "X")
DEFAULT_SEX_VALUES: dict[str, str] = {
    "f": "F",
    "female": "F",
    "m": "M",
    "male": "M",
    "x": "X",
    "other": "X",
    "u": "",
    "unknown": "",
    "not known": "",
}
DEFAULT_DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d")
FORMATS = ("csv", "jsonl")
UNKNOWN_POLICIES = ("error", "extra", "ignore")
TOP_LEVEL_KEYS = {
    "record_id",
    "format",
    "encoding",
    "delimiter",
    "unknown_columns",
    "fields",
    "extra",
    "ignore",
    "description",
}
RULE_KEYS = {"column", "columns", "join", "pick", "formats", "values", "on_error"}
MAX_MAPPING_CHARS = 100_000


class MappingInvalid(ApplicationError):
    code = "feed_mapping_invalid"
    status = 422
    title = "The feed mapping is not valid"


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one common field is read: from which columns, and how."""

    target: str
    columns: tuple[str, ...]
    pick: Literal["join", "first"] = "join"
    join: str = " "
    formats: tuple[str, ...] = ()
    values: dict[str, str] = field(default_factory=dict)
    keep_raw: bool = False  # date_of_birth: keep an unreadable date as date_of_birth_raw

    def as_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"columns": list(self.columns)}
        if len(self.columns) > 1:
            spec["pick"] = self.pick
            if self.pick == "join":
                spec["join"] = self.join
        if self.formats:
            spec["formats"] = list(self.formats)
        if self.values:
            spec["values"] = dict(self.values)
        if self.keep_raw:
            spec["on_error"] = "keep_raw"
        return spec


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A parsed, checked mapping."""

    record_id: str
    fields: dict[str, FieldRule]
    extra: dict[str, str]
    ignore: frozenset[str]
    format: Literal["csv", "jsonl"] = "csv"
    encoding: str = "utf-8"
    delimiter: str = ","
    unknown_columns: Literal["error", "extra", "ignore"] = "error"
    description: str = ""
    # Answers worked out once per spec: rows repeat the same columns millions of times.
    _memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def known_columns(self) -> frozenset[str]:
        known = self._memo.get("known")
        if known is None:
            mapped = {c for rule in self.fields.values() for c in rule.columns}
            known = frozenset({self.record_id, *mapped, *self.extra.values(), *self.ignore})
            self._memo["known"] = known
        return known

    def unknown_in(self, columns: list[str] | tuple[str, ...] | frozenset[str]) -> list[str]:
        """Columns of a file or record that the mapping does not name."""
        key = ("unknown", tuple(columns))
        unknown = self._memo.get(key)
        if unknown is None:
            known = self.known_columns
            unknown = [c for c in columns if c not in known]
            if len(self._memo) < 1000:
                self._memo[key] = unknown
        return unknown

    def missing_from(self, columns: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
        """(mapping key, column) pairs the mapping reads that a file header lacks."""
        present = set(columns)
        missing = [] if self.record_id in present else [("record_id", self.record_id)]
        for target, rule in self.fields.items():
            missing += [(f"fields.{target}", c) for c in rule.columns if c not in present]
        missing += [(f"extra.{name}", c) for name, c in self.extra.items() if c not in present]
        return missing

    def as_spec(self) -> dict[str, Any]:
        """The canonical JSON form, stored as FeedMapping.spec and parsed back unchanged."""
        spec: dict[str, Any] = {
            "record_id": self.record_id,
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "unknown_columns": self.unknown_columns,
            "fields": {t: r.as_spec() for t, r in self.fields.items()},
            "extra": dict(self.extra),
            "ignore": sorted(self.ignore),
        }
        if self.description:
            spec["description"] = self.description
        return spec


@dataclass(slots=True)
class MappedRow:
    """One raw row in the common schema, with what was wrong with it."""

    record_id: str
    values: dict[str, Any]
    extra: dict[str, Any]
    date_of_birth_raw: str = ""
    errors: list[dict[str, str]] = field(default_factory=list)

    def error(self, field_name: str, message: str) -> None:
        self.errors.append({"field": field_name, "message": message})


# --- parsing ------------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            key, messages = next(iter(self.errors.items()))
            more = len(self.errors) - 1
            detail = f"{key}: {messages[0]}" + (f" (and {more} more)" if more else "")
            raise MappingInvalid(detail, errors=self.errors)


def default_mapping() -> FeedSpec:
    """The mapping of an agency that has none: records already in the common schema."""
    return mapping_parse(
        {
            "record_id": "agency_record_id",
            "unknown_columns": "error",
            "fields": {name: name for name in COMMON_FIELDS},
            "extra": {},
        }
    )


def mapping_load_text(text: str) -> Any:
    """YAML (JSON is YAML too) into plain data; MappingInvalid names the line on a syntax error."""
    if len(text) > MAX_MAPPING_CHARS:
        raise MappingInvalid(
            f"The mapping is longer than {MAX_MAPPING_CHARS} characters.",
            errors={"mapping": ["too long"]},
        )
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise MappingInvalid(
            f"The mapping is not valid YAML{where}: {problem}.",
            errors={"mapping": [f"not valid YAML{where}: {problem}"]},
        ) from None


def mapping_parse(text_or_spec: str | Mapping[str, Any]) -> FeedSpec:
    """Check a mapping (YAML/JSON text or its parsed form) and return it; MappingInvalid if not."""
    raw = mapping_load_text(text_or_spec) if isinstance(text_or_spec, str) else text_or_spec
    problems = _Problems()
    if not isinstance(raw, Mapping):
        problems.add("mapping", "must be a set of keys (record_id, fields, extra, ...)")
        problems.raise_if_any()
    assert isinstance(raw, Mapping)
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            problems.add(
                str(key), f"unknown key; expected one of {', '.join(sorted(TOP_LEVEL_KEYS))}"
            )

    record_id = raw.get("record_id")
    if not _is_column(record_id):
        problems.add("record_id", "required: the column that holds the agency's record id")
    fmt = raw.get("format", "csv")
    if fmt not in FORMATS:
        problems.add("format", f"must be one of {', '.join(FORMATS)}")
    encoding = raw.get("encoding", "utf-8")
    if not isinstance(encoding, str) or not _encoding_known(encoding):
        problems.add(
            "encoding", f"{encoding!r} is not an encoding Python knows (e.g. utf-8, latin-1)"
        )
    delimiter = raw.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        problems.add("delimiter", "must be one character")
    unknown = raw.get("unknown_columns", "error")
    if unknown not in UNKNOWN_POLICIES:
        problems.add("unknown_columns", f"must be one of {', '.join(UNKNOWN_POLICIES)}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.add("description", "must be text")

    fields: dict[str, FieldRule] = {}
    raw_fields = raw.get("fields")
    if not isinstance(raw_fields, Mapping) or not raw_fields:
        problems.add("fields", "required: at least one common field and the column it comes from")
        raw_fields = {}
    for target, rule_raw in raw_fields.items():
        key = f"fields.{target}"
        if target not in COMMON_FIELDS:
            problems.add(key, f"not a common field; expected one of {', '.join(COMMON_FIELDS)}")
            continue
        rule = _parse_rule(str(target), rule_raw, key, problems)
        if rule is not None:
            fields[str(target)] = rule
    if raw_fields and not ({"given_name", "family_name"} & set(fields)):
        problems.add("fields", "must map given_name or family_name")

    extra: dict[str, str] = {}
    raw_extra = raw.get("extra") or {}
    if not isinstance(raw_extra, Mapping):
        problems.add("extra", "must be a set of name: column pairs")
        raw_extra = {}
    for name, column in raw_extra.items():
        if not isinstance(name, str) or not name.strip():
            problems.add("extra", f"{name!r} is not a name")
        elif not _is_column(column):
            problems.add(f"extra.{name}", "must be a column name")
        else:
            extra[name] = column

    raw_ignore = raw.get("ignore") or []
    if isinstance(raw_ignore, str):
        raw_ignore = [raw_ignore]
    if not isinstance(raw_ignore, list) or not all(_is_column(c) for c in raw_ignore):
        problems.add("ignore", "must be a list of column names")
        raw_ignore = []

    _check_columns_used_once(record_id, fields, extra, raw_ignore, problems)
    problems.raise_if_any()
    return FeedSpec(
        record_id=str(record_id),
        fields=fields,
        extra=extra,
        ignore=frozenset(raw_ignore),
        format=fmt,
        encoding=encoding,
        delimiter=delimiter,
        unknown_columns=unknown,
        description=description,
    )


def _is_column(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _encoding_known(name: str) -> bool:
    import codecs

    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _parse_rule(target: str, raw: Any, key: str, problems: _Problems) -> FieldRule | None:
    kind = COMMON_FIELDS[target]
    if isinstance(raw, str | list):
        raw = {"columns": raw}
    if not isinstance(raw, Mapping):
        problems.add(key, "must be a column, a list of columns, or a rule with 'column'")
        return None
    for option in raw:
        if option not in RULE_KEYS:
            problems.add(
                f"{key}.{option}", f"unknown option; expected one of {', '.join(sorted(RULE_KEYS))}"
            )
    columns_raw = raw.get("columns", raw.get("column"))
    if isinstance(columns_raw, str):
        columns_raw = [columns_raw]
    if (
        not isinstance(columns_raw, list)
        or not columns_raw
        or not all(map(_is_column, columns_raw))
    ):
        problems.add(key, "needs 'column' (a column name) or 'columns' (a list of them)")
        return None
    pick = raw.get("pick", "join")
    if pick not in ("join", "first"):
        problems.add(f"{key}.pick", "must be 'join' or 'first'")
    join = raw.get("join", ", " if target == "address_line" else " ")
    if not isinstance(join, str):
        problems.add(f"{key}.join", "must be text")
    if kind in ("date", "datetime", "sex") and len(columns_raw) > 1 and pick == "join":
        problems.add(key, "a date or sex comes from one column (or use pick: first)")

    formats: tuple[str, ...] = ()
    if "formats" in raw:
        if kind not in ("date", "datetime"):
            problems.add(f"{key}.formats", "only dates have formats")
        formats_raw = raw["formats"]
        if isinstance(formats_raw, str):
            formats_raw = [formats_raw]
        if not isinstance(formats_raw, list) or not formats_raw:
            problems.add(f"{key}.formats", "must be a list of date formats such as '%d/%m/%Y'")
            formats_raw = []
        for i, fmt in enumerate(formats_raw):
            message = _date_format_problem(fmt)
            if message:
                problems.add(f"{key}.formats[{i}]", message)
        formats = tuple(str(f) for f in formats_raw)
    elif kind == "date":
        formats = standardise.DEFAULT_DATE_FORMATS
    elif kind == "datetime":
        formats = DEFAULT_DATETIME_FORMATS

    values: dict[str, str] = {}
    if "values" in raw:
        if kind != "sex":
            problems.add(f"{key}.values", "only sex has a value map")
        values_raw = raw["values"]
        if not isinstance(values_raw, Mapping) or not values_raw:
            problems.add(f"{key}.values", "must map the agency's values to F, M, X or ''")
            values_raw = {}
        for source_value, code in values_raw.items():
            code = "" if code is None else str(code)
            if code not in (*SEX_CODES, ""):
                problems.add(
                    f"{key}.values.{source_value}", f"{code!r} is not one of F, M, X or ''"
                )
            values[str(source_value).strip().casefold()] = code

    keep_raw = False
    if "on_error" in raw:
        if target != "date_of_birth" or raw["on_error"] not in ("reject", "keep_raw"):
            problems.add(
                f"{key}.on_error", "only date_of_birth has on_error, and it is reject or keep_raw"
            )
        keep_raw = raw["on_error"] == "keep_raw"
    return FieldRule(
        target=target,
        columns=tuple(columns_raw),
        pick=pick if pick in ("join", "first") else "join",
        join=join if isinstance(join, str) else " ",
        formats=formats,
        values=values,
        keep_raw=keep_raw,
    )


def _date_format_problem(fmt: Any) -> str:
    if not isinstance(fmt, str) or "%" not in fmt:
        return f"{fmt!r} is not a date format; write it like '%d/%m/%Y'"
    try:
        sample = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC).strftime(fmt)
        datetime.strptime(sample, fmt)
    except ValueError as exc:
        return f"{fmt!r} is not a date format Python reads ({exc})"
    has_year = "%Y" in fmt or "%y" in fmt
    has_month = any(d in fmt for d in ("%m", "%b", "%B"))
    if not (has_year and has_month and "%d" in fmt):
        return f"{fmt!r} needs a day (%d), a month (%m, %b or %B) and a year (%Y or %y)"
    return ""


def _check_columns_used_once(
    record_id: Any,
    fields: dict[str, FieldRule],
    extra: dict[str, str],
    ignore: list[Any],
    problems: _Problems,
) -> None:
    ignored = set(ignore)
    used = {c for rule in fields.values() for c in rule.columns} | set(extra.values())
    if isinstance(record_id, str):
        used.add(record_id)
    for column in sorted(ignored & used):
        problems.add("ignore", f"column {column!r} is both read and ignored")


# --- applying -----------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A cell as text; None when it is a nested value no column can hold."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _read(rule: FieldRule, row: Mapping[str, Any], result: MappedRow) -> str:
    parts: list[str] = []
    for column in rule.columns:
        text = _text(row.get(column))
        if text is None:
            result.error(rule.target, f"column {column}: a nested value is not allowed here")
            return ""
        if text:
            if rule.pick == "first":
                return text
            parts.append(text)
    return rule.join.join(parts)


def record_id_of(spec: FeedSpec, row: Mapping[str, Any]) -> str:
    """The agency's record id of a raw row, as `map_row` reads it ("" when it has none)."""
    return _text(row.get(spec.record_id)) or ""


def map_row(spec: FeedSpec, row: Mapping[str, Any]) -> MappedRow:
    """One raw row in the common schema. Errors name the common field and the column."""
    record_text = _text(row.get(spec.record_id))
    result = MappedRow(record_id=record_text or "", values={}, extra={})
    if record_text is None:
        result.error("agency_record_id", f"column {spec.record_id}: must be text or a number")
    for target, rule in spec.fields.items():
        if len(rule.columns) == 1:
            cell = row.get(rule.columns[0])
            text = cell.strip() if isinstance(cell, str) else _read(rule, row, result)
        else:
            text = _read(rule, row, result)
        kind = COMMON_FIELDS[target]
        if kind == "text":
            result.values[target] = text
        elif kind == "sex":
            result.values[target] = _sex(rule, text, result)
        elif kind == "date":
            result.values[target] = _date(rule, text, result)
        else:
            result.values[target] = _datetime(rule, text, result)
    for name, column in spec.extra.items():
        cell = _text(row.get(column))
        if cell is None:
            result.error(f"extra.{name}", f"column {column}: a nested value is not allowed here")
        elif cell:
            result.extra[name] = cell
    unknown = spec.unknown_in(tuple(row.keys()))
    if unknown:
        if spec.unknown_columns == "error":
            for column in unknown:
                result.error(
                    column,
                    f"column {column} is not in the agency's mapping "
                    "(map it, list it under extra, or under ignore)",
                )
        elif spec.unknown_columns == "extra":
            for column in unknown:
                cell = _text(row.get(column))
                if cell:
                    result.extra[column] = cell
    return result


def _sex(rule: FieldRule, text: str, result: MappedRow) -> str:
    if not text:
        return ""
    if text.upper() in SEX_CODES:
        return text.upper()
    table = rule.values or DEFAULT_SEX_VALUES
    code = table.get(text.casefold())
    if code is None:
        known = ", ".join(sorted(k for k in table if k)) or "none"
        result.error(
            "sex",
            f"column {rule.columns[0]}: {text!r} is not a value the mapping knows "
            f"(fields.sex.values: {known})",
        )
        return ""
    return code


def _date(rule: FieldRule, text: str, result: MappedRow) -> date | None:
    try:
        return standardise.parse_date(text, rule.formats)
    except ValueError as exc:
        if rule.keep_raw:
            result.date_of_birth_raw = text
            return None
        result.error(rule.target, f"column {rule.columns[0]}: {exc}")
        return None


def _datetime(rule: FieldRule, text: str, result: MappedRow) -> datetime | None:
    if not text:
        return None
    if rule.formats == DEFAULT_DATETIME_FORMATS:
        try:
            iso = datetime.fromisoformat(text)  # reads all three, and fast
        except ValueError:
            pass
        else:
            return iso if iso.tzinfo else iso.replace(tzinfo=UTC)
    for fmt in rule.formats:
        try:
            parsed = standardise.read_datetime(text, fmt)
        except ValueError as exc:
            result.error(rule.target, f"column {rule.columns[0]}: {text!r} is not real ({exc})")
            return None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        result.error(
            rule.target,
            f"column {rule.columns[0]}: {text!r} is not a date and time in any of the "
            f"formats {', '.join(rule.formats)}",
        )
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def spec_text(spec: FeedSpec) -> str:
    """The mapping as YAML, for an agency whose mapping was given as JSON."""
    return yaml.safe_dump(spec.as_spec(), sort_keys=False, allow_unicode=True)


def spec_json(spec: FeedSpec) -> str:
    return json.dumps(spec.as_spec(), ensure_ascii=False, indent=2)


def unmap_row(
    spec: FeedSpec, values: Mapping[str, Any], extra: Mapping[str, Any]
) -> dict[str, str]:
    """A common-schema record as the agency's own export would write it (for demos and tests).

    The inverse of `map_row` for a record it could have produced: each field goes to the
    first of its columns, dates in the first declared format, sex as the agency writes it.
    """
    row: dict[str, str] = {spec.record_id: str(values.get("agency_record_id", ""))}
    for target, rule in spec.fields.items():
        for column in rule.columns:
            row[column] = ""
        value = values.get(target)
        kind = COMMON_FIELDS[target]
        if value is None or value == "":
            text = ""
        elif kind in ("date", "datetime") and isinstance(value, date):
            text = value.isoformat() if not rule.formats else value.strftime(rule.formats[0])
            if kind == "datetime" and rule.formats == DEFAULT_DATETIME_FORMATS:
                text = value.isoformat()
        elif kind == "sex" and rule.values:
            text = next((k for k, v in rule.values.items() if v == value), str(value))
        else:
            text = str(value)
        row[rule.columns[0]] = text
    for name, column in spec.extra.items():
        item = extra.get(name)
        row[column] = "" if item is None else str(item)
    return row
