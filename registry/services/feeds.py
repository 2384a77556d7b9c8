"""Agency feeds: mappings, loads (command, API, upload), rejected rows and their correction.

A load is an `IngestBatch`. Rows go through `map_row` (the agency's mapping), validation and
standardisation, then are upserted by (agency, agency record id) in chunks of `CHUNK_ROWS`:
each chunk is one transaction that also moves the batch's counts on, so a progress page
reading the batch sees the load advance and a failure keeps every chunk already loaded.
Preparing a chunk touches no database, so on the command line worker processes may do it
while the loading process writes (`ingest_workers`); rows are written by plain
`executemany` statements with the values the ORM would send (`_Plan`).
A row that fails validation never stops the batch: it is kept as a `RejectedRow` with its
errors and the row as sent, until it is corrected (`rejected_row_resubmit`) or dismissed.

Loads are audited once per batch (with the counts), corrections once per row.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import json
import logging
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connections, models, router, transaction
from django.utils import timezone

from core import audit, crypto
from core.errors import ApplicationError, Conflict, ValidationFailed
from core.fields import BlindIndexField, BlindKeysField, EncryptedTextField
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
    record_id_of,
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
CHUNK_ROWS = 5000
#: Rows a file needs before worker processes prepare them (see `ingest_workers`).
PARALLEL_MIN_ROWS = 5_000
#: SQLite's page cache while a load runs, in KiB, and its checkpoint interval in pages of
#: write-ahead log (`_bulk_load`).
BULK_LOAD_CACHE_KIB = 256 * 1024
BULK_LOAD_WAL_PAGES = 20_000
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
    """Each row as {column: value}, as csv.DictReader gives it (restkey _LONG, restval
    _SHORT), in fewer steps; blank rows left out."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader, None)  # the header
    width = len(header)
    for values in reader:
        if not values:
            continue
        row: dict[str, Any] = dict(zip(header, values, strict=False))
        if len(values) > width:
            row[_LONG] = values[width:]
        elif len(values) < width:
            row.update(dict.fromkeys(header[len(values) :], _SHORT))
        if any(row.values()):
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
    workers: int = 0,
) -> IngestResult:
    """Load rows into the batch's agency, a chunk per transaction; returns what changed.

    Bad rows become RejectedRows and the load goes on. An unexpected error marks the batch
    failed (with the chunks before it kept) and is raised again.

    Each chunk is prepared (mapped, validated, standardised, its national IDs sealed and
    blind-indexed: no database) and then written here, in order: prepared here, or by
    `workers` forked processes while this one writes (see `ingest_workers`).
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
    writer = _ChunkWriter(batch, _plan_for(spec), result)
    try:
        # With workers, they seal the values of rows that are new (the costly part);
        # here, the writer seals those it writes.
        stored = _stored_ids(agency) if workers > 0 else None
        chunks = _numbered_chunks(spec, rows, chunk_rows, stored)
        with _bulk_load(writer.connection):
            for prepared in _prepared_chunks(spec, chunks, workers=workers):
                writer.write(prepared)
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


# --- preparing rows (no database: runs in worker processes too) ----------------------------


def ingest_workers(*, rows: int) -> int:
    """How many processes prepare a file of `rows` rows: 0 (this one) for a small file.

    `REGISTRY_INGEST_WORKERS` sets them; by default none. They pay only on a machine with
    idle cores: the writing process still parses, compares and writes every row, and
    passing rows between processes costs time too (on two cores busy with other work,
    250,000 rows took 77 s with two workers, 66 s without). They are forked, so they
    start at once with this process's settings and keys, and only where the operating
    system forks (not on Windows). Only the command line uses them (`ingest_file`): a web
    or task process may run threads, which forking does not copy.
    """
    if rows < PARALLEL_MIN_ROWS or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    return max(int(getattr(settings, "REGISTRY_INGEST_WORKERS", 0) or 0), 0)


class _Chunk(NamedTuple):
    """Numbered raw rows, and the earlier row of this batch each repeated record id was in.

    `stored`: the record ids the agency already had when the chunk was sent to a worker,
    whose rows are most likely unchanged; the worker seals the others' values. None: the
    writer seals the values of the rows it creates or changes.
    """

    rows: list[tuple[int, Mapping[str, Any]]]
    earlier: dict[int, int]
    stored: frozenset[str] | None = None


class _Prepared(NamedTuple):
    """One row, ready to write (`errors` None) or to keep as a rejected row."""

    row_number: int
    record_id: str
    errors: list[dict[str, str]] | None
    raw: str  # a rejected row: the row as sent, as JSON
    values: tuple[Any, ...]  # a ready row: the values of _Plan.compared
    params: list[Any]  # a ready row: the values of _Plan.prepared, for the database if sealed
    sealed: bool = False


def _numbered_chunks(
    spec: FeedSpec,
    rows: Iterable[Mapping[str, Any]],
    size: int,
    stored: Callable[[list[str]], frozenset[str]] | None = None,
) -> Iterator[_Chunk]:
    """The rows in chunks, each repeated record id marked with the row that first sent it.

    Done here, in order, so the chunks can be prepared anywhere. `stored` gives which of a
    chunk's record ids the agency already has (see `_Chunk`).
    """
    seen: dict[str, int] = {}
    chunk = _Chunk([], {})
    ids: list[str] = []
    for number, row in enumerate(rows, start=1):
        chunk.rows.append((number, row))
        record_id = _record_id_of(spec, row)
        if record_id:
            first = seen.setdefault(record_id, number)
            if first != number:
                chunk.earlier[number] = first
            ids.append(record_id)
        if len(chunk.rows) >= size:
            yield chunk._replace(stored=stored(ids)) if stored else chunk
            chunk, ids = _Chunk([], {}), []
    if chunk.rows:
        yield chunk._replace(stored=stored(ids)) if stored else chunk


def _stored_ids(agency: Agency) -> Callable[[list[str]], frozenset[str]]:
    connection = connections[router.db_for_read(SourceRecord)]

    def stored(record_ids: list[str]) -> frozenset[str]:
        return frozenset(_record_pks(connection, agency.pk, record_ids))

    return stored


_PK_QUERY_IDS = 500


def _record_pks(connection: Any, agency_id: int, record_ids: list[str]) -> dict[str, int]:
    """{agency record id: primary key} of the agency's records among `record_ids`.

    Plain SQL on the (agency, agency record id) index: the ORM prepares each of a
    thousand parameters on its way, which costs more than the query.
    """
    quote = connection.ops.quote_name
    found: dict[str, int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(record_ids), _PK_QUERY_IDS):
            part = record_ids[start : start + _PK_QUERY_IDS]
            marks = ", ".join(["%s"] * len(part))
            cursor.execute(
                f"SELECT agency_record_id, id FROM {quote(SourceRecord._meta.db_table)} "  # noqa: S608
                f"WHERE agency_id = %s AND agency_record_id IN ({marks})",
                [agency_id, *part],
            )
            found.update(cursor.fetchall())
    return found


def _record_id_of(spec: FeedSpec, raw: Mapping[str, Any]) -> str:
    """The record id `_prepare` will read from the row ("" for a row that is not a record)."""
    if _BAD_JSON in raw or _NOT_OBJECT in raw:
        return ""
    value = raw.get(spec.record_id)
    return "" if value == _SHORT else record_id_of(spec, {spec.record_id: value})


def _prepared_chunks(
    spec: FeedSpec, chunks: Iterable[_Chunk], *, workers: int
) -> Iterator[list[_Prepared]]:
    """Each chunk prepared, in order: here, or by `workers` forked processes.

    At most two chunks per worker wait to be written, so a slow database holds memory
    to a few chunks, not the file.
    """
    if workers < 1:
        for chunk in chunks:
            yield _prepare_chunk(spec, chunk)
        return
    crypto.get_keyring()  # read once, inherited by the workers
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_worker_start, initargs=(spec,)) as pool:
        waiting: deque[Any] = deque()
        for chunk in chunks:
            waiting.append(pool.apply_async(_prepare_in_worker, (chunk,)))
            if len(waiting) > 2 * workers:
                yield waiting.popleft().get()
        while waiting:
            yield waiting.popleft().get()


_worker_spec: FeedSpec | None = None


def _worker_start(spec: FeedSpec) -> None:
    global _worker_spec
    _worker_spec = spec


def _prepare_in_worker(chunk: _Chunk) -> list[_Prepared]:
    assert _worker_spec is not None
    return _prepare_chunk(_worker_spec, chunk)


def _prepare_chunk(spec: FeedSpec, chunk: _Chunk) -> list[_Prepared]:
    plan = _plan_for(spec)
    stored = chunk.stored
    prepared = []
    for row_number, raw in chunk.rows:
        row = _prepare(spec, row_number, raw, earlier=chunk.earlier.get(row_number))
        if isinstance(row, _Ready):
            seal = stored is not None and row.mapped.record_id not in stored
            prepared.append(plan.ready(row, seal=seal))
        else:
            prepared.append(
                _Prepared(row_number, row.record_id, row.errors, _raw_json(raw), (), [])
            )
    return prepared


@dataclass(slots=True)
class _Ready:
    row_number: int
    mapped: MappedRow
    std: dict[str, str]


def _prepare(
    spec: FeedSpec, row_number: int, raw: Mapping[str, Any], *, earlier: int | None = None
) -> MappedRow | _Ready:
    """Map, check and standardise one row: a _Ready row, or the MappedRow with its errors.

    `earlier` is the row of this batch that already sent the row's record id.
    """
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
    if shape_errors:
        mapped.errors[:0] = [{"field": "row", "message": m} for m in shape_errors]
    std = _validate(spec, mapped)
    if earlier is not None and mapped.record_id:
        mapped.error(
            "agency_record_id",
            f"record id {mapped.record_id} was already sent in row {earlier} of this batch",
        )
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
assert isinstance(_NATIONAL_ID_NEAR, BlindKeysField)


def _national_id_near(national_id: str | None) -> str:
    """`SourceRecord.national_id_near` of a national ID, as its field makes it on save."""
    return _NATIONAL_ID_NEAR.value_for(national_id)


def _needs_conversion(f: Any) -> bool:
    """Whether a value must go through the field to reach the database (str and int need not)."""
    if isinstance(f, EncryptedTextField):
        return True
    plain = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)
    return not isinstance(f, plain) or isinstance(f, models.ForeignKey)


def _adapter(f: Any, connection: Any) -> Callable[[Any], Any]:
    """What `f.get_db_prep_save` does to the values a load prepares, in fewer steps.

    Those values are already of the field's type (a date, an aware datetime, a dict of
    text, text), so only the database backend's adaptation (or the encryption) is left.
    """
    ops = connection.ops
    if isinstance(f, EncryptedTextField):
        return f.get_prep_value
    if isinstance(f, models.DateTimeField):
        # Dates and times repeat across records (birthdays, a source's update runs).
        return functools.lru_cache(maxsize=100_000)(ops.adapt_datetimefield_value)
    if isinstance(f, models.DateField):
        return functools.lru_cache(maxsize=100_000)(ops.adapt_datefield_value)
    if isinstance(f, models.JSONField):
        encoder = f.encoder
        return lambda value: None if value is None else ops.adapt_json_value(value, encoder)
    return lambda value: f.get_db_prep_save(value, connection)


class _Plan:
    """The columns a load through one mapping writes, and how each value reaches the database.

    A row is prepared as the database values of `prepared` (its record id, the fields the
    mapping fills, the standard forms, the blind indexes); the columns that are the same
    for a whole chunk (the agency, the batch, the time, the defaults) follow them.

    The ORM builds its SQL value by value, which costs most of a load's time; here only
    the values the database cannot take as they are (the national ID to encrypt, dates,
    JSON) go through their field's adaptation (`_adapter`), so the database adapter gets
    what the ORM would give it.
    """

    def __init__(self, spec: FeedSpec) -> None:
        compared = [*spec.fields, "extra"]
        if "date_of_birth" in spec.fields:
            compared.append("date_of_birth_raw")
        self.compared = tuple(compared)
        self.national_id_at = compared.index("national_id") if "national_id" in compared else None
        self.prepared = (
            "agency_record_id",
            *compared,
            *_STD_FIELDS,
            "national_id_index",
            "national_id_near",
        )
        self.alias = router.db_for_write(SourceRecord)
        connection = connections[self.alias]
        meta = SourceRecord._meta
        fields: list[Any] = [meta.get_field(name) for name in self.prepared]
        self.conversions = [
            (i, _adapter(f, connection)) for i, f in enumerate(fields) if _needs_conversion(f)
        ]
        self.rest: list[Any] = [
            f for f in meta.concrete_fields if not f.primary_key and f.name not in self.prepared
        ]
        quote = connection.ops.quote_name
        table = quote(meta.db_table)
        columns = [*fields, *self.rest]
        names = ", ".join(quote(str(f.column)) for f in columns)
        marks = ", ".join(["%s"] * len(columns))
        self.insert_sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608
        # An update sets what a row brings (all but its id), its version, batch and times.
        updated = [*fields[1:], *(meta.get_field(n) for n in _UPDATE_OWN)]
        sets = ", ".join(f"{quote(str(f.column))} = %s" for f in updated)
        self.update_sql = f"UPDATE {table} SET {sets} WHERE id = %s"  # noqa: S608
        self.batch_field = meta.get_field("batch")
        self.time_field = meta.get_field("updated_at")

    def ready(self, row: _Ready, *, seal: bool) -> _Prepared:
        """A valid row, with its database values if `seal` (see `sealed`)."""
        m = row.mapped
        values = m.values
        compared = tuple(
            m.extra
            if name == "extra"
            else m.date_of_birth_raw
            if name == "date_of_birth_raw"
            else values[name]
            for name in self.compared
        )
        params = [m.record_id, *compared, *(row.std[name] for name in _STD_FIELDS)]
        if seal:
            params = self.sealed(params, compared)
        return _Prepared(row.row_number, m.record_id, None, "", compared, params, seal)

    def sealed(self, params: list[Any], compared: tuple[Any, ...]) -> list[Any]:
        """The database values of a row's `prepared` columns: its national ID encrypted,
        the ID's blind indexes made, dates and JSON as the database takes them.

        The costliest step of a load, so only for the rows that are written.
        """
        national_id = compared[self.national_id_at] if self.national_id_at is not None else None
        params = [
            *params,
            _NATIONAL_ID_INDEX.index_for(national_id),
            _national_id_near(national_id),
        ]
        for i, adapt in self.conversions:
            params[i] = adapt(params[i])
        return params

    def rest_values(self, *, batch: IngestBatch, now: datetime, connection: Any) -> list[Any]:
        """The database values of the columns a chunk's new records share."""
        given = {"agency_id": batch.agency_id, "batch_id": batch.pk}
        given |= dict.fromkeys(("loaded_at", "created_at", "updated_at"), now)
        return [
            f.get_db_prep_save(given.get(f.attname, f.get_default()), connection) for f in self.rest
        ]


