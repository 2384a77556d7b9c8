from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from core.pagination import PathId
from identity import policy
from identity import selectors as identity_selectors
from identity.models import User
from registry.models import SourceRecord
from registry.schemas.records import (
    PurposeQuery,
    SourceRecordOut,
    SourceRecordPage,
    SourceRecordQuery,
)
from registry.selectors import records as selectors

router = Router(tags=["registry"])


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@router.get(
    "/agencies/{code}/records",
    response=SourceRecordPage,
    operation_id="source_record_list",
    summary="Search one agency's source records (each record returned is audited)",
)
@policy.requires("source_record.view")
def source_record_list(
    request: HttpRequest, code: str, query: Query[SourceRecordQuery]
) -> dict[str, Any]:
    viewer = _user(request)
    agency = identity_selectors.agency_get(code=code)
    qs = selectors.source_record_search(
        viewer=viewer,
        agency=agency,
        purpose=query.purpose,
        family_name=query.family_name,
        postcode=query.postcode,
        national_id=query.national_id,
    )
    page = list(qs[query.offset : query.offset + query.limit])
    selectors.source_records_read(viewer=viewer, records=page, purpose=query.purpose)
    return {"count": qs.count(), "items": page}


@router.get(
    "/records/{record_id}",
    response=SourceRecordOut,
    operation_id="source_record_get",
    summary="One source record (audited)",
)
@policy.requires("source_record.view")
def source_record_get(
    request: HttpRequest, record_id: PathId, query: Query[PurposeQuery]
) -> SourceRecord:
    record = selectors.source_record_get(
        viewer=_user(request), record_id=record_id, purpose=query.purpose
    )
    return record
