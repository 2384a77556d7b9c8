"""The consent API at /api/v1/consent: purposes, data agreements and their versions, a
citizen's own consents and receipts, staff views of an agreement's consents, chain checks,
"who accessed my data" and disclosure delays.

Every route calls the same services and selectors as the pages; they authorise for the
object at hand and record what they read or change. Errors are problem+json.
"""

import json
from typing import Annotated, Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Path, Query, Router, Status
from ninja.pagination import paginate

from consent import selectors, services
from consent.choices import ConsentChannel
from consent.errors import PersonNotLinked
from consent.models import (
    ConsentRecord,
    DataAgreement,
    DataAgreementVersion,
    DisclosureDelay,
    Purpose,
)
from consent.schemas import (
    AccessEntryOut,
    AgreementDetailOut,
    AgreementIn,
    AgreementOut,
    AgreementQuery,
    AgreementTermsIn,
    ChainCheckOut,
    ConsentIn,
    ConsentOut,
    ConsentPage,
    DisclosureDelayIn,
    DisclosureDelayOut,
    PageQuery,
    PurposeIn,
    PurposeOut,
    VersionOut,
)
from core.errors import NotFound
from core.pagination import Paging
from identity import policy
from identity import selectors as identity_selectors
from identity.models import User
from registry.models import Person
from registry.services.citizens import citizen_person

router = Router(tags=["consent"])