_UPDATE_OWN = ("version", "batch", "loaded_at", "updated_at")


def _plan_for(spec: FeedSpec) -> _Plan:
    plan = spec._memo.get("plan")
    if plan is None:
        plan = spec._memo["plan"] = _Plan(spec)
    return plan


# --- writing chunks --------------------------------------------------------------------------


class _ChunkWriter:
    """Writes prepared chunks to the batch's agency, one transaction each, in order."""

    def __init__(self, batch: IngestBatch, plan: _Plan, result: IngestResult) -> None:
        self.batch = batch
        self.plan = plan
        self.result = result
        self.connection = connections[plan.alias]

    def write(self, prepared: list[_Prepared]) -> None:
        try:
            ids = self._write(prepared)
        except IntegrityError:
            # Another load created one of these ids between our read and our write: read again.
            ids = self._write(prepared)
        records_loaded(batch=self.batch, record_ids=ids)

    def _write(self, prepared: list[_Prepared]) -> list[int]:
        batch, plan = self.batch, self.plan
        agency = batch.agency
        ready = [p for p in prepared if p.errors is None]
        rejected = [
            RejectedRow(
                batch=batch,
                agency=agency,
                row_number=p.row_number,
                agency_record_id=p.record_id[:64],
                raw=p.raw,
                errors=p.errors,
            )
            for p in prepared
            if p.errors is not None
        ]
        now = timezone.now()
        connection = self.connection
        batch_value = plan.batch_field.get_db_prep_save(batch.pk, connection)
        now_value = plan.time_field.get_db_prep_save(now, connection)
        inserts: list[list[Any]] = []
        new_ids: list[str] = []
        updates: list[list[Any]] = []
        changed_ids: list[int] = []
        versions: list[SourceRecordVersion] = []
        unchanged = 0
        compared = plan.compared

        def _sealed(p: _Prepared) -> list[Any]:
            return p.params if p.sealed else plan.sealed(p.params, p.values)

        with transaction.atomic():
            pks = _record_pks(connection, agency.pk, [p.record_id for p in ready])
            existing = (
                {
                    old["agency_record_id"]: old
                    for old in SourceRecord.objects.filter(pk__in=pks.values()).values(
                        "id", "agency_record_id", "version", "batch_id", *_HISTORY_FIELDS
                    )
                }
                if pks
                else {}
            )
            rest = plan.rest_values(batch=batch, now=now, connection=connection)
            for p in ready:
                old = existing.get(p.record_id)
                if old is None:
                    inserts.append(_sealed(p) + rest)
                    new_ids.append(p.record_id)
                    continue
                if all(
                    _comparable(old[name]) == _comparable(value)
                    for name, value in zip(compared, p.values, strict=True)
                ):
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
                params = _sealed(p)[1:]
                if plan.national_id_at is None:
                    # The record keeps its national ID; its indexes are made again from it.
                    params[-2] = _NATIONAL_ID_INDEX.index_for(old["national_id"])
                    params[-1] = _national_id_near(old["national_id"])
                updates.append(
                    [*params, old["version"] + 1, batch_value, now_value, now_value, old["id"]]
                )
                changed_ids.append(old["id"])
            with connection.cursor() as cursor:
                if inserts:
                    cursor.executemany(plan.insert_sql, inserts)
                if updates:
                    cursor.executemany(plan.update_sql, updates)
            SourceRecordVersion.objects.bulk_create(versions)
            RejectedRow.objects.bulk_create(rejected)
            created_ids = list(_record_pks(connection, agency.pk, new_ids).values())
            batch.processed_rows += len(prepared)
            batch.created_count += len(inserts)
            batch.updated_count += len(updates)
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
        self.result.created_ids += created_ids
        self.result.updated_ids += changed_ids
        return created_ids + changed_ids


