"""Source records as the linkage frame: one row per record, the columns the model compares.

`prepare(df)` takes a pandas DataFrame of standardised records with the base columns

    unique_id (int), given_name, family_name, previous_family_name, date_of_birth
    (datetime.date, "YYYY-MM-DD" text or None), address, locality (the town or suburb,
    standardised as a name), postcode, national_id_index
    (any opaque identifier token: linkage only tests equality), sex, phone, email,
    and optionally given_name_root and national_id_near (the national ID's
    `one_edit_keys`, each key an opaque token such as its blind index; without them
    national IDs are only compared for equality)

(missing columns are taken as empty; "" and NaN become None) and adds the derived
columns, in bulk (vectorised, no Python loop per row):

    given_name         the first given name
    given_name_root    the formal name of a nickname (registry.standardise.given_name_root)
    family_name_first  the first part of a double-barrelled family name
    dob                the date of birth as "YYYY-MM-DD"
    dob_days           days since 1970-01-01 (for "within a year")
    dob_swapped        the date with day and month swapped, when that is another date
    address_sorted     the address's words in alphabetical order ("16 gabriel place
                       greglea village" and "16 greglea village gabriel place" agree)
    postcode_district  the outward code (all but the last three characters), or the first
                       two characters of a short postcode
    national_id_head,  from the optional base column national_id_near (`one_edit_keys`
    national_id_tail,  of the national ID, each key a blind index in the database): its
    national_id_near   first two keys, and the others (for "one typo apart")

`features(values)` derives the same columns for one record in plain Python (real-time
matching); a test checks both agree. `records_frame()` reads every SourceRecord from the
database in bulk, the one-edit keys of its national ID as their blind indexes
(`SourceRecord.national_id_near`); where ingest left a std_* column empty it is computed
here with registry.standardise, so linkage works on any rows.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from registry import identifiers, standardise

BASE_COLUMNS: tuple[str, ...] = (
    "unique_id",
    "given_name",
    "given_name_root",
    "family_name",
    "previous_family_name",
    "date_of_birth",
    "address",
    "locality",
    "postcode",
    "national_id_index",
    "national_id_near",
    "sex",
    "phone",
    "email",
)
FRAME_COLUMNS: tuple[str, ...] = (
    "unique_id",
    "given_name",
    "given_name_root",
    "family_name",
    "family_name_first",
    "previous_family_name",
    "dob",
    "dob_days",
    "dob_swapped",
    "address",
    "address_sorted",
    "locality",
    "postcode",
    "postcode_district",
    "national_id_index",
    "national_id_head",
    "national_id_tail",
    "national_id_near",
    "sex",
    "phone",
    "email",
)
_EPOCH = datetime.date(1970, 1, 1)


# --- one record -------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):  # NaN
        return None
    text = str(value)
    return text or None


def _first_token(value: str | None) -> str | None:
    return value.split(" ", 1)[0] or None if value else None


def _as_date(value: Any) -> datetime.date | None:
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    try:
        return datetime.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _swapped(day: datetime.date) -> str | None:
    if day.day > 12 or day.day == day.month:
        return None
    return f"{day.year:04d}-{day.day:02d}-{day.month:02d}"


def _district(postcode: str | None) -> str | None:
    if not postcode:
        return None
    return postcode[:-3] if len(postcode) >= 5 else postcode[:2]


def one_edit_keys(national_id: str | None) -> str | None:
    """The keys that two national IDs one typo apart share, space-separated (see
    `registry.identifiers.one_edit_keys`); `prepare` takes the first two as
    `national_id_head` and `national_id_tail`."""
    return " ".join(identifiers.one_edit_keys(national_id)) or None


def _near_parts(keys: Any) -> tuple[str | None, str | None, str | None]:
    """(head, tail, the other keys) of a `one_edit_keys` value (its blind indexes)."""
    text = _text(keys)
    parts = text.split(" ", 2) if text else []
    if len(parts) < 3:
        return None, None, None
    return parts[0], parts[1], parts[2]


def _sorted_tokens(value: str | None) -> str | None:
    return " ".join(sorted(value.split())) or None if value else None


def features(values: Mapping[str, Any]) -> dict[str, Any]:
    """The frame row of one record given its base columns (as `prepare` makes it)."""
    given_full = _text(values.get("given_name"))
    given = _first_token(given_full)
    root = _text(values.get("given_name_root")) or (
        standardise.given_name_root(given_full) or None if given_full else None
    )
    family = _text(values.get("family_name"))
    dob = _as_date(values.get("date_of_birth"))
    postcode = _text(values.get("postcode"))
    address = _text(values.get("address"))
    head, tail, near = _near_parts(values.get("national_id_near"))
    return {
        "unique_id": values.get("unique_id"),
        "given_name": given,
        "given_name_root": root,
        "family_name": family,
        "family_name_first": _first_token(family),
        "previous_family_name": _text(values.get("previous_family_name")),
        "dob": dob.isoformat() if dob else None,
        "dob_days": (dob - _EPOCH).days if dob else None,
        "dob_swapped": _swapped(dob) if dob else None,
        "address": address,
        "address_sorted": _sorted_tokens(address),
        "locality": _text(values.get("locality")),
        "postcode": postcode,
        "postcode_district": _district(postcode),
        "national_id_index": _text(values.get("national_id_index")),
        "national_id_head": head,
        "national_id_tail": tail,
        "national_id_near": near,
        "sex": _text(values.get("sex")),
        "phone": _text(values.get("phone")),
        "email": _text(values.get("email")),
    }


# --- many records, in bulk --------------------------------------------------------------


def _clean(series: pd.Series) -> pd.Series:
    """Text with "" and NaN as None (object dtype, so DuckDB reads VARCHAR with NULLs)."""
    return _per_unique(series, _text)


def _per_unique(series: pd.Series, fn: Any) -> pd.Series:
    """`fn` of every value, called once per distinct value (None for missing values).

    Names, dates and postcodes repeat a lot, so a million records have far fewer distinct
    values; the results are spread back with one NumPy take.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[: len(uniques)] = [fn(v) for v in uniques]
    mapped[len(uniques)] = None  # code -1: a missing value
    return pd.Series(mapped[codes], index=series.index, dtype=object)