# An agreement by its UUID or its code.
AgreementRef = Annotated[str, Path(..., min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")]


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _own_person(request: HttpRequest) -> Person:
    person = citizen_person(user=_user(request))
    if person is None:
        raise PersonNotLinked("Verify your identity first: your account has no person yet.")
    return person


def _agreement(request: HttpRequest, agreement_id: str) -> DataAgreement:
    return selectors.agreement_get(viewer=_user(request), agreement_id=agreement_id)


# --- purposes ----------------------------------------------------------------------------


@router.get(
    "/purposes",
    response=list[PurposeOut],
    operation_id="purpose_list",
    summary="The registered purposes data may be shared for",
)
@policy.requires("agreement.view")
def purpose_list(request: HttpRequest) -> Any:
    return selectors.purpose_list()


@router.post(
    "/purposes",
    response={201: PurposeOut},
    operation_id="purpose_create",
    summary="Register a purpose (platform admins)",
)
@policy.requires("purpose.manage")
def purpose_create(request: HttpRequest, payload: PurposeIn) -> Status[Purpose]:
    purpose = services.purpose_create(
        actor=_user(request), code=payload.code, name=payload.name, description=payload.description
    )
    return Status(201, purpose)


# --- agreements --------------------------------------------------------------------------


@router.get(
    "/agreements",
    response=list[AgreementOut],
    operation_id="agreement_list",
    summary="Data agreements, each with its version in force; ?agency= narrows to one agency",
)
@policy.requires("agreement.view")
@paginate(Paging)
def agreement_list(request: HttpRequest, filters: Query[AgreementQuery]) -> Any:
    agency = identity_selectors.agency_get(code=filters.agency) if filters.agency else None
    return selectors.agreement_list(viewer=_user(request), agency=agency)


@router.post(
    "/agreements",
    response={201: AgreementDetailOut},
    operation_id="agreement_create",
    summary="Create a data agreement with its first sealed version (the provider's admin)",
    description="Refused with 400 `unknown_purpose` when the purpose is not registered, "
    "409 `agreement_exists` when the code is taken. Nothing is stored on refusal.",
)
@policy.decided_in_service("agreement.manage")
def agreement_create(request: HttpRequest, payload: AgreementIn) -> Status[DataAgreement]:
    terms = payload.dict(exclude={"code", "provider", "consumer"}, exclude_none=True)
    version = services.agreement_create(
        actor=_user(request),
        code=payload.code,
        provider=identity_selectors.agency_get(code=payload.provider),
        consumer=identity_selectors.agency_get(code=payload.consumer),
        **terms,
    )
    return Status(201, version.agreement)


@router.get(
    "/agreements/{agreement_id}",
    response=AgreementDetailOut,
    operation_id="agreement_get",
    summary="A data agreement (by id or code) with every version",
)
@policy.requires("agreement.view")
def agreement_get(request: HttpRequest, agreement_id: AgreementRef) -> DataAgreement:
    return _agreement(request, agreement_id)


@router.get(
    "/agreements/{agreement_id}/versions",
    response=list[VersionOut],
    operation_id="agreement_version_list",
    summary="Every sealed version of an agreement, newest first",
)
@policy.requires("agreement.view")
def agreement_version_list(request: HttpRequest, agreement_id: AgreementRef) -> Any:
    return selectors.agreement_versions(agreement=_agreement(request, agreement_id))


@router.post(
    "/agreements/{agreement_id}/versions",
    response={201: VersionOut},
    operation_id="agreement_revise",
    summary="Revise an agreement: a new sealed version; terms left out carry over",
    description="Consents to earlier versions still count while the purpose is the same and "
    "no attribute was added; otherwise people are asked again.",
)
@policy.decided_in_service("agreement.manage")
def agreement_revise(
    request: HttpRequest, agreement_id: AgreementRef, payload: AgreementTermsIn
) -> Status[DataAgreementVersion]:
    agreement = _agreement(request, agreement_id)
    changes = payload.dict(exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v is not None or k == "valid_until"}
    version = services.agreement_revise(actor=_user(request), agreement=agreement, **changes)
    return Status(201, version)


@router.get(
    "/agreements/{agreement_id}/consents",
    response=ConsentPage,
    operation_id="agreement_consent_list",
    summary="Consent records of an agreement (staff of its agencies; each read is recorded)",
)
@policy.requires("consent.view")
def agreement_consent_list(
    request: HttpRequest, agreement_id: AgreementRef, page: Query[PageQuery]
) -> dict[str, Any]:
    total, records = selectors.consent_page(
        viewer=_user(request),
        agreement=_agreement(request, agreement_id),
        offset=page.offset,
        limit=page.limit,
    )
    return {"count": total, "items": records}


@router.get(
    "/records/{record_id}/chain",
    response=ChainCheckOut,
    operation_id="consent_chain_verify",
    summary="Recompute a consent record's signed revision chain",
)
@policy.decided_in_service("consent.view")
def consent_chain_verify(request: HttpRequest, record_id: UUID) -> dict[str, Any]:
    record = selectors.consent_get(viewer=_user(request), record_id=record_id)
    check = selectors.consent_chain_verify(record=record)
    return {
        "record_id": record.pk,
        "ok": check.ok,
        "checked": check.checked,
        "reason": check.reason,
    }


# --- the signed-in citizen ---------------------------------------------------------------


@router.get(
    "/me/consents",
    response=list[ConsentOut],
    operation_id="consent_list_own",
    summary="The signed-in citizen's consents",
)
@policy.decided_in_service("consent.view")
def consent_list_own(request: HttpRequest) -> Any:
    return selectors.consent_list_for_person(viewer=_user(request), person=_own_person(request))


@router.post(
    "/me/consents",
    response=ConsentOut,
    operation_id="consent_set_own",
    summary="Give, refuse or withdraw one's consent to an agreement's version in force",
    description="Refused with 409 `agreement_not_in_force` (expired), `consent_not_applicable` "
    "(not resting on consent) or `consent_unchanged`. A withdrawal counts from the next "
    "request for data.",
)
@policy.requires("consent.manage_own")
def consent_set_own(request: HttpRequest, payload: ConsentIn) -> ConsentRecord:
    person = _own_person(request)
    agreement = _agreement(request, str(payload.agreement_id))
    return services.consent_set(
        actor=_user(request),
        person=person,
        agreement=agreement,
        state=payload.state,
        channel=ConsentChannel.API,
    )


@router.get(
    "/me/consents/{record_id}/receipt",
    response={200: dict[str, Any]},
    operation_id="consent_receipt",
    summary="Download a consent receipt (ISO/IEC TS 27560 JSON, signed history)",
)
@policy.decided_in_service("consent.view")
def consent_receipt(request: HttpRequest, record_id: UUID) -> HttpResponse:
    record = selectors.consent_get(viewer=_user(request), record_id=record_id)
    receipt = selectors.consent_receipt(viewer=_user(request), record=record)
    response = HttpResponse(
        json.dumps(receipt, indent=2, ensure_ascii=False), content_type="application/json"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="consent-receipt-{record.agreement.code}-{record.revision}.json"'
    )
    return response


@router.get(
    "/me/access-log",
    response=list[AccessEntryOut],
    operation_id="access_log_own",
    summary="Who accessed my data: agency, person, role, purpose and what they saw",
)
@policy.requires("access_log.view_own")
def access_log_own(request: HttpRequest) -> Any:
    return selectors.access_log_for_person(viewer=_user(request), person=_own_person(request))


# --- transparency ------------------------------------------------------------------------


@router.post(
    "/disclosure-delays",
    response={201: DisclosureDelayOut},
    operation_id="disclosure_delay_create",
    summary="Hide an agency's reads of a person from that person until a date (investigations)",
)
@policy.decided_in_service("disclosure.delay")
def disclosure_delay_create(
    request: HttpRequest, payload: DisclosureDelayIn
) -> Status[DisclosureDelay]:
    agency = identity_selectors.agency_get(code=payload.agency)
    policy.authorize(_user(request), "disclosure.delay", agency)  # before saying who exists
    person = Person.objects.filter(pk=payload.person_id).first()
    if person is None:
        raise NotFound(f"No person {payload.person_id}.")
    delay = services.disclosure_delay_set(
        actor=_user(request),
        person=person,
        agency=agency,
        until=payload.until,
        reason=payload.reason,
    )
    return Status(201, delay)
