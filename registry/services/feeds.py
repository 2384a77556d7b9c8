"""Agency feeds: mappings, loads (command, API, upload), rejected rows and their correction.

A load is an `IngestBatch`. Rows go through `map_row` (the agency's mapping), validation and
standardisation, then are upserted by (agency, agency record id) in chunks of `CHUNK_ROWS`:
each chunk is one transaction that also moves the batch's counts on, so a progress page
reading the batch sees the load advance and a failure keeps every chunk already loaded.
A row that fails validation never stops the batch: it is kept as a `RejectedRow` with its
errors and the row as sent, until it is corrected (`rejected_row_resubmit`) or dismissed.

Loads are audited once per batch (with the counts), corrections once per row.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connections, models, router, transaction
from django.utils import timezone

from core import audit, crypto
from core.errors import ApplicationError, Conflict, ValidationFailed
from core.fields import BlindIndexField, EncryptedTextField
from core.tasks import enqueue_on_commit
from identity import policy
from identity.models import Agency, User
from registry import standardise
from registry.mapping import (
    COMMON_FIELDS,
    FeedSpec,
    MappedRow,
    default_mapping,
    map_row,
    mapping_parse,
    spec_text,
)
from registry.models import (
    BatchChannel,
    BatchStatus,
    FeedMapping,
    IngestBatch,
    RejectedRow,
    RejectedRowStatus,
    SourceRecord,
    SourceRecordVersion,
)

logger = logging.getLogger("civicstack.registry.feeds")

#: Rows per transaction: the pace at which progress is committed and visible.
CHUNK_ROWS = 1000
#: Records one API call may send.
MAX_API_RECORDS = 10_000
EARLIEST_BIRTH = date(1880, 1, 1)
MAPPINGS_DIR = Path(__file__).resolve().parent.parent / "mappings"
UPLOAD_STORAGE_ALIAS = "registry_uploads"
UPLOAD_CONTEXT = "registry.upload"

# Longest value each text column holds, so a long value is a row error, not a database one.
_MAX_LENGTHS: dict[str, int] = {
    f.name: f.max_length
    for f in SourceRecord._meta.concrete_fields
    if f.max_length and f.name in {*COMMON_FIELDS, "agency_record_id"}
}
_STD_FIELDS = (
    "std_given_name",
    "std_given_name_root",
    "std_family_name",
    "std_address",
    "std_postcode",
    "std_phone",
    "std_email",
)


class FeedFileUnreadable(ApplicationError):
    code = "feed_file_unreadable"
    status = 400
    title = "The file cannot be read"


class BatchTooLarge(ApplicationError):
    code = "batch_too_large"
    status = 413
    title = "Too many records in one batch"


class RejectedRowClosed(Conflict):
    code = "rejected_row_closed"
    title = "The rejected row was already corrected or dismissed"


class CorrectionInvalid(ValidationFailed):
    code = "correction_invalid"
    title = "The corrected row is still not valid"


# --- standardising a record ----------------------------------------------------------------


def standardised_fields(
    *,
    given_name: str,
    family_name: str,
    address_line: str,
    postcode: str,
    phone: str,
    email: str,
) -> dict[str, str]:
    """The `std_*` columns of a source record. Lenient: an unreadable phone or e-mail is ""."""
    std_given = standardise.name(given_name)
    try:
        std_phone = standardise.phone(phone)
    except ValueError:
        std_phone = ""
    try:
        std_email = standardise.email(email)
    except ValueError:
        std_email = ""
    return {
        "std_given_name": std_given,
        "std_given_name_root": standardise.given_name_root(std_given),
        "std_family_name": standardise.name(family_name),
        "std_address": standardise.address(address_line),
        "std_postcode": standardise.postcode(postcode),
        "std_phone": std_phone,
        "std_email": std_email,
    }


def source_record_standardise(record: SourceRecord) -> SourceRecord:
    """Fill the record's `std_*` attributes in place (not saved) and return it."""
    for name, value in standardised_fields(
        given_name=record.given_name,
        family_name=record.family_name,
        address_line=record.address_line,
        postcode=record.postcode,
        phone=record.phone,
        email=record.email,
    ).items():
        setattr(record, name, value)
    return record


# --- mappings ------------------------------------------------------------------------------


def feed_mapping_active(*, agency: Agency) -> FeedMapping | None:
    """The agency's active mapping, if it saved one. Not authorised: callers are."""
    return FeedMapping.objects.filter(agency=agency, active=True).order_by("-version").first()


def feed_mapping_builtin_text(*, agency: Agency) -> str:
    """The mapping shipped for a demo agency (registry/mappings/<code>.yaml), or ""."""
    path = MAPPINGS_DIR / f"{agency.code}.yaml"
    if path.parent != MAPPINGS_DIR or not path.is_file():
        return ""
    return path.read_text(encoding="utf-8")


