"""GovStack Consent `config` operations: agreements, policies, individuals, webhooks."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from consent import selectors, services
from consent.govstack import mapping as gs
from consent.govstack.schemas import (
    DataAgreementBody,
    DataAgreementIn,
    IndividualBody,
    PolicyBody,
    WebhookBody,
)
from core.errors import NotFound, ValidationFailed
from identity import policy
from identity import selectors as identity_selectors
from identity.models import Agency
from registry.models import Person
from registry.selectors.persons import person_search

router = Router(tags=["config"])

RESOLVE_PURPOSE = "consent: resolve an individual by external id"


# --- policies ----------------------------------------------------------------------------


@router.post("/config/policy/", operation_id="configPolicyCreate")
@policy.requires("agreement.manage")
def config_policy_create(request: HttpRequest) -> Any:
    raise gs.NotSupported(
        "A policy is part of a data agreement's terms (policy URL and retention), not a "
        "separate object: create the data agreement with its policy, or revise it with "
        "PUT /config/policy/{policyId}/ where policyId is the agreement's id."
    )


@router.get("/config/policy/{policyId}/", operation_id="configPolicyRead")
@policy.requires("agreement.view")
def config_policy_read(request: HttpRequest, policyId: str, revisionId: str | None = None) -> Any:
    return policy_read(request, policyId, revisionId)


def policy_read(request: HttpRequest, policy_id: str, revision_id: str | None) -> dict[str, Any]:
    version = gs.version_of(gs.agreement_of(request, policy_id, name="policyId"), revision_id)
    return {"policy": gs.policy(version), "revision": gs.agreement_revision(version)}


@router.put("/config/policy/{policyId}/", operation_id="configPolicyUpdate")
@policy.decided_in_service("agreement.manage")
def config_policy_update(request: HttpRequest, policyId: str, body: PolicyBody) -> Any:
    """A new version of the agreement with the changed policy URL or retention."""
    agreement = gs.agreement_of(request, policyId, name="policyId")
    changes: dict[str, Any] = {}
    if body.policy.url is not None:
        changes["policy_url"] = body.policy.url
    if body.policy.dataRetentionPeriodDays is not None:
        changes["retention_days"] = body.policy.dataRetentionPeriodDays
    if not changes:
        raise ValidationFailed(
            "Only the policy's url and dataRetentionPeriodDays can be changed; send one.",
            errors={"policy": ["nothing to change"]},
        )
    version = services.agreement_revise(actor=gs.user_of(request), agreement=agreement, **changes)
    return {"policy": gs.policy(version), "revision": gs.agreement_revision(version)}


@router.delete("/config/policy/{policyId}/", operation_id="configPolicyDelete")
@policy.requires("agreement.manage")
def config_policy_delete(request: HttpRequest, policyId: str) -> Any:
    gs.parse_uuid(policyId, name="policyId")
    raise gs.NotSupported(
        "A policy cannot be deleted: it is part of sealed agreement versions that consents "
        "refer to. Revise the agreement (PUT /config/data-agreement/{id}/) instead."
    )


@router.get("/config/policy/{policyId}/revisions/", operation_id="configPolicyRevisionsList")
@policy.requires("agreement.view")
def config_policy_revisions(
    request: HttpRequest, policyId: str, offset: int | None = None, limit: int | None = None
) -> Any:
    agreement = gs.agreement_of(request, policyId, name="policyId")
    start, size = gs.page_bounds(offset, limit)
    versions = list(selectors.agreement_versions(agreement=agreement))
    return {
        "policy": gs.policy(gs.current_version(agreement)),
        "policies": [gs.policy(v) for v in versions[start : start + size]],
        "revisions": [gs.agreement_revision(v) for v in versions[start : start + size]],
        "pagination": gs.pagination(offset=start, limit=size, total=len(versions)),
    }


@router.get("/config/policies/", operation_id="configPolicyList")
@policy.requires("agreement.view")
def config_policy_list(
    request: HttpRequest,
    revisionId: str | None = None,
    offset: int | None = None,
    limit: int | None = None,
) -> Any:
    start, size = gs.page_bounds(offset, limit)
    agreements = selectors.agreement_list(viewer=gs.user_of(request))
    if revisionId:
        wanted = gs.parse_uuid(revisionId, name="revisionId")
        agreements = agreements.filter(versions__pk=wanted)
    page = list(agreements[start : start + size])
    return {
        "policies": [gs.policy(gs.current_version(a)) for a in page],
        "pagination": gs.pagination(offset=start, limit=size, total=agreements.count()),
    }


# --- data agreements ---------------------------------------------------------------------


def agreement_read(request: HttpRequest, dataAgreementId: str) -> dict[str, Any]:
    version = gs.current_version(gs.agreement_of(request, dataAgreementId))
    return {"dataAgreement": gs.data_agreement(version), "revision": gs.agreement_revision(version)}


@router.get("/config/data-agreement/{dataAgreementId}/", operation_id="configDataAgreementRead")
@policy.requires("agreement.view")
def config_data_agreement_read(request: HttpRequest, dataAgreementId: str) -> Any:
    return agreement_read(request, dataAgreementId)


def _terms(body: DataAgreementIn) -> dict[str, Any]:
    """The agreement terms a body sets, in the services' names."""
    sent = body.model_fields_set
    terms: dict[str, Any] = {}
    simple = {
        "purpose": "purpose_text",
        "purposeCode": "purpose",
        "lawfulBasis": "lawful_basis",
        "dpia": "dpia",
        "forgettable": "forgettable",
        "validFrom": "valid_from",
        "validUntil": "valid_until",
    }
    for name, term in simple.items():
        value = getattr(body, name)
        if name in sent and (value is not None or name == "validUntil"):
            terms[term] = value
    if body.dataAttributes is not None:
        terms["attributes"] = [a.name for a in body.dataAttributes]
    if body.policy is not None:
        if body.policy.url is not None:
            terms["policy_url"] = body.policy.url
        if body.policy.dataRetentionPeriodDays is not None:
            terms["retention_days"] = body.policy.dataRetentionPeriodDays
    return terms


