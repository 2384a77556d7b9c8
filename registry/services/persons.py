"""Golden records: each person's best value of every field, with where it came from.

`person_golden_refresh(person_ids=...)` recomputes the golden record of the given persons
from their source records by the deployment's survivorship rules
(registry/config/survivorship.yaml, or the file `REGISTRY_SURVIVORSHIP_FILE` names; see
that file for the rules). Every golden value carries its source: the agency, the agency's
record id, the source record's id and when the source last updated it. Linkage, clerical
review and ingest call it after they change who belongs to whom; it is a derived view,
so it takes no actor and writes no audit entry of its own (the change that caused it did).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.fields import EncryptedTextField
from registry import standardise
from registry.models import Person, SourceRecord

GOLDEN_FIELDS = (
    "given_name",
    "middle_name",
    "family_name",
    "date_of_birth",
    "sex",
    "address_line",
    "locality",
    "postcode",
    "phone",
    "email",
    "national_id",
)
RULES = ("trust", "recent", "complete")
DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "survivorship.yaml"
CHUNK = 20_000

_RECORD_COLUMNS = (
    "pk",
    "person_id",
    "agency__code",
    "agency_record_id",
    "date_of_birth_raw",
    "source_updated_at",
    "loaded_at",
    *GOLDEN_FIELDS,
)


class SurvivorshipConfigError(ApplicationError):
    code = "survivorship_config_invalid"
    status = 500
    title = "The survivorship rules are invalid"


@dataclass(frozen=True)
class FieldRule:
    rules: tuple[str, ...]
    trust: tuple[str, ...]
    with_field: str | None = None


@dataclass(frozen=True)
class Survivorship:
    fields: dict[str, FieldRule] = field(default_factory=dict)

    @classmethod
    def parse(cls, spec: Mapping[str, Any], *, where: str = "survivorship") -> Survivorship:
        """Check a survivorship spec (as in survivorship.yaml); errors name the key."""
        if not isinstance(spec, Mapping):
            raise SurvivorshipConfigError(
                f"{where}: expected a mapping with 'default' and 'fields'"
            )
        unknown = set(spec) - {"default", "fields"}
        if unknown:
            raise SurvivorshipConfigError(f"{where}: unknown keys {sorted(unknown)}")
        default = cls._rule(spec.get("default") or {}, None, f"{where}.default")
        given = spec.get("fields") or {}
        if not isinstance(given, Mapping):
            raise SurvivorshipConfigError(f"{where}.fields: expected a mapping")
        extra = set(given) - set(GOLDEN_FIELDS)
        if extra:
            raise SurvivorshipConfigError(
                f"{where}.fields: {sorted(extra)} are not golden fields "
                f"({', '.join(GOLDEN_FIELDS)})"
            )
        rules = {
            name: cls._rule(given.get(name) or {}, default, f"{where}.fields.{name}")
            for name in GOLDEN_FIELDS
        }
        for name, rule in rules.items():
            if rule.with_field is not None:
                leader = rules.get(rule.with_field)
                if leader is None or leader.with_field is not None:
                    raise SurvivorshipConfigError(
                        f"{where}.fields.{name}.with: '{rule.with_field}' must be a field "
                        "chosen by rules, not by 'with'"
                    )
        return cls(rules)

    @staticmethod
    def _rule(spec: Any, default: FieldRule | None, where: str) -> FieldRule:
        if not isinstance(spec, Mapping):
            raise SurvivorshipConfigError(f"{where}: expected a mapping")
        unknown = set(spec) - {"rules", "trust", "with"}
        if unknown:
            raise SurvivorshipConfigError(f"{where}: unknown keys {sorted(unknown)}")
        rules = spec.get("rules", default.rules if default else RULES)
        trust = spec.get("trust", default.trust if default else ())
        if not isinstance(rules, list | tuple) or not all(r in RULES for r in rules):
            raise SurvivorshipConfigError(f"{where}.rules: a list of {', '.join(RULES)}")
        if not isinstance(trust, list | tuple) or not all(isinstance(a, str) for a in trust):
            raise SurvivorshipConfigError(f"{where}.trust: a list of agency codes")
        with_field = spec.get("with")
        if with_field is not None and with_field not in GOLDEN_FIELDS:
            raise SurvivorshipConfigError(f"{where}.with: '{with_field}' is not a golden field")
        return FieldRule(tuple(rules), tuple(trust), with_field)


@cache
def survivorship() -> Survivorship:
    path = Path(getattr(settings, "REGISTRY_SURVIVORSHIP_FILE", "") or DEFAULT_FILE)
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SurvivorshipConfigError(f"cannot read {path.name}: {exc}") from None
    return Survivorship.parse(spec, where=path.name)


# --- choosing the values -----------------------------------------------------------------


def _present(name: str, row: Mapping[str, Any]) -> bool:
    value = row[name]
    if name == "date_of_birth":
        return value is not None
    return bool(value and str(value).strip())


def _sort_key(name: str, rule: FieldRule, row: Mapping[str, Any]) -> tuple[Any, ...]:
    key: list[Any] = []
    for kind in rule.rules:
        if kind == "trust":
            agency = row["agency__code"]
            key.append(rule.trust.index(agency) if agency in rule.trust else len(rule.trust))
        elif kind == "recent":
            updated = row["source_updated_at"] or row["loaded_at"]
            key.append(-updated.timestamp() if updated else 0.0)
        else:  # complete: a real date over an unreadable one; the longer text
            value = row[name]
            key.append(-len(str(value)) if name != "date_of_birth" else 0)
    key.append(row["pk"])  # the oldest record breaks any remaining tie
    return tuple(key)


def _json_value(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def golden_record(rows: Sequence[Mapping[str, Any]], rules: Survivorship | None = None) -> dict:
    """The golden record of one person's source records (rows of `_RECORD_COLUMNS`)."""
    rules = rules or survivorship()
    winners: dict[str, Mapping[str, Any]] = {}
    golden: dict[str, Any] = {}
    ordered = sorted(rules.fields.items(), key=lambda item: item[1].with_field is not None)
    for name, rule in ordered:
        if rule.with_field is not None:
            leader = winners.get(rule.with_field)
            row = leader if leader is not None and _present(name, leader) else None
        else:
            candidates = [r for r in rows if _present(name, r)]
            row = min(candidates, key=lambda r: _sort_key(name, rule, r)) if candidates else None
        if row is None:
            continue
        winners[name] = row
        updated = row["source_updated_at"] or row["loaded_at"]
        golden[name] = {
            "value": _json_value(row[name]),
            "agency": row["agency__code"],
            "record": row["agency_record_id"],
            "record_id": row["pk"],
            "updated_at": updated.isoformat() if updated else None,
        }
    return golden