def feed_spec_for(*, agency: Agency) -> tuple[FeedMapping | None, FeedSpec]:
    """The mapping a load uses: the saved one, else the shipped one, else the common schema."""
    mapping = feed_mapping_active(agency=agency)
    if mapping is not None:
        return mapping, mapping_parse(mapping.spec)
    builtin = feed_mapping_builtin_text(agency=agency)
    return None, mapping_parse(builtin) if builtin else default_mapping()


@transaction.atomic
def feed_mapping_save(
    *, agency: Agency, text_or_spec: str | Mapping[str, Any], actor: User
) -> FeedMapping:
    """Check a mapping and make it the agency's active one, as a new version."""
    policy.authorize(actor, "feed_mapping.manage", agency)
    spec = mapping_parse(text_or_spec)
    source_text = text_or_spec if isinstance(text_or_spec, str) else spec_text(spec)
    current = (
        FeedMapping.objects.select_for_update()
        .filter(agency=agency)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    FeedMapping.objects.filter(agency=agency, active=True).update(active=False)
    mapping = FeedMapping.objects.create(
        agency=agency,
        version=(current or 0) + 1,
        spec=spec.as_spec(),
        source_text=source_text,
        active=True,
        created_by=actor,
    )
    audit.record(
        actor=actor,
        action="registry.feed_mapping.save",
        target=mapping,
        agency=agency.code,
        data={"version": mapping.version, "record_id": spec.record_id},
    )
    return mapping


# --- reading files -------------------------------------------------------------------------


def feed_text_decode(data: bytes, *, encoding: str, filename: str = "") -> str:
    """The file as text in its declared encoding (UTF-8 reads a byte-order mark too).

    FeedFileUnreadable names the line and the byte that does not fit the encoding.
    """
    name = codecs.lookup(encoding).name
    try:
        return data.decode("utf-8-sig" if name == "utf-8" else name)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex().upper()
        label = f"{filename}: " if filename else ""
        hint = (
            " Save the file as UTF-8, or declare the encoding it is in (for example "
            "latin-1 or cp1252) in the upload form or the mapping."
        )
        raise FeedFileUnreadable(
            f"{label}line {line} is not valid {name}: byte 0x{byte} cannot be read.{hint}",
            errors={"file": [f"line {line}: byte 0x{byte} is not valid {name}"]},
        ) from None


@dataclass
class FeedRows:
    """The rows of a file, checked enough to load: their number and an iterator over them."""

    total: int
    rows: Iterable[Mapping[str, Any]]


def feed_rows_parse(text: str, *, spec: FeedSpec, fmt: str) -> FeedRows:
    """Check a whole file's structure, then give its rows (dicts of column -> value).

    Refused with FeedFileUnreadable, before anything is loaded: a CSV whose quoting is
    broken, a header missing a column the mapping reads, or naming one it does not know
    (when the mapping says unknown columns are an error). Single bad JSON lines are not
    refused here: they become rejected rows.
    """
    if fmt == "jsonl":
        lines = [line for line in text.splitlines() if line.strip()]
        return FeedRows(total=len(lines), rows=_jsonl_rows(lines))
    if fmt != "csv":
        raise FeedFileUnreadable(f"Unknown format {fmt!r}; use csv or jsonl.")
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=spec.delimiter, strict=True)
        header = next(reader, None)
        total = sum(1 for row in reader if row)
    except csv.Error as exc:
        raise FeedFileUnreadable(
            f"Line {reader.line_num}: the CSV cannot be read ({exc}).",
            errors={"file": [f"line {reader.line_num}: {exc}"]},
        ) from None
    if not header:
        raise FeedFileUnreadable("The file is empty: there is no header row.")
    header = [h.strip() for h in header]
    missing = spec.missing_from(header)
    if missing:
        named = ", ".join(f"{col} (mapping {key})" for key, col in missing)
        raise FeedFileUnreadable(
            f"The header has no column {named}. Columns in the file: {', '.join(header)}.",
            errors={key: [f"column {col} is not in the file"] for key, col in missing},
        )
    unknown = spec.unknown_in(header)
    if unknown and spec.unknown_columns == "error":
        raise FeedFileUnreadable(
            f"The file has columns the mapping does not name: {', '.join(unknown)}. "
            "Map them, list them under extra, or under ignore.",
            errors={col: ["not in the agency's mapping"] for col in unknown},
        )
    return FeedRows(total=total, rows=_csv_rows(text, header, spec.delimiter))