def _dob_parts(value: Any) -> tuple[str | None, int | None, str | None]:
    day = _as_date(value)
    if day is None:
        return None, None, None
    return day.isoformat(), (day - _EPOCH).days, _swapped(day)


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """The linkage frame of standardised records (see the module docstring)."""
    if "unique_id" not in df.columns:
        raise ValueError("the records need a unique_id column")
    n = len(df)
    empty = pd.Series([None] * n, index=df.index, dtype=object)
    column = {c: _clean(df[c]) if c in df.columns else empty for c in BASE_COLUMNS[1:]}
    out = pd.DataFrame({"unique_id": df["unique_id"].to_numpy()}, index=df.index)
    given_full = column["given_name"]
    out["given_name"] = _per_unique(given_full, _first_token)
    computed_root = _per_unique(given_full, lambda v: standardise.given_name_root(v) or None)
    root = column["given_name_root"]
    out["given_name_root"] = root.where(root.notna(), computed_root)
    out["family_name"] = column["family_name"]
    out["family_name_first"] = _per_unique(column["family_name"], _first_token)
    out["previous_family_name"] = column["previous_family_name"]
    dates = df["date_of_birth"] if "date_of_birth" in df.columns else empty
    codes, uniques = pd.factorize(dates, use_na_sentinel=True)
    triples = [*(_dob_parts(v) for v in uniques), (None, None, None)]  # last: missing
    for position, name in enumerate(("dob", "dob_days", "dob_swapped")):
        values = np.array([t[position] for t in triples], dtype=object)[codes]
        out[name] = pd.Series(values, index=df.index, dtype=object)
    out["address"] = column["address"]
    out["address_sorted"] = _per_unique(column["address"], _sorted_tokens)
    out["locality"] = column["locality"]
    out["postcode"] = column["postcode"]
    out["postcode_district"] = _per_unique(column["postcode"], _district)
    for name in ("national_id_index", "sex", "phone", "email"):
        out[name] = column[name]
    codes, uniques = pd.factorize(column["national_id_near"], use_na_sentinel=True)
    near = [*(_near_parts(v) for v in uniques), (None, None, None)]  # last: missing
    for position, name in enumerate(("national_id_head", "national_id_tail", "national_id_near")):
        values = np.array([t[position] for t in near], dtype=object)[codes]
        out[name] = pd.Series(values, index=df.index, dtype=object)
    out["dob_days"] = out["dob_days"].astype("Int64")
    return out.reset_index(drop=True)[list(FRAME_COLUMNS)]


def _iso(value: Any) -> str | None:
    day = _as_date(value)
    return day.isoformat() if day else None


def term_frequencies(frame: pd.DataFrame, columns: Iterable[str]) -> dict[str, dict[str, float]]:
    """Each value's share of the non-null values of its column (Splink's definition)."""
    return {
        column: {
            str(k): float(v) for k, v in frame[column].dropna().value_counts(normalize=True).items()
        }
        for column in columns
    }


# --- from the database ------------------------------------------------------------------

