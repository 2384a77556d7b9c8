"""GovStack Consent `service` operations: individuals' consent and its verification.

Consent answers are recorded through `consent.services.consent_set` with the channel
"govstack": by the individual (a citizen's session or token) or by a consuming agency's
system on the individual's behalf (``consent.record``). Verification reads are recorded
in the audit trail, so the person sees who checked their consent.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from consent import selectors, services
from consent.choices import ConsentChannel
from consent.errors import ConsentNotApplicable, ConsentNotFound
from consent.govstack import config
from consent.govstack import mapping as gs
from consent.govstack.schemas import ConsentRecordBody, ConsentRecordSignatureBody, IndividualBody
from core.errors import ValidationFailed
from identity import policy

router = Router(tags=["service"])


# --- individuals and agreements ----------------------------------------------------------


# Before /service/individual/{individualId}/, which would otherwise take "record" as an id.
@router.delete(
    "/service/individual/record/", operation_id="serviceIndividualConsentRecordDeleteAll"
)
@policy.decided_in_service("consent.manage_own")
def service_consent_records_forget(request: HttpRequest, individualId: str | None = None) -> Any:
    """Right to be forgotten: deletes the individual's refused or withdrawn records of
    agreements marked forgettable; given consents and other records are kept."""
    person = gs.individual_of(request, individualId)
    assert person is not None
    deleted = services.consent_forget(actor=gs.user_of(request), person=person)
    return {"individual": gs.individual(person), "deletedConsentRecords": deleted}


@router.post("/service/individual/", operation_id="serviceIndividualCreate")
@policy.decided_in_service("person.view")
def service_individual_create(request: HttpRequest, body: IndividualBody) -> Any:
    return config.individual_create(request, body)


@router.get("/service/individual/{individualId}/", operation_id="serviceIndividualRead")
@policy.decided_in_service("consent.view")
def service_individual_read(request: HttpRequest, individualId: str) -> Any:
    return config.individual_read(request, individualId)


@router.put("/service/individual/{individualId}/", operation_id="serviceIndividualUpdate")
@policy.decided_in_service("consent.view")
def service_individual_update(request: HttpRequest, individualId: str) -> Any:
    gs.parse_person_id(individualId)
    raise gs.NotSupported(
        "Individuals are master persons kept by the registry from agency records; change "
        "a person's data at its source agency or through a correction request."
    )


@router.get("/service/individuals/", operation_id="serviceIndividualList")
@policy.decided_in_service("consent.view")
def service_individual_list(
    request: HttpRequest, offset: int | None = None, limit: int | None = None
) -> Any:
    return config.individual_list(request, offset, limit)


@router.get("/service/data-agreement/{dataAgreementId}/", operation_id="serviceDataAgreementRead")
@policy.requires("agreement.view")
def service_data_agreement_read(request: HttpRequest, dataAgreementId: str) -> Any:
    return config.agreement_read(request, dataAgreementId)


@router.get("/service/policy/{policyId}/", operation_id="servicePolicyRead")
@policy.requires("agreement.view")
def service_policy_read(request: HttpRequest, policyId: str, revisionId: str | None = None) -> Any:
    return config.policy_read(request, policyId, revisionId)


# --- verification ------------------------------------------------------------------------


@router.get(
    "/service/verification/data-agreements/",
    operation_id="serviceVerificationDataAgreementList",
)
@policy.requires("agreement.view")
def service_verification_data_agreements(
    request: HttpRequest, offset: int | None = None, limit: int | None = None
) -> Any:
    start, size = gs.page_bounds(offset, limit)
    agreements = selectors.agreement_list(viewer=gs.user_of(request))
    return {
        "dataAgreements": [
            gs.data_agreement(gs.current_version(a)) for a in agreements[start : start + size]
        ],
        "pagination": gs.pagination(offset=start, limit=size, total=agreements.count()),
    }


@router.get(
    "/service/verification/consent-records/",
    operation_id="serviceVerificationConsentRecordList",
)
@policy.decided_in_service("consent.view")
def service_verification_consent_records(
    request: HttpRequest,
    individualId: str | None = None,
    dataAgreementId: str | None = None,
    optIn: bool | None = None,
    offset: int | None = None,
    limit: int | None = None,
) -> Any:
    """Whether consent exists: filter by individual, agreement and optIn. Each record
    says whether it lets data move now (`valid`, and `validReason` when not)."""
    start, size = gs.page_bounds(offset, limit)
    person = gs.individual_of(request, individualId, required=False)
    agreement = gs.agreement_of(request, dataAgreementId) if dataAgreementId else None
    total, page = selectors.consent_page(
        viewer=gs.user_of(request),
        person=person,
        agreement=agreement,
        opt_in=optIn,
        offset=start,
        limit=size,
        action="consent.verify",
    )
    memo: dict[object, object] = {}
    return {
        "consentRecords": [gs.consent_record(r, with_validity=True, memo=memo) for r in page],
        "pagination": gs.pagination(offset=start, limit=size, total=total),
    }


@router.get(
    "/service/verification/consent-record/{consentRecordId}/",
    operation_id="serviceVerificationConsentRecordRead",
)
@policy.decided_in_service("consent.view")
def service_verification_consent_record(request: HttpRequest, consentRecordId: str) -> Any:
    record = selectors.consent_read(
        viewer=gs.user_of(request),
        record_id=gs.parse_uuid(consentRecordId, name="consentRecordId"),
        action="consent.verify",
    )
    return {
        "consentRecord": gs.consent_record(record, with_validity=True),
        "revision": gs.latest_revision(record),
    }


# --- an individual's consent records -----------------------------------------------------

RECORD_FOR_AGREEMENT = "/service/individual/record/data-agreement/{dataAgreementId}/"


def _answer(request: HttpRequest, *, person: Any, agreement: Any, opt_in: bool) -> Any:
    return services.consent_answer(
        actor=gs.user_of(request),
        person=person,
        agreement=agreement,
        opt_in=opt_in,
        channel=ConsentChannel.GOVSTACK,
    )


def _record_answer(record: Any) -> dict[str, Any]:
    return {"consentRecord": gs.consent_record(record), "revision": gs.latest_revision(record)}


@router.post(RECORD_FOR_AGREEMENT, operation_id="serviceIndividualConsentRecordCreate")
@policy.decided_in_service("consent.record")
def service_consent_record_create(
    request: HttpRequest,
    dataAgreementId: str,
    individualId: str | None = None,
    revisionId: str | None = None,
) -> Any:
    """The individual gives consent to the version in force (``revisionId``, if sent,
    must be that version). Given by the individual themself, or recorded by a consuming
    organisation's system (``consent.record``)."""
    agreement = gs.agreement_of(request, dataAgreementId)
    person = gs.individual_of(request, individualId)
    gs.in_force_version(agreement, revisionId)
    record = _answer(request, person=person, agreement=agreement, opt_in=True)
    return _record_answer(record)