_SHORT = "\x00short"
_LONG = "\x00long"


def _csv_rows(text: str, header: list[str], delimiter: str) -> Iterator[Mapping[str, Any]]:
    reader = csv.DictReader(
        io.StringIO(text, newline=""),
        fieldnames=header,
        delimiter=delimiter,
        restkey=_LONG,
        restval=_SHORT,
    )
    next(reader, None)  # the header
    for row in reader:
        if any(v for v in row.values()):
            yield row


def _jsonl_rows(lines: list[str]) -> Iterator[Mapping[str, Any]]:
    for line in lines:
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield {_BAD_JSON: f"not valid JSON ({exc.msg} at column {exc.colno})", "line": line}
            continue
        yield value if isinstance(value, Mapping) else {_NOT_OBJECT: value}


_BAD_JSON = "\x00bad-json"
_NOT_OBJECT = "\x00not-object"


# --- loading -------------------------------------------------------------------------------


@dataclass
class IngestResult:
    """What a load did. `created_ids` and `updated_ids` are what real-time matching needs."""

    batch: IngestBatch
    created_ids: list[int] = field(default_factory=list)
    updated_ids: list[int] = field(default_factory=list)

    @property
    def summary(self) -> str:
        b = self.batch
        return (
            f"{b.agency.code}: {b.processed_rows} rows - {b.created_count} created, "
            f"{b.updated_count} updated, {b.unchanged_count} unchanged, "
            f"{b.rejected_count} rejected (batch {b.pk}, {b.get_status_display().lower()})"
        )


def records_loaded(*, batch: IngestBatch, record_ids: list[int]) -> None:
    """The call point for real-time matching (issue 3, point 3), after each committed chunk.

    `record_ids` are the source records the chunk created or changed: once the chunk
    commits, a background task matches the new ones against the index in real time and
    refreshes the golden records of the changed ones (registry.services.linkage).
    """
    if record_ids:
        from registry.tasks import records_match_run

        enqueue_on_commit(records_match_run, record_ids=list(record_ids))


def _authorize_load(actor: User, agency: Agency) -> None:
    policy.authorize(actor, "source_record.manage", agency)


def ingest_batch_create(
    *,
    agency: Agency,
    actor: User,
    channel: str,
    filename: str = "",
    total_rows: int | None = None,
    mapping: FeedMapping | None = None,
) -> IngestBatch:
    """A new, waiting batch for the agency's records (authorised: the actor loads them)."""
    _authorize_load(actor, agency)
    if mapping is None:
        mapping, _ = feed_spec_for(agency=agency)
    return IngestBatch.objects.create(
        agency=agency,
        mapping=mapping,
        channel=channel,
        filename=filename[:255],
        total_rows=total_rows,
        created_by=actor if actor.pk else None,
    )