def _agency(code: str, field: str) -> Agency:
    try:
        return identity_selectors.agency_get(code=code)
    except NotFound:
        raise ValidationFailed(
            f"No organisation {code!r}.", errors={field: ["unknown organisation"]}
        ) from None


@router.post("/config/data-agreement/", operation_id="configDataAgreementCreate")
@policy.decided_in_service("agreement.manage")
def config_data_agreement_create(request: HttpRequest, body: DataAgreementBody) -> Any:
    """The controller is the providing organisation (the caller's by default); `consumer`,
    `code`, `purposeCode` (a registered purpose), `dataAttributes` and the policy's
    `dataRetentionPeriodDays` are required."""
    sent = body.dataAgreement
    user = gs.user_of(request)
    terms = _terms(sent)
    missing = {
        "code": sent.code,
        "consumer": sent.consumer,
        "purpose": terms.get("purpose_text"),
        "purposeCode": terms.get("purpose"),
        "lawfulBasis": terms.get("lawful_basis"),
        "dataAttributes": terms.get("attributes"),
        "policy.dataRetentionPeriodDays": terms.get("retention_days"),
    }
    errors = {name: ["required"] for name, value in missing.items() if value in (None, "", [])}
    if sent.controller is None and user.agency is None:
        errors["controller"] = ["required: the caller belongs to no organisation"]
    if errors:
        raise ValidationFailed("The data agreement lacks required terms.", errors=errors)
    assert sent.code is not None and sent.consumer is not None
    provider = _agency(sent.controller.id, "controller") if sent.controller else user.agency
    assert provider is not None
    version = services.agreement_create(
        actor=user,
        code=sent.code,
        provider=provider,
        consumer=_agency(sent.consumer.id, "consumer"),
        **terms,
    )
    return {"dataAgreement": gs.data_agreement(version), "revision": gs.agreement_revision(version)}