@router.get(RECORD_FOR_AGREEMENT, operation_id="serviceIndividualConsentRecordRead")
@policy.decided_in_service("consent.view")
def service_consent_record_read(
    request: HttpRequest, dataAgreementId: str, individualId: str | None = None
) -> Any:
    agreement = gs.agreement_of(request, dataAgreementId)
    person = gs.individual_of(request, individualId)
    assert person is not None
    record = selectors.consent_for_person(
        viewer=gs.user_of(request), person=person, agreement=agreement
    )
    return {"consentRecord": gs.consent_record(record)}


@router.post(
    "/service/individual/record/consent-record/draft/",
    operation_id="serviceIndividualConsentRecordDraftCreate",
)
@policy.decided_in_service("consent.record")
def service_consent_record_draft(
    request: HttpRequest,
    dataAgreementId: str | None = None,
    individualId: str | None = None,
    revisionId: str | None = None,
) -> Any:
    """An unsaved record and the unsigned signature object for it; nothing is stored."""
    if not dataAgreementId:
        raise ValidationFailed(
            "Name the data agreement as the dataAgreementId query parameter.",
            errors={"dataAgreementId": ["required"]},
        )
    agreement = gs.agreement_of(request, dataAgreementId)
    person = gs.individual_of(request, individualId)
    assert person is not None
    services.consent_answer_check(actor=gs.user_of(request), person=person, agreement=agreement)
    version = gs.in_force_version(agreement, revisionId)
    if not version.needs_consent:
        raise ConsentNotApplicable(
            f"{agreement.code} rests on {version.lawful_basis}, not on consent.",
            lawful_basis=version.lawful_basis,
        )
    record, signature = gs.draft(person=person, version=version)
    return {"consentRecord": record, "signature": signature}


@router.post(
    "/service/individual/record/consent-record/",
    operation_id="serviceIndividualConsentRecordSignatureCreate",
)
@policy.decided_in_service("consent.record")
def service_consent_record_signed_create(
    request: HttpRequest, body: ConsentRecordSignatureBody, individualId: str | None = None
) -> Any:
    """Store a draft: the agreement's revision hash must still be the one in force. The
    platform signs the stored revision itself (Ed25519); a signature sent with the draft
    is not kept."""
    sent = body.consentRecord
    if sent.dataAgreement is None or not sent.dataAgreementRevisionHash:
        raise ValidationFailed(
            "The consent record names its data agreement and dataAgreementRevisionHash.",
            errors={
                name: ["required"]
                for name, value in (
                    ("consentRecord.dataAgreement", sent.dataAgreement),
                    ("consentRecord.dataAgreementRevisionHash", sent.dataAgreementRevisionHash),
                )
                if not value
            },
        )
    agreement = gs.agreement_of(request, sent.dataAgreement.id, name="dataAgreement.id")
    from_body = sent.individual.id if sent.individual else None
    if from_body is not None and individualId is not None and from_body != individualId:
        raise gs.MalformedId(
            "The record's individual and individualId differ.",
            errors={"individualId": ["differs from consentRecord.individual.id"]},
        )
    person = gs.individual_of(request, from_body or individualId)
    version = gs.in_force_version(agreement, None)
    if version.snapshot_hash != sent.dataAgreementRevisionHash:
        raise gs.StaleRevision(
            "The agreement has a new version since this draft; fetch a new draft and ask "
            "the individual again.",
            dataAgreementRevisionHash=version.snapshot_hash,
        )
    record = _answer(request, person=person, agreement=agreement, opt_in=sent.optIn is not False)
    answer = _record_answer(record)
    return answer | {"signature": answer["consentRecord"]["signature"]}