def ingest_rows(
    *,
    batch: IngestBatch,
    rows: Iterable[Mapping[str, Any]],
    actor: User,
    spec: FeedSpec | None = None,
    progress: Callable[[IngestBatch], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    audited: bool = True,
) -> IngestResult:
    """Load rows into the batch's agency, a chunk per transaction; returns what changed.

    Bad rows become RejectedRows and the load goes on. An unexpected error marks the batch
    failed (with the chunks before it kept) and is raised again.
    """
    agency = batch.agency
    _authorize_load(actor, agency)
    if spec is None:
        spec = (
            mapping_parse(batch.mapping.spec) if batch.mapping else feed_spec_for(agency=agency)[1]
        )
    result = IngestResult(batch=batch)
    batch.status = BatchStatus.RUNNING
    batch.started_at = batch.started_at or timezone.now()
    batch.save(update_fields=["status", "started_at"])
    seen: dict[str, int] = {}
    try:
        chunk: list[tuple[int, Mapping[str, Any]]] = []
        for number, row in enumerate(rows, start=1):
            chunk.append((number, row))
            if len(chunk) >= chunk_rows:
                _load_chunk_safely(batch, spec, chunk, seen, result)
                chunk = []
                if progress is not None:
                    progress(batch)
        if chunk:
            _load_chunk_safely(batch, spec, chunk, seen, result)
            if progress is not None:
                progress(batch)
    except Exception as exc:
        batch.status = BatchStatus.FAILED
        batch.error = f"Stopped after row {batch.processed_rows}: {exc}"[:2000]
        batch.finished_at = timezone.now()
        with transaction.atomic():
            batch.save(update_fields=["status", "error", "finished_at"])
            if audited:
                _audit_batch(batch, actor)
        raise
    batch.status = BatchStatus.DONE
    batch.finished_at = timezone.now()
    if batch.total_rows is None or batch.total_rows < batch.processed_rows:
        batch.total_rows = batch.processed_rows
    with transaction.atomic():
        batch.save(update_fields=["status", "finished_at", "total_rows"])
        if audited:
            _audit_batch(batch, actor)
    return result


def _audit_batch(batch: IngestBatch, actor: User) -> None:
    audit.record(
        actor=batch.created_by or actor,
        action="registry.ingest_batch",
        target=batch,
        agency=batch.agency.code,
        data={
            "channel": batch.channel,
            "filename": batch.filename,
            "status": batch.status,
            "mapping_version": batch.mapping.version if batch.mapping else None,
            "rows": batch.processed_rows,
            "created": batch.created_count,
            "updated": batch.updated_count,
            "unchanged": batch.unchanged_count,
            "rejected": batch.rejected_count,
            "run_by": getattr(actor, "username", ""),
        },
    )


def _load_chunk_safely(
    batch: IngestBatch,
    spec: FeedSpec,
    chunk: list[tuple[int, Mapping[str, Any]]],
    seen: dict[str, int],
    result: IngestResult,
) -> None:
    seen_before = dict(seen)
    try:
        ids = _load_chunk(batch, spec, chunk, seen, result)
    except IntegrityError:
        # Another load created one of these ids between our read and our write: read again.
        seen.clear()
        seen.update(seen_before)
        ids = _load_chunk(batch, spec, chunk, seen, result)
    records_loaded(batch=batch, record_ids=ids)


@dataclass(slots=True)
class _Ready:
    row_number: int
    mapped: MappedRow
    std: dict[str, str]


def _prepare(
    spec: FeedSpec, row_number: int, raw: Mapping[str, Any], seen: dict[str, int]
) -> MappedRow | _Ready:
    """Map, check and standardise one row: a _Ready row, or the MappedRow with its errors."""
    if _BAD_JSON in raw:
        bad = MappedRow(record_id="", values={}, extra={})
        bad.error("row", str(raw[_BAD_JSON]))
        return bad
    if _NOT_OBJECT in raw:
        bad = MappedRow(record_id="", values={}, extra={})
        bad.error("row", "a record must be an object of column: value pairs")
        return bad
    shape_errors = []
    if _SHORT in raw.values():
        shape_errors.append("the row has fewer values than the header has columns")
        raw = {k: "" if v == _SHORT else v for k, v in raw.items()}
    if _LONG in raw:
        if raw[_LONG]:
            shape_errors.append("the row has more values than the header has columns")
        raw = {k: v for k, v in raw.items() if k != _LONG}
    mapped = map_row(spec, raw)
    mapped.errors[:0] = [{"field": "row", "message": m} for m in shape_errors]
    std = _validate(spec, mapped)
    record_id = mapped.record_id
    if record_id:
        earlier = seen.get(record_id)
        if earlier is not None:
            mapped.error(
                "agency_record_id",
                f"record id {record_id} was already sent in row {earlier} of this batch",
            )
        else:
            seen[record_id] = row_number
    if mapped.errors:
        return mapped
    return _Ready(row_number=row_number, mapped=mapped, std=std)


def _column_of(spec: FeedSpec, target: str) -> str:
    if target == "agency_record_id":
        return spec.record_id
    rule = spec.fields.get(target)
    return "/".join(rule.columns) if rule else target


def _validate(spec: FeedSpec, mapped: MappedRow) -> dict[str, str]:
    values = mapped.values
    if not mapped.record_id:
        mapped.error("agency_record_id", f"column {spec.record_id}: the record id is missing")
    elif len(mapped.record_id) > _MAX_LENGTHS["agency_record_id"]:
        mapped.error(
            "agency_record_id",
            f"column {spec.record_id}: longer than {_MAX_LENGTHS['agency_record_id']} characters",
        )
    if not values.get("given_name") and not values.get("family_name"):
        mapped.error("family_name", "a family name or a given name is required")
    for name, value in values.items():
        limit = _MAX_LENGTHS.get(name)
        if limit and isinstance(value, str) and len(value) > limit:
            mapped.error(name, f"column {_column_of(spec, name)}: longer than {limit} characters")
    born = values.get("date_of_birth")
    if isinstance(born, date) and born < EARLIEST_BIRTH:
        mapped.error(
            "date_of_birth",
            f"column {_column_of(spec, 'date_of_birth')}: {born.isoformat()} is before "
            f"{EARLIEST_BIRTH.year}",
        )
    updated = values.get("source_updated_at")
    if isinstance(updated, datetime) and updated > timezone.now() + _CLOCK_SKEW:
        mapped.error(
            "source_updated_at",
            f"column {_column_of(spec, 'source_updated_at')}: "
            f"{updated.isoformat()} is in the future",
        )
    std: dict[str, str] = {}
    try:
        std["std_phone"] = standardise.phone(values.get("phone", ""))
    except ValueError as exc:
        mapped.error("phone", f"column {_column_of(spec, 'phone')}: {exc}")
    try:
        std["std_email"] = standardise.email(values.get("email", ""))
    except ValueError as exc:
        mapped.error("email", f"column {_column_of(spec, 'email')}: {exc}")
    if mapped.errors:
        return std
    given = standardise.name(values.get("given_name", ""))
    std["std_given_name"] = given
    std["std_given_name_root"] = standardise.given_name_root(given)
    std["std_family_name"] = standardise.name(values.get("family_name", ""))
    std["std_address"] = standardise.address(values.get("address_line", ""))
    std["std_postcode"] = standardise.postcode(values.get("postcode", ""))
    return std


_CLOCK_SKEW = timedelta(days=1)


def _comparable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(microsecond=0)
    return value


def _history_values(old: Mapping[str, Any], batch: IngestBatch) -> str:
    values = {name: old[name] for name in _HISTORY_FIELDS}
    values["replaced_by_batch"] = str(batch.pk)
    return json.dumps(values, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True)


_HISTORY_FIELDS = (*COMMON_FIELDS, "date_of_birth_raw", "extra", "loaded_at")
_NATIONAL_ID_INDEX = SourceRecord._meta.get_field("national_id_index")
_NATIONAL_ID_NEAR = SourceRecord._meta.get_field("national_id_near")
assert isinstance(_NATIONAL_ID_INDEX, BlindIndexField)


def _needs_conversion(f: Any) -> bool:
    """Whether a value must go through the field to reach the database (str and int need not)."""
    if isinstance(f, EncryptedTextField):
        return True
    plain = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)
    return not isinstance(f, plain) or isinstance(f, models.ForeignKey)