def _chunks(ids: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# The columns a chunk reads: `_RECORD_COLUMNS` without the raw date of birth (no rule uses it).
_FETCHED = (
    "pk",
    "person_id",
    "agency__code",
    "agency_record_id",
    "source_updated_at",
    "loaded_at",
    *GOLDEN_FIELDS,
)


class _Reader:
    """Reads chunks of persons' source records column by column.

    The SELECT is compiled once; each chunk adds `WHERE person_id IN (...)` with the ids
    as parameters (Django's `__in` lookup prepares every id one by one, which took a
    tenth of the refresh). The rows come as the database sends them; Django's converters
    for a column (dates parsed) run once per distinct value instead of once per row and
    column as `values_list` would, and encrypted columns stay sealed until a value is
    needed (`_Sealed`).
    """

    def __init__(self) -> None:
        query = SourceRecord.objects.order_by().values_list(*_FETCHED)
        compiler = query.query.get_compiler(using=query.db)
        self.sql, self.params = compiler.as_sql()
        selected = [s[0] for s in compiler.select[: compiler.col_count]]
        self.converters = compiler.get_converters(selected)
        quote = connection.ops.quote_name
        self.person = (
            f"{quote(SourceRecord._meta.db_table)}."
            f"{quote(SourceRecord._meta.get_field('person').column)}"
        )

    def records(self, chunk: list[str]) -> dict[str, list[Any]]:
        """The chunk's source records, {column: values} ({} for none)."""
        if not chunk:
            return {}
        holders = ", ".join(["%s"] * len(chunk))
        # the SELECT is Django's and has no WHERE; the ids are parameters
        sql = f"{self.sql} WHERE {self.person} IN ({holders})"
        with connection.cursor() as cursor:
            cursor.execute(sql, [*self.params, *chunk])
            rows = cursor.fetchall()
        if not rows:
            return {}
        columns: list[Any] = [list(column) for column in zip(*rows, strict=True)]
        for at, (converters, expression) in self.converters.items():
            if isinstance(getattr(expression, "target", None), EncryptedTextField):
                columns[at] = _Sealed(columns[at], converters, expression)
            else:
                columns[at] = _converted(columns[at], converters, expression)
        return dict(zip(_FETCHED, columns, strict=True))


class _Sealed:
    """A column of encrypted values (the national ID), decrypted only where read.

    Most records never give their person's value, so `_winners` opens only the ones that
    can: an empty token is an empty value, and any other may still be blank once opened.
    """

    def __init__(self, tokens: list[Any], converters: list[Any], expression: Any) -> None:
        self.tokens = tokens
        self.converters = converters
        self.expression = expression
        self.opened: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, row: int) -> Any:
        try:
            return self.opened[row]
        except KeyError:
            value = self.tokens[row]
            for converter in self.converters:
                value = converter(value, self.expression, connection)
            self.opened[row] = value
            return value

    def maybe(self) -> Any:
        """Rows whose value may be present (its token is not empty)."""
        import numpy as np

        return np.array([bool(t) for t in self.tokens], dtype=bool)


