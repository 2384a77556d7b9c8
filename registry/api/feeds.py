"""Agency feeds over the API: batches of records, their progress and rejected rows, mappings.

`POST /agencies/{code}/records:batch` takes up to 10,000 records in the agency's own field
names and answers with the batch's counts and every rejected row (row number, field,
message). The body is read here rather than by the framework, so a batch of 10,000 records
is not refused by the generic request-size limit and an oversized one gets a clear 413.
"""

import json
from typing import Annotated, Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Path, Router, Status
from ninja.pagination import paginate

from core.errors import ValidationFailed
from core.pagination import Paging, PathId
from identity import policy
from identity import selectors as identity_selectors
from identity.models import Agency, User
from registry.mapping import MappingInvalid
from registry.models import IngestBatch, RejectedRow
from registry.schemas.feeds import (
    BatchOut,
    BatchResultOut,
    CorrectionIn,
    CorrectionOut,
    MappingOut,
    RecordsBatchIn,
)
from registry.schemas.feeds import RejectedRowOut as RejectedRowSchema
from registry.selectors import feeds as selectors
from registry.services import feeds as services

router = Router(tags=["registry"])

AgencyCode = Annotated[str, Path(..., min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")]
#: A batch of 10,000 records of a few hundred bytes each fits well within this.
MAX_BATCH_BODY_BYTES = 32 * 1024 * 1024
MAX_MAPPING_BODY_BYTES = 200 * 1024


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _agency(code: str) -> Agency:
    return identity_selectors.agency_get(code=code)


def _read_body(request: HttpRequest, *, limit: int, what: str) -> bytes:
    """The request body, refused with 413 past `limit` bytes before it is all read."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    too_large = services.BatchTooLarge(
        f"The {what} is larger than {limit // (1024 * 1024) or limit // 1024} "
        f"{'MB' if limit >= 1024 * 1024 else 'KB'}; send it in smaller parts.",
        limit_bytes=limit,
    )
    if declared > limit:
        raise too_large
    data = request.read(limit + 1)
    if len(data) > limit:
        raise too_large
    return data


def _json_body(data: bytes) -> Any:
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise ValidationFailed(
            "The body is not UTF-8 JSON.", errors={"body": ["not UTF-8"]}
        ) from None
    except json.JSONDecodeError as exc:
        where = f" (line {exc.lineno}, column {exc.colno})"
        raise ValidationFailed(
            f"The body is not valid JSON{where}.", errors={"body": [f"not valid JSON{where}"]}
        ) from None


def _batch_result(batch: IngestBatch) -> IngestBatch:
    batch.rejected_rows_shown = list(  # type: ignore[attr-defined]
        RejectedRow.objects.filter(batch=batch).order_by("row_number")
    )
    return batch


@router.post(
    "/agencies/{code}/records:batch",
    response={201: BatchResultOut},
    operation_id="feed_batch_create",
    summary="Load up to 10,000 records of an agency; rejected rows come back with reasons",
    description=(
        "Each record is an object in the agency's own field names, read through its feed "
        "mapping. A record that fails validation does not stop the others: it is kept as a "
        "rejected row (see `rejected_rows`: row number from 1, field, message) and can be "
        "corrected later. The same agency record id sent again updates the record and keeps "
        "its history. More than 10,000 records answers 413 `batch_too_large`."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": RecordsBatchIn.model_json_schema()}},
        }
    },
)
@policy.requires("source_record.manage")
def feed_batch_create(request: HttpRequest, code: AgencyCode) -> Status[IngestBatch]:
    agency = _agency(code)
    body = _json_body(_read_body(request, limit=MAX_BATCH_BODY_BYTES, what="batch"))
    records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(records, list):
        raise ValidationFailed(
            'The body must be {"records": [...]}, a list of record objects.',
            errors={"records": ["required: a list of record objects"]},
        )
    result = services.ingest_records(agency=agency, records=records, actor=_user(request))
    return Status(201, _batch_result(result.batch))


@router.get(
    "/agencies/{code}/batches",
    response=list[BatchOut],
    operation_id="feed_batch_list",
    summary="An agency's loads, newest first",
)
@policy.requires("source_record.view")
@paginate(Paging)
def feed_batch_list(request: HttpRequest, code: AgencyCode) -> Any:
    return selectors.ingest_batch_list(viewer=_user(request), agency=_agency(code))


@router.get(
    "/batches/{batch_id}",
    response=BatchOut,
    operation_id="feed_batch_get",
    summary="A load's status, progress and counts",
)
@policy.requires("source_record.view")
def feed_batch_get(request: HttpRequest, batch_id: UUID) -> IngestBatch:
    return selectors.ingest_batch_get(viewer=_user(request), batch_id=batch_id)


@router.get(
    "/batches/{batch_id}/rejected-rows",
    response=list[RejectedRowSchema],
    operation_id="feed_rejected_row_list",
    summary="A load's rejected rows with their errors (the page read is audited)",
)
@policy.requires("source_record.manage")
def feed_rejected_row_list(
    request: HttpRequest, batch_id: UUID, limit: int = 100, offset: int = 0
) -> list[RejectedRow]:
    viewer = _user(request)
    batch = selectors.ingest_batch_get(viewer=viewer, batch_id=batch_id)
    limit = max(1, min(limit, 1000))
    offset = max(0, offset)
    rows = list(selectors.rejected_row_list(viewer=viewer, batch=batch)[offset : offset + limit])
    selectors.rejected_rows_read(viewer=viewer, batch=batch, rows=rows)
    return rows


@router.post(
    "/rejected-rows/{row_id}/correction",
    response={201: CorrectionOut},
    operation_id="feed_rejected_row_correct",
    summary="Send a rejected row again, corrected; it loads as a batch of its own",
    description=(
        "Values still invalid answer 400 `correction_invalid` with the errors per field, "
        "and the row stays open. A row already corrected or dismissed answers 409."
    ),
)
@policy.requires("source_record.manage")
def feed_rejected_row_correct(
    request: HttpRequest, row_id: PathId, payload: CorrectionIn
) -> Status[dict[str, Any]]:
    viewer = _user(request)
    row = selectors.rejected_row_get(viewer=viewer, row_id=row_id)
    result = services.rejected_row_resubmit(row=row, values=payload.values, actor=viewer)
    row.refresh_from_db()
    return Status(201, {"row": row, "batch": result.batch})


def _mapping_out(agency: Agency, viewer: User) -> dict[str, Any]:
    mapping, spec, text = selectors.feed_mapping_effective(viewer=viewer, agency=agency)
    return {
        "agency": agency.code,
        "version": mapping.version if mapping else None,
        "active": mapping is not None,
        "source_text": text,
        "spec": spec.as_spec(),
        "created_at": mapping.created_at if mapping else None,
    }


@router.get(
    "/agencies/{code}/feed-mapping",
    response=MappingOut,
    operation_id="feed_mapping_get",
    summary="The mapping the agency's loads use",
)
@policy.decided_in_service("feed_mapping.manage")
def feed_mapping_get(request: HttpRequest, code: AgencyCode) -> dict[str, Any]:
    return _mapping_out(_agency(code), _user(request))


@router.put(
    "/agencies/{code}/feed-mapping",
    response=MappingOut,
    operation_id="feed_mapping_put",
    summary="Replace the agency's mapping (YAML text or JSON); saved as a new version",
    description=(
        "Send YAML with `Content-Type: application/yaml` (or text/plain), or the same "
        "structure as JSON. A mapping that is not valid answers 422 `feed_mapping_invalid` "
        "with `errors` keyed by the mapping key at fault (e.g. `fields.sex.values.W`)."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
@policy.requires("feed_mapping.manage")
def feed_mapping_put(request: HttpRequest, code: AgencyCode) -> dict[str, Any]:
    agency = _agency(code)
    data = _read_body(request, limit=MAX_MAPPING_BODY_BYTES, what="mapping")
    content_type = (request.content_type or "").lower()
    spec: Any
    if "json" in content_type:
        spec = _json_body(data)
        if not isinstance(spec, dict):
            raise MappingInvalid(
                "The mapping must be a JSON object.", errors={"mapping": ["must be an object"]}
            )
    else:
        try:
            spec = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise MappingInvalid(
                "The mapping must be UTF-8 text.", errors={"mapping": ["not UTF-8"]}
            ) from None
    services.feed_mapping_save(agency=agency, text_or_spec=spec, actor=_user(request))
    return _mapping_out(agency, _user(request))