class _RecordWriter:
    """Inserts and updates of source records as single executemany statements.

    The ORM's bulk_create builds its SQL value by value and costs most of a load's time;
    here each value passes through its field only when the field changes it (encryption,
    dates, JSON, the batch's UUID), so the database adapter gets what the ORM would give it.
    """

    def __init__(self, update_fields: list[str]) -> None:
        self.connection = connections[router.db_for_write(SourceRecord)]
        quote = self.connection.ops.quote_name
        self.table = quote(SourceRecord._meta.db_table)
        concrete: list[Any] = [f for f in SourceRecord._meta.concrete_fields if not f.primary_key]
        self.insert_plan = [(f.attname, _needs_conversion(f), f) for f in concrete]
        columns = ", ".join(quote(str(f.column)) for f in concrete)
        marks = ", ".join(["%s"] * len(concrete))
        self.insert_sql = f"INSERT INTO {self.table} ({columns}) VALUES ({marks})"  # noqa: S608
        fields: list[Any] = [SourceRecord._meta.get_field(name) for name in update_fields]
        self.update_plan = [(f.attname, _needs_conversion(f), f) for f in fields]
        self.defaults = {f.attname: f.get_default() for f in concrete}
        sets = ", ".join(f"{quote(str(f.column))} = %s" for f in fields)
        self.update_sql = f"UPDATE {self.table} SET {sets} WHERE id = %s"  # noqa: S608

    def _row(self, plan: list[tuple[str, bool, Any]], obj: SourceRecord) -> list[Any]:
        connection = self.connection
        row = []
        for attname, convert, f in plan:
            value = getattr(obj, attname)
            row.append(f.get_db_prep_save(value, connection) if convert else value)
        return row

    def insert(self, records: list[dict[str, Any]]) -> None:
        """New records given as {attname: value}; the columns not given get their defaults."""
        if not records:
            return
        connection = self.connection
        defaults = self.defaults
        # A value every row of the chunk shares (the batch, the agency, the load's time, a
        # default) passes through its field once, not once per row.
        shared: dict[str, Any] = {}
        for attname, convert, f in self.insert_plan:
            if not convert:
                continue
            first = records[0].get(attname, defaults[attname])
            if all(v.get(attname, defaults[attname]) is first for v in records):
                shared[attname] = f.get_db_prep_save(first, connection)
        plan = [(a, c and a not in shared, f) for a, c, f in self.insert_plan]
        params = []
        for values in records:
            values["national_id_index"] = _NATIONAL_ID_INDEX.index_for(values.get("national_id"))
            values["national_id_near"] = _NATIONAL_ID_NEAR.value_for(values.get("national_id"))
            row = []
            for attname, convert, f in plan:
                if attname in shared:
                    row.append(shared[attname])
                    continue
                value = values[attname] if attname in values else defaults[attname]
                row.append(f.get_db_prep_save(value, connection) if convert else value)
            params.append(row)
        with connection.cursor() as cursor:
            cursor.executemany(self.insert_sql, params)

    def update(self, records: list[SourceRecord]) -> None:
        if not records:
            return
        params = [[*self._row(self.update_plan, r), r.pk] for r in records]
        with self.connection.cursor() as cursor:
            cursor.executemany(self.update_sql, params)