@router.get(
    "/service/individual/record/consent-record/",
    operation_id="serviceIndividualConsentRecordList",
)
@policy.decided_in_service("consent.view")
def service_consent_record_list(
    request: HttpRequest,
    individualId: str | None = None,
    offset: int | None = None,
    limit: int | None = None,
) -> Any:
    start, size = gs.page_bounds(offset, limit)
    person = gs.individual_of(request, individualId)
    total, page = selectors.consent_page(
        viewer=gs.user_of(request), person=person, offset=start, limit=size
    )
    memo: dict[object, object] = {}
    return {
        "consentRecords": [gs.consent_record(r, memo=memo) for r in page],
        "pagination": gs.pagination(offset=start, limit=size, total=total),
    }


def _own_record(request: HttpRequest, consentRecordId: str, individualId: str | None) -> Any:
    record = selectors.consent_read(
        viewer=gs.user_of(request),
        record_id=gs.parse_uuid(consentRecordId, name="consentRecordId"),
    )
    named = gs.individual_id_of(request, individualId)
    if named is not None and named != record.person_id:
        raise ConsentNotFound(f"Individual {named} has no consent record {record.pk}.")
    return record


@router.put(
    "/service/individual/record/consent-record/{consentRecordId}/",
    operation_id="serviceIndividualConsentRecordUpdate",
)
@policy.decided_in_service("consent.record")
def service_consent_record_update(
    request: HttpRequest,
    consentRecordId: str,
    body: ConsentRecordBody,
    individualId: str | None = None,
) -> Any:
    """Only `optIn` changes: true gives consent (to the version in force), false
    withdraws a given consent or refuses. Each change is a new signed revision."""
    if body.consentRecord.optIn is None:
        raise ValidationFailed(
            "Only optIn can be changed on a consent record; send it.",
            errors={"consentRecord.optIn": ["required"]},
        )
    record = _own_record(request, consentRecordId, individualId)
    record = _answer(
        request, person=record.person, agreement=record.agreement, opt_in=body.consentRecord.optIn
    )
    return _record_answer(record)


@router.post(
    "/service/individual/record/consent-record/{consentRecordId}/signature/",
    operation_id="serviceIndividualSignatureCreate",
)
@policy.decided_in_service("consent.view")
def service_signature_create(
    request: HttpRequest, consentRecordId: str, individualId: str | None = None
) -> Any:
    """The platform's signature of the record's latest revision, with what it signs."""
    record = _own_record(request, consentRecordId, individualId)
    return {"signature": gs.consent_record(record)["signature"]}


@router.put(
    "/service/individual/record/consent-record/{consentRecordId}/signature/",
    operation_id="serviceIndividualSignatureUpdate",
)
@policy.decided_in_service("consent.record")
def service_signature_update(request: HttpRequest, consentRecordId: str) -> Any:
    gs.parse_uuid(consentRecordId, name="consentRecordId")
    raise gs.NotSupported(
        "CivicStack signs every consent revision itself (Ed25519, see the record's "
        "signature); individuals' own signatures are not stored. Change the answer with "
        "PUT /service/individual/record/consent-record/{id}/."
    )


@router.get(
    RECORD_FOR_AGREEMENT + "all/",
    operation_id="serviceIndividualDataAgreementConsentRecordList",
)
@policy.decided_in_service("consent.view")
def service_agreement_consent_records(
    request: HttpRequest,
    dataAgreementId: str,
    individualId: str | None = None,
    offset: int | None = None,
    limit: int | None = None,
) -> Any:
    """The agreement's consent records: the individual's, when one is named; else all the
    caller may see (staff of the agreement's organisations)."""
    start, size = gs.page_bounds(offset, limit)
    agreement = gs.agreement_of(request, dataAgreementId)
    person = gs.individual_of(request, individualId, required=False)
    total, page = selectors.consent_page(
        viewer=gs.user_of(request), person=person, agreement=agreement, offset=start, limit=size
    )
    memo: dict[object, object] = {}
    return {
        "consentRecords": [gs.consent_record(r, memo=memo) for r in page],
        "pagination": gs.pagination(offset=start, limit=size, total=total),
    }
