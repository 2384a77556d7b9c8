"""GovStack Consent `auditor` operations: records and agreements with their signed history.

Each consent record comes with every revision and the result of recomputing its chain
(hashes, links, signatures); each agreement with every sealed version and its seal check.
Auditors (``audit.view``) see their organisations' agreements' records; platform
admins see all. Every record read is in the audit trail.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from consent import selectors
from consent.govstack import mapping as gs
from identity import policy

router = Router(tags=["auditor"])

AUDIT = "audit.view"


@router.get("/audit/consent-records/", operation_id="auditConsentRecordList")
@policy.requires(AUDIT)
def audit_consent_records(
    request: HttpRequest,
    individualId: str | None = None,
    dataAgreementId: str | None = None,
    offset: int | None = None,
    limit: int | None = None,
) -> Any:
    start, size = gs.page_bounds(offset, limit)
    person = gs.individual_of(request, individualId, required=False)
    agreement = gs.agreement_of(request, dataAgreementId) if dataAgreementId else None
    total, page = selectors.consent_page(
        viewer=gs.user_of(request),
        person=person,
        agreement=agreement,
        offset=start,
        limit=size,
        permission=AUDIT,
        action="consent.audit",
    )
    memo: dict[object, object] = {}
    return {
        "consentRecords": [gs.consent_record(r, with_history=True, memo=memo) for r in page],
        "pagination": gs.pagination(offset=start, limit=size, total=total),
    }


@router.get("/audit/consent-record/{consentRecordId}/", operation_id="auditConsentRecordRead")
@policy.requires(AUDIT)
def audit_consent_record(request: HttpRequest, consentRecordId: str) -> Any:
    record = selectors.consent_read(
        viewer=gs.user_of(request),
        record_id=gs.parse_uuid(consentRecordId, name="consentRecordId"),
        permission=AUDIT,
        action="consent.audit",
    )
    return {"consentRecord": gs.consent_record(record, with_history=True, with_validity=True)}


def _audited_agreement(version: Any) -> dict[str, Any]:
    return gs.data_agreement(version) | {"revisions": gs.agreement_revisions(version.agreement)}


@router.get("/audit/data-agreements/", operation_id="auditDataAgreementList")
@policy.requires(AUDIT)
def audit_data_agreements(
    request: HttpRequest, offset: int | None = None, limit: int | None = None
) -> Any:
    start, size = gs.page_bounds(offset, limit)
    agreements = selectors.agreement_list(viewer=gs.user_of(request))
    return {
        "dataAgreements": [
            _audited_agreement(gs.current_version(a)) for a in agreements[start : start + size]
        ],
        "pagination": gs.pagination(offset=start, limit=size, total=agreements.count()),
    }


@router.get("/audit/data-agreement/{dataAgreementId}/", operation_id="auditDataAgreementRead")
@policy.requires(AUDIT)
def audit_data_agreement(request: HttpRequest, dataAgreementId: str) -> Any:
    agreement = gs.agreement_of(request, dataAgreementId)
    return {"dataAgreement": _audited_agreement(gs.current_version(agreement))}