def _load_chunk(
    batch: IngestBatch,
    spec: FeedSpec,
    chunk: list[tuple[int, Mapping[str, Any]]],
    seen: dict[str, int],
    result: IngestResult,
) -> list[int]:
    agency = batch.agency
    ready: list[_Ready] = []
    rejected: list[RejectedRow] = []
    for row_number, raw in chunk:
        prepared = _prepare(spec, row_number, raw, seen)
        if isinstance(prepared, _Ready):
            ready.append(prepared)
        else:
            rejected.append(
                RejectedRow(
                    batch=batch,
                    agency=agency,
                    row_number=row_number,
                    agency_record_id=prepared.record_id[:64],
                    raw=_raw_json(raw),
                    errors=prepared.errors,
                )
            )
    compared = [*spec.fields, "extra"]
    if "date_of_birth" in spec.fields:
        compared.append("date_of_birth_raw")
    writer = _RecordWriter(
        [
            *compared,
            *_STD_FIELDS,
            "national_id_index",
            "national_id_near",
            "version",
            "batch",
            "loaded_at",
            "updated_at",
        ]
    )
    now = timezone.now()
    new: list[dict[str, Any]] = []
    changed: list[SourceRecord] = []
    versions: list[SourceRecordVersion] = []
    unchanged = 0
    with transaction.atomic():
        existing = {
            old["agency_record_id"]: old
            for old in SourceRecord.objects.filter(
                agency=agency, agency_record_id__in=[r.mapped.record_id for r in ready]
            ).values("id", "agency_record_id", "version", "batch_id", *_HISTORY_FIELDS)
        }
        for item in ready:
            m = item.mapped
            incoming = {**m.values, "extra": m.extra, "date_of_birth_raw": m.date_of_birth_raw}
            old = existing.get(m.record_id)
            if old is None:
                new.append(
                    {
                        "agency_id": agency.pk,
                        "agency_record_id": m.record_id,
                        **{k: incoming[k] for k in compared},
                        **item.std,
                        "batch_id": batch.pk,
                        "loaded_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                continue
            if all(_comparable(old[k]) == _comparable(incoming[k]) for k in compared):
                unchanged += 1
                continue
            versions.append(
                SourceRecordVersion(
                    record_id=old["id"],
                    version=old["version"],
                    values=_history_values(old, batch),
                    batch_id=old["batch_id"],
                    replaced_at=now,
                )
            )
            record = SourceRecord(
                id=old["id"],
                agency=agency,
                agency_record_id=m.record_id,
                **{k: incoming[k] for k in compared},
                **item.std,
                version=old["version"] + 1,
                batch=batch,
                loaded_at=now,
                updated_at=now,
            )
            national_id = (
                incoming["national_id"] if "national_id" in incoming else old["national_id"]
            )
            record.national_id_index = _NATIONAL_ID_INDEX.index_for(national_id)  # type: ignore[assignment]
            record.national_id_near = _NATIONAL_ID_NEAR.value_for(national_id)
            changed.append(record)
        writer.insert(new)
        writer.update(changed)
        SourceRecordVersion.objects.bulk_create(versions)
        RejectedRow.objects.bulk_create(rejected)
        created_ids = (
            list(
                SourceRecord.objects.filter(
                    agency=agency,
                    batch=batch,
                    agency_record_id__in=[r["agency_record_id"] for r in new],
                ).values_list("id", flat=True)
            )
            if new
            else []
        )
        batch.processed_rows += len(chunk)
        batch.created_count += len(new)
        batch.updated_count += len(changed)
        batch.unchanged_count += unchanged
        batch.rejected_count += len(rejected)
        batch.save(
            update_fields=[
                "processed_rows",
                "created_count",
                "updated_count",
                "unchanged_count",
                "rejected_count",
            ]
        )
    updated_ids = [r.pk for r in changed]
    result.created_ids += created_ids
    result.updated_ids += updated_ids
    return created_ids + updated_ids


def _raw_json(raw: Mapping[str, Any]) -> str:
    if _BAD_JSON in raw:
        return json.dumps({"line": raw.get("line", "")}, ensure_ascii=False)
    if _NOT_OBJECT in raw:
        return json.dumps({"value": raw[_NOT_OBJECT]}, ensure_ascii=False, default=str)
    clean = {k: v for k, v in raw.items() if k not in (_LONG,) and v != _SHORT}
    if raw.get(_LONG):
        clean["(extra values)"] = raw[_LONG]
    return json.dumps(clean, ensure_ascii=False, default=str)


def rejected_row_values(row: RejectedRow) -> dict[str, Any]:
    """The row as it was sent (column -> value)."""
    value = json.loads(row.raw)
    return value if isinstance(value, dict) else {"value": value}


# --- the three doors -----------------------------------------------------------------------


def ingest_records(
    *, agency: Agency, records: list[Any], actor: User, channel: str = BatchChannel.API
) -> IngestResult:
    """An API batch: up to MAX_API_RECORDS records in the agency's own field names."""
    _authorize_load(actor, agency)
    if len(records) > MAX_API_RECORDS:
        raise BatchTooLarge(
            f"A batch holds at most {MAX_API_RECORDS:,} records; this one has "
            f"{len(records):,}. Send them in batches of {MAX_API_RECORDS:,} or fewer.",
            limit=MAX_API_RECORDS,
            received=len(records),
        )
    mapping, spec = feed_spec_for(agency=agency)
    batch = ingest_batch_create(
        agency=agency, actor=actor, channel=channel, total_rows=len(records), mapping=mapping
    )
    rows = (r if isinstance(r, Mapping) else {_NOT_OBJECT: r} for r in records)
    return ingest_rows(batch=batch, rows=rows, actor=actor, spec=spec)


def ingest_file(
    *,
    agency: Agency,
    data: bytes,
    actor: User,
    filename: str = "",
    fmt: str | None = None,
    encoding: str | None = None,
    spec: FeedSpec | None = None,
    mapping: FeedMapping | None = None,
    channel: str = BatchChannel.COMMAND,
    progress: Callable[[IngestBatch], None] | None = None,
) -> IngestResult:
    """Load a whole file now (the command line). FeedFileUnreadable if it cannot be read."""
    _authorize_load(actor, agency)
    if spec is None:
        mapping, spec = feed_spec_for(agency=agency)
    text = feed_text_decode(data, encoding=encoding or spec.encoding, filename=filename)
    parsed = feed_rows_parse(text, spec=spec, fmt=fmt or spec.format)
    batch = ingest_batch_create(
        agency=agency,
        actor=actor,
        channel=channel,
        filename=filename,
        total_rows=parsed.total,
        mapping=mapping,
    )
    if progress is not None:
        progress(batch)
    return ingest_rows(batch=batch, rows=parsed.rows, actor=actor, spec=spec, progress=progress)


def _upload_storage() -> Storage:
    if UPLOAD_STORAGE_ALIAS in settings.STORAGES:
        return storages[UPLOAD_STORAGE_ALIAS]
    return FileSystemStorage(location=Path(settings.VAR_DIR) / "uploads")


def _upload_name(batch_id: Any) -> str:
    return f"registry/{batch_id}.feed"


@transaction.atomic
def ingest_upload_start(
    *,
    agency: Agency,
    data: bytes,
    actor: User,
    filename: str = "",
    fmt: str | None = None,
    encoding: str | None = None,
) -> IngestBatch:
    """Check an uploaded file, keep it (encrypted) and queue its load; returns the batch.

    The file's encoding and structure are checked here, so the uploader hears at once
    (FeedFileUnreadable) about a file that cannot be loaded; the rows load in the background.
    """
    _authorize_load(actor, agency)
    mapping, spec = feed_spec_for(agency=agency)
    chosen_format = fmt or spec.format
    text = feed_text_decode(data, encoding=encoding or spec.encoding, filename=filename)
    parsed = feed_rows_parse(text, spec=spec, fmt=chosen_format)
    batch = ingest_batch_create(
        agency=agency,
        actor=actor,
        channel=BatchChannel.UPLOAD,
        filename=filename,
        total_rows=parsed.total,
        mapping=mapping,
    )
    payload = json.dumps({"format": chosen_format, "text": text}, ensure_ascii=False)
    _upload_storage().save(
        _upload_name(batch.pk),
        ContentFile(crypto.encrypt(payload, context=UPLOAD_CONTEXT).encode("ascii")),
    )
    from registry.tasks import ingest_upload_run

    enqueue_on_commit(ingest_upload_run, batch_id=batch.pk)
    return batch


def ingest_upload_process(*, batch_id: Any, actor: User) -> IngestBatch | None:
    """Load a queued upload. Idempotent: a finished batch, or one whose file is gone, is left."""
    batch = (
        IngestBatch.objects.select_related("agency", "mapping", "created_by")
        .filter(pk=batch_id)
        .first()
    )
    if batch is None or batch.status in (BatchStatus.DONE, BatchStatus.FAILED):
        return batch
    storage = _upload_storage()
    name = _upload_name(batch.pk)
    if not storage.exists(name):
        batch.status = BatchStatus.FAILED
        batch.error = "The uploaded file is no longer there; upload it again."
        batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "error", "finished_at"])
        return batch
    with storage.open(name, "rb") as handle:
        token = handle.read().decode("ascii")
    payload = json.loads(crypto.decrypt(token, context=UPLOAD_CONTEXT))
    spec = (
        mapping_parse(batch.mapping.spec)
        if batch.mapping
        else feed_spec_for(agency=batch.agency)[1]
    )
    if batch.status == BatchStatus.RUNNING:
        # A worker died half-way: start again; rows already loaded count as unchanged.
        IngestBatch.objects.filter(pk=batch.pk).update(
            processed_rows=0, created_count=0, updated_count=0, unchanged_count=0
        )
        RejectedRow.objects.filter(batch=batch).delete()
        batch.refresh_from_db()
    try:
        parsed = feed_rows_parse(payload["text"], spec=spec, fmt=payload["format"])
        ingest_rows(batch=batch, rows=parsed.rows, actor=actor, spec=spec)
    except FeedFileUnreadable as exc:
        batch.status = BatchStatus.FAILED
        batch.error = exc.detail
        batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "error", "finished_at"])
    finally:
        if batch.status in (BatchStatus.DONE, BatchStatus.FAILED):
            storage.delete(name)
    return batch