@router.put("/config/data-agreement/{dataAgreementId}/", operation_id="configDataAgreementUpdate")
@policy.decided_in_service("agreement.manage")
def config_data_agreement_update(
    request: HttpRequest, dataAgreementId: str, body: DataAgreementBody
) -> Any:
    """A new sealed version with the terms sent; unchanged terms carry over. The code,
    controller and consumer of an agreement never change."""
    agreement = gs.agreement_of(request, dataAgreementId)
    sent = body.dataAgreement
    fixed = {
        "code": (sent.code, agreement.code),
        "controller": (sent.controller and sent.controller.id, agreement.provider.code),
        "consumer": (sent.consumer and sent.consumer.id, agreement.consumer.code),
    }
    errors = {
        name: ["cannot be changed"]
        for name, (value, current) in fixed.items()
        if value is not None and value != current
    }
    if errors:
        raise ValidationFailed("These terms of an agreement cannot be changed.", errors=errors)
    terms = _terms(sent)
    if not terms:
        raise ValidationFailed(
            "Nothing to change: send the terms that change.",
            errors={"dataAgreement": ["no changed terms"]},
        )
    version = services.agreement_revise(actor=gs.user_of(request), agreement=agreement, **terms)
    return {"dataAgreement": gs.data_agreement(version), "revision": gs.agreement_revision(version)}


@router.delete(
    "/config/data-agreement/{dataAgreementId}/", operation_id="configDataAgreementDelete"
)
@policy.requires("agreement.manage")
def config_data_agreement_delete(request: HttpRequest, dataAgreementId: str) -> Any:
    gs.agreement_of(request, dataAgreementId)
    raise gs.NotSupported(
        "Data agreements are sealed and kept for audit, with the consents given to them. "
        "To end one, revise it with a validUntil (PUT /config/data-agreement/{id}/)."
    )


@router.get("/config/data-agreements/", operation_id="configDataAgreementList")
@policy.requires("agreement.view")
def config_data_agreement_list(
    request: HttpRequest, offset: int | None = None, limit: int | None = None
) -> Any:
    start, size = gs.page_bounds(offset, limit)
    agreements = selectors.agreement_list(viewer=gs.user_of(request))
    page = [gs.data_agreement(gs.current_version(a)) for a in agreements[start : start + size]]
    # the specification names this list `dataAgreement` (singular) here
    return {
        "dataAgreement": page,
        "pagination": gs.pagination(offset=start, limit=size, total=agreements.count()),
    }


# --- individuals -------------------------------------------------------------------------


def individual_create(request: HttpRequest, body: IndividualBody) -> dict[str, Any]:
    """Individuals are master persons made by linkage from agency records; "creating" one
    finds the person by id or by national ID (external id), and never invents one."""
    sent = body.individual
    user = gs.user_of(request)
    if sent.id:
        person = gs.individual_of(request, sent.id)
        assert person is not None
        return {"individual": gs.individual(person)}
    kind = (sent.externalIdType or "national_id").strip().lower().replace(" ", "_")
    if not sent.externalId or kind not in ("national_id", "foundational_id"):
        raise ValidationFailed(
            "Send the individual's id, or externalId with externalIdType 'national_id'.",
            errors={"individual": ["id or a national ID as externalId"]},
        )
    hits = person_search(viewer=user, purpose=RESOLVE_PURPOSE, national_id=sent.externalId)
    if not hits:
        raise NotFound(
            "No person in the registry has this external id. Individuals come from agency "
            "records linked into the master person index; they are not created here."
        )
    found = gs.individual(hits[0].person)
    # echo only what the caller sent: national IDs are never read out
    return {"individual": found | {"externalId": sent.externalId, "externalIdType": kind}}


def individual_read(request: HttpRequest, individualId: str) -> dict[str, Any]:
    policy.authorize(gs.user_of(request), "consent.view", policy.ANY_OBJECT)
    person = gs.individual_of(request, gs.parse_person_id(individualId))
    assert person is not None
    return {"individual": gs.individual(person)}


