"""Import records from CSV or JSON Lines: good rows load, bad rows are kept with their errors.

As with agency feeds (registry.services.feeds), a bad row never stops the file: it is kept,
encrypted, as an `ImportRejectedRow` with one message per field. A row whose key field
names an existing record replaces that record's contents.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from typing import Any

from django.db import transaction

from core import audit
from core.errors import ApplicationError, PermissionDenied, ValidationFailed
from identity import policy
from identity.models import User
from registries.choices import ImportStatus
from registries.models import ImportBatch, ImportRejectedRow, RegistryDefinition, RegistryRecord
from registries.services.records import record_create, record_save
from registries.values import coerce_row

IMPORT_MAX_BYTES = 10 * 1024 * 1024
IMPORT_MAX_ROWS = 50_000
FORMATS = ("csv", "jsonl")


def _rows(text: str, fmt: str) -> Iterator[tuple[int, Any, str | None]]:
    """(row number, values, problem) for each row of the file."""
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames:
            raise ValidationFailed("The file has no header row.", errors={"file": ["no header"]})
        for number, row in enumerate(reader, start=2):
            extra = row.pop(None, None)
            yield number, row, "more cells than the header has columns" if extra else None
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, {"line": line[:2000]}, f"not valid JSON: {exc.msg}"
            continue
        yield number, value, None if isinstance(value, dict) else "not a JSON object"


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationFailed(
            "The file is not UTF-8 text.", errors={"file": ["save it as UTF-8"]}
        ) from None


def _errors_list(errors: Mapping[str, list[str]]) -> list[dict[str, str]]:
    return [{"field": field, "message": m} for field, messages in errors.items() for m in messages]


def _load_row(*, actor: User, definition: RegistryDefinition, content: dict[str, Any]) -> str:
    key_field = definition.id_field
    existing = None
    if key_field and key_field in content:
        existing = RegistryRecord.objects.filter(
            definition=definition, key=str(content[key_field])
        ).first()
    if existing is not None:
        existing.definition = definition
        record_save(actor=actor, record=existing, content=content, purpose="registry import")
        return "updated"
    record_create(actor=actor, definition=definition, content=content, purpose="registry import")
    return "created"


def registry_import(
    *,
    actor: User,
    definition: RegistryDefinition,
    data: bytes,
    fmt: str,
    filename: str = "",
) -> ImportBatch:
    """Load a file's rows; each row commits or is rejected on its own."""
    policy.authorize(actor, "registry_record.manage", definition)
    if fmt not in FORMATS:
        raise ValidationFailed(errors={"format": ["csv or jsonl"]})
    if len(data) > IMPORT_MAX_BYTES:
        raise ValidationFailed(
            f"The file is larger than {IMPORT_MAX_BYTES // 1048576} MB.",
            errors={"file": ["too large"]},
        )
    text = _decode(data)
    batch = ImportBatch.objects.create(
        definition=definition,
        filename=filename[:255],
        format=fmt,
        status=ImportStatus.DONE,
        created_by=actor,
    )
    for number, row, problem in _rows(text, fmt):
        batch.total_rows += 1
        if batch.total_rows > IMPORT_MAX_ROWS:
            batch.total_rows -= 1
            batch.error = f"Only the first {IMPORT_MAX_ROWS} rows were read."
            break
        errors: list[dict[str, str]] = []
        if problem:
            errors = [{"field": "row", "message": problem}]
        else:
            content = coerce_row(definition.schema, row) if fmt == "csv" else row
            try:
                with transaction.atomic():
                    outcome = _load_row(actor=actor, definition=definition, content=content)
            except ApplicationError as exc:
                if isinstance(exc, PermissionDenied):
                    raise
                errors = _errors_list(exc.errors) or [{"field": "row", "message": exc.detail}]
            else:
                if outcome == "created":
                    batch.created_count += 1
                else:
                    batch.updated_count += 1
        if errors:
            batch.rejected_count += 1
            ImportRejectedRow.objects.create(
                batch=batch,
                row_number=number,
                raw=json.dumps(row, ensure_ascii=False, default=str),
                errors=errors,
            )
    batch.save()
    audit.record(
        actor=actor,
        action="registry_import.load",
        target=batch,
        agency=definition.agency.code,
        data={
            "registry": definition.name,
            "version": definition.version,
            "rows": batch.total_rows,
            "created": batch.created_count,
            "updated": batch.updated_count,
            "rejected": batch.rejected_count,
        },
    )
    return batch


def rejected_row_values(row: ImportRejectedRow) -> dict[str, Any]:
    value = json.loads(row.raw) if row.raw else {}
    return value if isinstance(value, dict) else {"row": value}