def _converted(values: list[Any], converters: list[Any], expression: Any) -> list[Any]:
    """`values` through Django's converters, each distinct value converted once."""
    done: dict[Any, Any] = {}
    out = []
    for value in values:
        try:
            found = done[value]
        except KeyError:
            found = value
            for converter in converters:
                found = converter(found, expression, connection)
            done[value] = found
        out.append(found)
    return out


def _keyed(values: Sequence[Any], fn: Any, dtype: Any) -> Any:
    """np.array([fn(v) for v in values]), with fn called once per distinct value."""
    import numpy as np

    done: dict[Any, Any] = {}
    out = []
    for value in values:
        try:
            out.append(done[value])
        except KeyError:
            found = done[value] = fn(value)
            out.append(found)
    return np.array(out, dtype=dtype)


def _all_text(values: Iterable[Any]) -> bool:
    return set(map(type, values)) <= {str}


def _texts(values: list[Any]) -> tuple[Any, Any] | None:
    """(present, length) arrays of a column of text values, in C with NumPy's string
    functions; None when the column holds other types or NumPy has no such functions
    (before 2.0), and the caller works value by value."""
    import numpy as np

    dtypes = getattr(np, "dtypes", None)
    if not hasattr(np, "strings") or not hasattr(dtypes, "StringDType"):
        return None
    if not _all_text(values):
        return None
    try:
        text = np.array(values, dtype=dtypes.StringDType())  # type: ignore[union-attr]
    except UnicodeEncodeError:  # a lone surrogate: Python's own functions handle it
        return None
    length = np.strings.str_len(text)
    # `value.strip()` is not empty: not all whitespace (numpy's isspace is Python's)
    return (length > 0) & ~np.strings.isspace(text), length