def individual_list(request: HttpRequest, offset: int | None, limit: int | None) -> dict[str, Any]:
    start, size = gs.page_bounds(offset, limit)
    total, ids = selectors.consent_individual_ids(
        viewer=gs.user_of(request), offset=start, limit=size
    )
    people = Person.objects.in_bulk(ids)
    return {
        "individuals": [gs.individual(people[i]) for i in ids if i in people],
        "pagination": gs.pagination(offset=start, limit=size, total=total),
    }


@router.post("/config/individual/", operation_id="configIndividualCreate")
@policy.decided_in_service("person.view")
def config_individual_create(request: HttpRequest, body: IndividualBody) -> Any:
    return individual_create(request, body)


@router.get("/config/individual/{individualId}/", operation_id="configIndividualRead")
@policy.decided_in_service("consent.view")
def config_individual_read(request: HttpRequest, individualId: str) -> Any:
    return individual_read(request, individualId)


@router.get("/config/individuals/", operation_id="configIndividualList")
@policy.decided_in_service("consent.view")
def config_individual_list(
    request: HttpRequest, offset: int | None = None, limit: int | None = None
) -> Any:
    return individual_list(request, offset, limit)


# --- webhooks ----------------------------------------------------------------------------


@router.post("/config/webhook/", operation_id="configWebhookCreate")
@policy.decided_in_service("event.subscribe")
def config_webhook_create(request: HttpRequest, body: WebhookBody) -> Any:
    """The caller's organisation subscribes; the secret is shown in this answer only."""
    user = gs.user_of(request)
    if user.agency is None:
        raise ValidationFailed(
            "A webhook belongs to an organisation; the caller belongs to none.",
            errors={"webhook": ["no organisation"]},
        )
    sent = body.webhook
    hook = services.webhook_create(
        actor=user,
        agency=user.agency,
        payload_url=sent.payloadUrl,
        content_type=sent.contentType,
        events=sent.events,
        disabled=sent.disabled,
    )
    return {"webhook": gs.webhook(hook, reveal_secret=True)}


@router.get("/config/webhook/{webhookId}/", operation_id="configWebhookRead")
@policy.decided_in_service("event.subscribe")
def config_webhook_read(request: HttpRequest, webhookId: str, revisionId: str | None = None) -> Any:
    hook = selectors.webhook_get(
        viewer=gs.user_of(request), webhook_id=gs.parse_uuid(webhookId, name="webhookId")
    )
    return {"webhook": gs.webhook(hook)}


@router.put("/config/webhook/{webhookId}/", operation_id="configWebhookUpdate")
@policy.decided_in_service("event.subscribe")
def config_webhook_update(request: HttpRequest, webhookId: str, body: WebhookBody) -> Any:
    user = gs.user_of(request)
    hook = selectors.webhook_get(viewer=user, webhook_id=gs.parse_uuid(webhookId, name="webhookId"))
    sent = body.webhook
    hook = services.webhook_update(
        actor=user,
        hook=hook,
        payload_url=sent.payloadUrl,
        content_type=sent.contentType,
        events=sent.events,
        disabled=sent.disabled,
    )
    return {"webhook": gs.webhook(hook)}


@router.delete("/config/webhook/{webhookId}/", operation_id="configWebhookDelete")
@policy.decided_in_service("event.subscribe")
def config_webhook_delete(request: HttpRequest, webhookId: str) -> Any:
    user = gs.user_of(request)
    hook = selectors.webhook_get(viewer=user, webhook_id=gs.parse_uuid(webhookId, name="webhookId"))
    shape = gs.webhook(hook)
    services.webhook_delete(actor=user, hook=hook)
    return {"webhook": shape}


@router.get("/config/webhooks/", operation_id="configWebhookList")
@policy.decided_in_service("event.subscribe")
def config_webhook_list(
    request: HttpRequest,
    revisionId: str | None = None,
    offset: int | None = None,
    limit: int | None = None,
) -> Any:
    start, size = gs.page_bounds(offset, limit)
    hooks = selectors.webhook_list(viewer=gs.user_of(request))
    return {
        "webhooks": [gs.webhook(h) for h in hooks[start : start + size]],
        "pagination": gs.pagination(offset=start, limit=size, total=hooks.count()),
    }