# --- rejected rows -------------------------------------------------------------------------


def rejected_row_check(*, row: RejectedRow, values: Mapping[str, Any]) -> list[dict[str, str]]:
    """The errors the corrected values would still have (nothing is stored)."""
    _, spec = _spec_of_row(row)
    prepared = _prepare(spec, row.row_number, values, {})
    return [] if isinstance(prepared, _Ready) else prepared.errors


def _spec_of_row(row: RejectedRow) -> tuple[FeedMapping | None, FeedSpec]:
    return feed_spec_for(agency=row.agency)


def rejected_row_resubmit(
    *, row: RejectedRow, values: Mapping[str, Any], actor: User
) -> IngestResult:
    """Load a corrected row as a batch of its own ("correction") and mark the row resolved.

    Still-invalid values raise CorrectionInvalid with the errors per field; the row stays
    open and nothing is stored.
    """
    _authorize_load(actor, row.agency)
    if row.status != RejectedRowStatus.OPEN:
        raise RejectedRowClosed(f"Row {row.row_number} is {row.get_status_display().lower()}.")
    mapping, spec = _spec_of_row(row)
    errors = rejected_row_check(row=row, values=values)
    if errors:
        by_field: dict[str, list[str]] = {}
        for error in errors:
            by_field.setdefault(error["field"], []).append(error["message"])
        first = errors[0]
        raise CorrectionInvalid(f"{first['field']}: {first['message']}", errors=by_field)
    with transaction.atomic():
        batch = ingest_batch_create(
            agency=row.agency,
            actor=actor,
            channel=BatchChannel.CORRECTION,
            filename=f"batch {row.batch_id} row {row.row_number}",
            total_rows=1,
            mapping=mapping,
        )
        result = ingest_rows(
            batch=batch, rows=[dict(values)], actor=actor, spec=spec, audited=False
        )
        row.status = RejectedRowStatus.RESOLVED
        row.resolved_by = batch
        row.save(update_fields=["status", "resolved_by"])
        audit.record(
            actor=actor,
            action="registry.rejected_row.correct",
            target=row,
            agency=row.agency.code,
            data={
                "batch": str(row.batch_id),
                "row": row.row_number,
                "correction_batch": str(batch.pk),
                "created": batch.created_count,
                "updated": batch.updated_count,
                "unchanged": batch.unchanged_count,
            },
        )
    return result


@transaction.atomic
def rejected_row_dismiss(*, row: RejectedRow, actor: User, reason: str) -> RejectedRow:
    """Close a rejected row that will not be loaded (a test record, a duplicate sent twice)."""
    _authorize_load(actor, row.agency)
    if row.status != RejectedRowStatus.OPEN:
        raise RejectedRowClosed(f"Row {row.row_number} is {row.get_status_display().lower()}.")
    row.status = RejectedRowStatus.DISMISSED
    row.save(update_fields=["status"])
    audit.record(
        actor=actor,
        action="registry.rejected_row.dismiss",
        target=row,
        agency=row.agency.code,
        data={"batch": str(row.batch_id), "row": row.row_number, "reason": reason[:500]},
    )
    return row