def _updated(columns: Mapping[str, list[Any]]) -> list[Any]:
    """Each row's `source_updated_at or loaded_at`."""
    return [
        s or loaded
        for s, loaded in zip(columns["source_updated_at"], columns["loaded_at"], strict=True)
    ]


def _winners(
    columns: Mapping[str, list[Any]], updated: list[Any], rules: Survivorship
) -> tuple[Any, dict[str, Any]]:
    """Each person's winning row of each golden field, for many persons at once.

    `columns` as `_Reader.records` gives them. Returns the persons (in order of first row) and
    {field: array of the winning row per person, -1 for none}. The same choice as
    `golden_record` (a test checks they agree), but each field is one NumPy lexsort over
    every row instead of a Python sort per person.
    """
    import numpy as np
    import pandas as pd

    count = len(columns["pk"])
    codes, persons = pd.factorize(np.array(columns["person_id"], dtype=object))
    n_persons = len(persons)
    pk = np.array(columns["pk"], dtype=np.int64)
    recent = _keyed(updated, lambda at: -(at.timestamp()) if at else 0.0, np.float64)
    agency_codes, agencies = pd.factorize(np.array(columns["agency__code"], dtype=object))
    winners: dict[str, Any] = {}
    leaders = sorted(rules.fields.items(), key=lambda item: item[1].with_field is not None)
    for name, rule in leaders:
        values = columns[name]
        sealed = values if isinstance(values, _Sealed) else None
        texts = None if name == "date_of_birth" or sealed else _texts(values)
        best = np.full(n_persons, -1, dtype=np.int64)
        if rule.with_field is not None:
            leader = winners.get(rule.with_field, best)
            has = leader >= 0
            if sealed is not None:
                has[has] = [_present(name, {name: sealed[r]}) for r in leader[has].tolist()]
            else:
                has[has] = _presence(name, values, texts)[leader[has]]
            best[has] = leader[has]
            winners[name] = best
            continue
        keys: list[Any] = []
        for kind in rule.rules:
            if kind == "trust":
                rank: dict[str, int] = {}
                for i, a in enumerate(rule.trust):
                    rank.setdefault(a, i)
                ranks = np.array([rank.get(a, len(rule.trust)) for a in agencies], dtype=np.int64)
                keys.append(ranks[agency_codes])
            elif kind == "recent":
                keys.append(recent)
            elif name == "date_of_birth":
                keys.append(np.zeros(count, dtype=np.int64))
            elif sealed is not None:
                keys.append(np.zeros(count, dtype=np.int64))  # set below for opened rows
            elif texts is not None:
                keys.append(-texts[1].astype(np.int64))
            else:
                keys.append(
                    _keyed(values, lambda v: -len(str(v)) if v is not None else 0, np.int64)
                )
        if sealed is not None:
            present = _opened_present(name, rule, sealed, keys, codes)
        else:
            present = _presence(name, values, texts)
        where = np.flatnonzero(present)
        if len(where):
            # lexsort sorts by its last key first: the person, then the rules, then the pk
            order = np.lexsort((pk[where], *(k[where] for k in reversed(keys)), codes[where]))
            ranked = where[order]
            first = np.ones(len(ranked), dtype=bool)
            first[1:] = codes[ranked[1:]] != codes[ranked[:-1]]
            best[codes[ranked[first]]] = ranked[first]
        winners[name] = best
    return persons, winners


def _presence(name: str, values: Any, texts: tuple[Any, Any] | None) -> Any:
    """Whether each row has a value of the field (`_present`), as an array."""
    import numpy as np

    if name == "date_of_birth":
        return np.array([v is not None for v in values], dtype=bool)
    if texts is not None:
        return texts[0]
    return _keyed(values, lambda v: bool(v and str(v).strip()), bool)