@contextmanager
def _bulk_load(connection: Any) -> Iterator[None]:
    """SQLite, while a load runs: a page cache large enough for the records' indexes, and
    the write-ahead log copied back to the database less often.

    The default cache (2 MB) holds a small fraction of the indexes of a million records,
    so each insert would read its index pages back from the file; and a chunk touches
    more pages than the default checkpoint (1,000 pages), so each commit would copy them
    all back and wait for the disk. The settings come back after.
    """
    if connection.vendor != "sqlite":
        yield
        return
    pragmas = {"cache_size": -BULK_LOAD_CACHE_KIB, "wal_autocheckpoint": BULK_LOAD_WAL_PAGES}
    with connection.cursor() as cursor:
        before = {}
        for name, value in pragmas.items():
            cursor.execute(f"PRAGMA {name}")
            before[name] = int(cursor.fetchone()[0])
            cursor.execute(f"PRAGMA {name} = {int(value)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for name, value in before.items():
                cursor.execute(f"PRAGMA {name} = {value}")


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
    workers: int | None = 0,
) -> IngestResult:
    """Load a whole file now (the command line). FeedFileUnreadable if it cannot be read.

    `workers`: processes that prepare the rows (`ingest_rows`); None, as many as
    `ingest_workers` gives for the file's size.
    """
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
    if workers is None:
        workers = ingest_workers(rows=parsed.total)
    return ingest_rows(
        batch=batch,
        rows=parsed.rows,
        actor=actor,
        spec=spec,
        progress=progress,
        workers=workers,
    )


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
    prepared = _prepare(spec, row.row_number, values)
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