_DB_FIELDS = (
    "id",
    "national_id_near",
    "given_name",
    "std_given_name",
    "std_given_name_root",
    "family_name",
    "std_family_name",
    "previous_family_name",
    "date_of_birth",
    "address_line",
    "std_address",
    "locality",
    "postcode",
    "std_postcode",
    "national_id_index",
    "sex",
    "phone",
    "std_phone",
    "email",
    "std_email",
)


def _safe(fn: Any, value: str) -> str:
    try:
        return str(fn(value))
    except ValueError:
        return ""


def base_values(record: Any) -> dict[str, Any]:
    """The base columns of one SourceRecord (std_* columns, computed if ingest left them)."""
    row = {f: getattr(record, f if f != "id" else "pk") for f in _DB_FIELDS}
    return _base_from_row(row)


def _base_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    given = row["std_given_name"] or standardise.name(row["given_name"])
    return {
        "unique_id": row["id"],
        "given_name": given,
        "given_name_root": row["std_given_name_root"] or None,
        "family_name": row["std_family_name"] or standardise.name(row["family_name"]),
        "previous_family_name": standardise.name(row["previous_family_name"]),
        "date_of_birth": row["date_of_birth"],
        "address": row["std_address"] or standardise.address(row["address_line"]),
        "locality": standardise.name(row["locality"]),
        "postcode": row["std_postcode"] or standardise.postcode(row["postcode"]),
        "national_id_index": row["national_id_index"],
        "national_id_near": row["national_id_near"] or None,
        "sex": row["sex"],
        "phone": row["std_phone"] or _safe(standardise.phone, row["phone"] or ""),
        "email": row["std_email"] or _safe(standardise.email, row["email"] or ""),
    }


READ_CHUNK = 100_000  # records read, prepared (and compacted) at a time


def records_frame(queryset: Any = None, *, compact: bool = False) -> pd.DataFrame:
    """Every source record (or those of `queryset`) as the linkage frame, read in bulk.

    Read and prepared in chunks, so the rows as Python tuples never exist all at once.
    With `compact`, text columns are Arrow strings (`string[pyarrow]`, missing values
    `pd.NA`): about a third of the memory of Python strings, and DuckDB reads them as
    they are. The Spark engine takes the plain frame.
    """
    from registry.models import SourceRecord

    qs = SourceRecord.objects.all() if queryset is None else queryset
    rows = qs.order_by("id").values_list(*_DB_FIELDS).iterator(chunk_size=READ_CHUNK)
    parts = []
    for chunk in itertools.batched(rows, READ_CHUNK):
        part = _records_part(pd.DataFrame(list(chunk), columns=list(_DB_FIELDS)))
        parts.append(compacted(part) if compact else part)
    if not parts:
        return prepare(pd.DataFrame({"unique_id": pd.Series([], dtype="int64")}))
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def compacted(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its text columns as Arrow strings (see `records_frame`)."""
    text = {c: "string[pyarrow]" for c in frame.columns if frame[c].dtype == object}
    return frame.astype(text)


def _records_part(raw: pd.DataFrame) -> pd.DataFrame:
    """Rows of `_DB_FIELDS` as the linkage frame."""
    base = pd.DataFrame({"unique_id": raw["id"]})
    base["given_name"] = _fill(raw, "std_given_name", "given_name", standardise.name)
    base["given_name_root"] = raw["std_given_name_root"]
    base["family_name"] = _fill(raw, "std_family_name", "family_name", standardise.name)
    base["previous_family_name"] = _map_unique(raw["previous_family_name"], standardise.name)
    base["date_of_birth"] = raw["date_of_birth"]
    base["address"] = _fill(raw, "std_address", "address_line", standardise.address)
    base["locality"] = _map_unique(raw["locality"], standardise.name)
    base["postcode"] = _fill(raw, "std_postcode", "postcode", standardise.postcode)
    base["national_id_index"] = raw["national_id_index"]
    base["national_id_near"] = raw["national_id_near"].replace("", None)
    base["sex"] = raw["sex"]
    base["phone"] = _fill(raw, "std_phone", "phone", lambda v: _safe(standardise.phone, v))
    base["email"] = _fill(raw, "std_email", "email", lambda v: _safe(standardise.email, v))
    return prepare(base)


def _map_unique(series: pd.Series, fn: Any) -> pd.Series:
    values = series.fillna("")
    return values.map({v: fn(v) for v in values.unique()})


def _fill(raw: pd.DataFrame, std: str, source: str, fn: Any) -> pd.Series:
    """The std_* column, computed from the source column where it is empty."""
    have = raw[std].fillna("")
    missing = have == ""
    if not missing.any():
        return have
    return have.where(~missing, _map_unique(raw.loc[missing, source], fn))