def _opened_present(
    name: str, rule: FieldRule, sealed: _Sealed, keys: list[Any], codes: Any
) -> Any:
    """The rows of an encrypted field that can win, each of them opened.

    A person's value comes from the rows that are best by the rules before "complete"
    (which needs the value's length): those are opened; if all of them turn out blank
    they drop out and the next best are opened. Other rows are left closed and marked
    absent, as they cannot win; the "complete" key of the opened ones is filled in.
    """
    import numpy as np

    before = []
    for kind, key in zip(rule.rules, keys, strict=True):
        if kind == "complete":
            break
        before.append(key)
    alive = sealed.maybe()
    while True:
        where = np.flatnonzero(alive)
        if not len(where):
            return alive
        # lexsort sorts by its last key first: the person, then the rules before "complete"
        ranked = where[np.lexsort((*(k[where] for k in reversed(before)), codes[where]))]
        head = np.ones(len(ranked), dtype=bool)  # each person's first row
        head[1:] = codes[ranked[1:]] != codes[ranked[:-1]]
        first = np.maximum.accumulate(np.where(head, np.arange(len(ranked)), 0))
        # the rows tied with their person's first on every rule before "complete"
        top = np.ones(len(ranked), dtype=bool)
        for key in before:
            top &= key[ranked] == key[ranked[first]]
        rows = ranked[top].tolist()
        blank = [r for r in rows if not _present(name, {name: sealed[r]})]
        if not blank:
            break
        alive[blank] = False
    present = np.zeros(len(alive), dtype=bool)
    present[rows] = True
    lengths = [-len(str(sealed[r])) for r in rows]
    for kind, key in zip(rule.rules, keys, strict=True):
        if kind == "complete":
            key[rows] = lengths
    return present


_dumps = json.JSONEncoder().encode  # what json.dumps writes for one value
_dumps_text = json.encoder.encode_basestring_ascii  # the same, for a str


def _golden_texts(
    columns: Mapping[str, list[Any]], updated: list[Any], winners: Mapping[str, Any]
) -> list[str]:
    """Each person's golden record as `json.dumps(golden_record(...), sort_keys=True)`.

    Written out directly, column by column: every entry is `{"agency", "record",
    "record_id", "updated_at", "value"}` in that (sorted) order, so the part before the
    value is made once per winning row and the fields are joined with NumPy's elementwise
    string concatenation instead of a dict per field and person.
    """
    import numpy as np

    agency, record, pk = columns["agency__code"], columns["agency_record_id"], columns["pk"]
    agencies = {code: _dumps(code) for code in set(agency)}
    record_json = _dumps_text if _all_text(record) else _dumps
    pk_json = str if set(map(type, pk)) <= {int} else _dumps  # json writes an int as str does
    heads = np.empty(len(pk), dtype=object)
    used = [best[best >= 0] for best in winners.values()]
    stamps: dict[Any, str] = {}
    for row in np.unique(np.concatenate(used)).tolist() if used else []:
        at = updated[row]
        stamp = stamps.get(at)
        if stamp is None:
            stamp = stamps[at] = _dumps(at.isoformat() if at else None)
        heads[row] = (
            f'{{"agency": {agencies[agency[row]]}, "record": {record_json(record[row])}, '
            f'"record_id": {pk_json(pk[row])}, "updated_at": {stamp}, "value": '
        )
    parts = []
    for name in sorted(winners):  # json.dumps(sort_keys=True) orders the fields by name
        best = winners[name]
        has = best >= 0
        rows = best[has]
        values = columns[name]
        chosen = [values[row] for row in rows.tolist()]
        if _all_text(chosen):
            encoded = list(map(_dumps_text, chosen))
        else:
            known: dict[Any, str] = {}
            encoded = []
            for value in chosen:
                text = known.get(value)
                if text is None:
                    text = known[value] = _dumps(_json_value(value))
                encoded.append(text)
        texts = np.empty(len(chosen), dtype=object)
        texts[:] = encoded
        part = np.full(len(best), "", dtype=object)
        # each entry starts with the ", " that separates it from the one before
        part[has] = f", {_dumps(name)}: " + heads[rows] + texts + "}"
        parts.append(part.tolist())
    return ["{" + "".join(person)[2:] + "}" for person in zip(*parts, strict=True)]


def person_golden_refresh(*, person_ids: Iterable[str]) -> int:
    """Recompute the golden records of these persons; returns how many were written.

    A person with no records left keeps its last golden record (it is retired by whoever
    emptied it). Runs in chunks, each in its own transaction, so a national-scale refresh
    does not hold one huge transaction; within a chunk every field's survivor is chosen
    for all persons at once (`_winners`) and the golden records are written out as JSON
    directly (`_golden_texts`).
    """
    ids = sorted({pid for pid in person_ids if pid})
    rules = survivorship()
    written = 0
    now = timezone.now()
    names: dict[str, str] = {}  # standardised names, computed once per distinct name
    dates: dict[Any, Any] = {}  # dates of birth as the database stores them

    def std_name(value: str) -> str:
        found = names.get(value)
        if found is None:
            found = names[value] = standardise.name(value)
        return found

    def dob_prep(value: Any) -> Any:
        if value not in dates:
            dates[value] = _prep("date_of_birth", value)
        return dates[value]

    golden_field = Person._meta.get_field("golden")
    reader = _Reader()
    updated_at = _prep("updated_at", now)
    for chunk in _chunks(ids, CHUNK):
        columns = reader.records(chunk)
        if not columns:
            continue
        updated = _updated(columns)
        persons, winners = _winners(columns, updated, rules)
        texts = _golden_texts(columns, updated, winners)
        no_row = [-1] * len(persons)
        given_rows = winners["given_name"].tolist() if "given_name" in winners else no_row
        family_rows = winners["family_name"].tolist() if "family_name" in winners else no_row
        dob_rows = winners["date_of_birth"].tolist() if "date_of_birth" in winners else no_row
        given_names, family_names = columns["given_name"], columns["family_name"]
        dobs = columns["date_of_birth"]
        updates = []
        for pid, text, g, f, d in zip(
            persons.tolist(), texts, given_rows, family_rows, dob_rows, strict=True
        ):
            given = str(given_names[g]) if g >= 0 else ""
            family = str(family_names[f]) if f >= 0 else ""
            # in the order of _UPDATED; text columns go to the database as they are
            updates.append(
                [
                    golden_field.get_db_prep_save(text, connection),
                    given,
                    family,
                    dob_prep(dobs[d] if d >= 0 else None),
                    std_name(given),
                    std_name(family),
                    updated_at,
                    pid,
                ]
            )
        _update_rows(updates)
        written += len(updates)
    return written


_UPDATED = (
    "golden",
    "given_name",
    "family_name",
    "date_of_birth",
    "std_given_name",
    "std_family_name",
    "updated_at",
)


def _prep(name: str, value: Any) -> Any:
    """A value as the database stores it (the golden record encrypted, dates adapted)."""
    field = Person._meta.get_field(name)
    return field.get_db_prep_save(value, connection)  # type: ignore[union-attr]


def _update_rows(rows: list[list[Any]]) -> None:
    """One UPDATE per person, sent as one batch: Django's bulk_update builds a CASE per
    column and row, which costs seconds per thousand persons; this costs milliseconds."""
    if not rows:
        return
    table = connection.ops.quote_name(Person._meta.db_table)
    quote = connection.ops.quote_name
    columns = ", ".join(f"{quote(n)} = %s" for n in _UPDATED)  # field names are the columns
    # names come from the model, values are parameters
    sql = f"UPDATE {table} SET {columns} WHERE {quote('id')} = %s"  # noqa: S608
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def person_golden(person: Person) -> dict[str, Any]:
    """A person's golden record as stored ({} before the first refresh)."""
    return json.loads(person.golden) if person.golden else {}
