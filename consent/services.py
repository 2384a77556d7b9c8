"""Writes of agreements and consent. Each takes the acting user, authorises, and is audited.

Agreement versions and consent revisions are sealed (`core.signing.seal`): canonical
JSON, SHA-256, the platform's Ed25519 signature. A consent revision's snapshot holds the
previous revision's hash, so a record's history is a chain.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from consent import notify, selectors
from consent.choices import ConsentChannel, ConsentState, LawfulBasis
from consent.errors import (
    AgreementExists,
    ConsentNotApplicable,
    ConsentUnchanged,
    PersonNotLinked,
    UnknownPurpose,
)
from consent.models import (
    GENESIS_HASH,
    ConsentRecord,
    ConsentRevision,
    ConsentWebhook,
    DataAgreement,
    DataAgreementVersion,
    DisclosureDelay,
    Purpose,
)
from core import audit, signing
from core.errors import PermissionDenied, ValidationFailed
from core.timezones import in_utc
from identity import policy
from identity.models import Agency, User
from registry.models import Person

MAX_ATTRIBUTES = 100


def _actor_label(actor: User) -> str:
    return "system" if getattr(actor, "civic_system", False) else actor.get_username()


@transaction.atomic
def purpose_create(*, actor: User, code: str, name: str, description: str = "") -> Purpose:
    policy.authorize(actor, "purpose.manage")
    if Purpose.objects.filter(code=code).exists():
        raise ValidationFailed(errors={"code": [f"purpose {code!r} exists"]})
    purpose = Purpose.objects.create(code=code, name=name, description=description)
    audit.record(actor=actor, action="purpose.create", target=purpose, data={"code": code})
    return purpose


def _clean_attributes(attributes: Iterable[str]) -> list[str]:
    names = sorted({str(a).strip() for a in attributes if str(a).strip()})
    if not names:
        raise ValidationFailed(errors={"attributes": ["name at least one attribute"]})
    if len(names) > MAX_ATTRIBUTES:
        raise ValidationFailed(errors={"attributes": [f"at most {MAX_ATTRIBUTES} attributes"]})
    bad = [n for n in names if len(n) > 80 or not n.replace("_", "").replace(".", "").isalnum()]
    if bad:
        raise ValidationFailed(errors={"attributes": [f"not attribute names: {bad}"]})
    return names


def _version_payload(version: DataAgreementVersion) -> dict[str, Any]:
    agreement = version.agreement
    return {
        "schema": "civicstack.data-agreement/1",
        "agreement_id": str(agreement.pk),
        "code": agreement.code,
        "provider": agreement.provider.code,
        "consumer": agreement.consumer.code,
        "version": version.version,
        "purpose": version.purpose.code,
        "purpose_text": version.purpose_text,
        "attributes": list(version.attributes),
        "lawful_basis": version.lawful_basis,
        "retention_days": version.retention_days,
        "valid_from": version.valid_from.isoformat(),
        "valid_until": version.valid_until.isoformat() if version.valid_until else None,
        "policy_url": version.policy_url,
        "dpia": version.dpia,
        "forgettable": version.forgettable,
    }


def _new_version(
    *,
    actor: User,
    agreement: DataAgreement,
    version: int,
    purpose: str,
    purpose_text: str,
    attributes: Iterable[str],
    lawful_basis: str,
    retention_days: int,
    valid_from: datetime | None,
    valid_until: datetime | None,
    policy_url: str,
    dpia: str,
    forgettable: bool,
) -> DataAgreementVersion:
    errors: dict[str, list[str]] = {}
    purpose_obj = Purpose.objects.filter(code=purpose).first()
    if purpose_obj is None:
        raise UnknownPurpose(f"{purpose!r} is not a registered purpose.", purpose=purpose)
    if lawful_basis not in LawfulBasis.values:
        errors["lawful_basis"] = [f"one of {sorted(LawfulBasis.values)}"]
    if not purpose_text.strip():
        errors["purpose_text"] = ["say in plain words why the data is shared"]
    if retention_days < 1:
        errors["retention_days"] = ["at least one day"]
    # in UTC: PostgreSQL refuses odd offsets a client may send (+19:53)
    start = in_utc(valid_from) if valid_from is not None else timezone.now()
    valid_until = in_utc(valid_until) if valid_until is not None else None
    if valid_until is not None and valid_until <= start:
        errors["valid_until"] = ["must be after the start of validity"]
    try:
        names = _clean_attributes(attributes)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors=errors)
    row = DataAgreementVersion(
        agreement=agreement,
        version=version,
        purpose=purpose_obj,
        purpose_text=purpose_text.strip(),
        attributes=names,
        lawful_basis=lawful_basis,
        retention_days=retention_days,
        valid_from=start,
        valid_until=valid_until,
        policy_url=policy_url,
        dpia=dpia,
        forgettable=forgettable,
        created_by=actor,
    )
    sealed = signing.seal(_version_payload(row))
    row.snapshot, row.snapshot_hash = sealed.snapshot, sealed.hash
    row.key_id, row.signature = sealed.key_id, sealed.signature
    row.save(force_insert=True)
    return row


@transaction.atomic
def agreement_create(
    *,
    actor: User,
    code: str,
    provider: Agency,
    consumer: Agency,
    purpose: str,
    purpose_text: str,
    attributes: Iterable[str],
    lawful_basis: str,
    retention_days: int,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    policy_url: str = "",
    dpia: str = "",
    forgettable: bool = False,
) -> DataAgreementVersion:
    """A new agreement between two agencies, with its first version."""
    policy.authorize(actor, "agreement.manage", provider)
    if DataAgreement.objects.filter(code=code).exists():
        raise AgreementExists(f"A data agreement {code!r} exists; revise it instead.")
    if provider.pk == consumer.pk:
        raise ValidationFailed(errors={"consumer": ["an agency does not need an agreement"]})
    agreement = DataAgreement.objects.create(
        code=code, provider=provider, consumer=consumer, created_by=actor
    )
    version = _new_version(
        actor=actor,
        agreement=agreement,
        version=1,
        purpose=purpose,
        purpose_text=purpose_text,
        attributes=attributes,
        lawful_basis=lawful_basis,
        retention_days=retention_days,
        valid_from=valid_from,
        valid_until=valid_until,
        policy_url=policy_url,
        dpia=dpia,
        forgettable=forgettable,
    )
    audit.record(
        actor=actor,
        action="agreement.create",
        target=version,
        agency=provider.code,
        data={"code": code, "consumer": consumer.code, "hash": version.snapshot_hash},
    )
    return version


@transaction.atomic
def agreement_revise(
    *, actor: User, agreement: DataAgreement, **changes: Any
) -> DataAgreementVersion:
    """A new version: unchanged terms carry over. Consents to an older version still count
    only while the purpose is the same and no attribute was added (see
    `consent.selectors.consent_covers`)."""
    policy.authorize(actor, "agreement.manage", agreement)
    allowed = {
        "purpose",
        "purpose_text",
        "attributes",
        "lawful_basis",
        "retention_days",
        "valid_from",
        "valid_until",
        "policy_url",
        "dpia",
        "forgettable",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(errors={name: ["cannot be changed"] for name in sorted(unknown)})
    latest = (
        DataAgreementVersion.objects.select_for_update()
        .filter(agreement=agreement)
        .select_related("purpose")
        .order_by("-version")
        .first()
    )
    assert latest is not None  # every agreement is created with a version
    terms: dict[str, Any] = {
        "purpose": latest.purpose.code,
        "purpose_text": latest.purpose_text,
        "attributes": latest.attributes,
        "lawful_basis": latest.lawful_basis,
        "retention_days": latest.retention_days,
        "valid_from": None,
        "valid_until": latest.valid_until,
        "policy_url": latest.policy_url,
        "dpia": latest.dpia,
        "forgettable": latest.forgettable,
    }
    terms.update(changes)
    version = _new_version(actor=actor, agreement=agreement, version=latest.version + 1, **terms)
    audit.record(
        actor=actor,
        action="agreement.revise",
        target=version,
        agency=agreement.provider.code,
        data={"code": agreement.code, "version": version.version, "changed": sorted(changes)},
    )
    return version


# --- consent -----------------------------------------------------------------------------


def _revision_payload(revision: ConsentRevision, record: ConsentRecord) -> dict[str, Any]:
    version = revision.agreement_version
    return {
        "schema": "civicstack.consent-revision/1",
        "record_id": str(record.pk),
        "revision": revision.revision,
        "person": record.person_id,
        "agreement_id": str(record.agreement_id),
        "agreement_version": version.version,
        "agreement_hash": version.snapshot_hash,
        "state": revision.state,
        "channel": revision.channel,
        "actor": revision.actor_label,
        "time": revision.created_at.isoformat(),
        "prev_hash": revision.prev_hash,
    }


def _check_actor_for_person(*, actor: User, person: Person, agreement: DataAgreement) -> None:
    if actor.is_citizen:
        policy.authorize(actor, "consent.manage_own", person)
        from registry.services.citizens import citizen_person

        own = citizen_person(user=actor)
        if own is None:
            raise PersonNotLinked("Verify your identity first: your account has no person yet.")
        if own.pk != person.pk:
            raise PermissionDenied("A citizen answers for themself only.")
        return
    policy.authorize(actor, "consent.record", agreement)


@transaction.atomic
def consent_set(
    *,
    actor: User,
    person: Person,
    agreement: DataAgreement,
    state: ConsentState | str,
    channel: ConsentChannel | str = ConsentChannel.PORTAL,
) -> ConsentRecord:
    """Give, refuse or withdraw consent to the agreement's version in force.

    Withdrawal takes effect at commit: the exchange reads consent on every request.
    """
    _check_actor_for_person(actor=actor, person=person, agreement=agreement)
    if state not in ConsentState.values:
        raise ValidationFailed(errors={"state": [f"one of {sorted(ConsentState.values)}"]})
    version = selectors.agreement_version_in_force(agreement=agreement)
    if not version.needs_consent:
        raise ConsentNotApplicable(
            f"{agreement.code} rests on {version.lawful_basis}, not on consent.",
            lawful_basis=version.lawful_basis,
        )
    record = (
        ConsentRecord.objects.select_for_update().filter(person=person, agreement=agreement).first()
    )
    if record is None and state == ConsentState.WITHDRAWN:
        raise ConsentUnchanged("There is no consent to withdraw.")
    if record is not None and record.state == state and record.agreement_version_id == version.pk:
        raise ConsentUnchanged(f"The consent is already {state}.")
    if record is not None and state == ConsentState.WITHDRAWN and record.state != "given":
        raise ConsentUnchanged("Only a given consent can be withdrawn.")
    now = timezone.now()
    if record is None:
        record = ConsentRecord(
            person=person,
            agreement=agreement,
            agreement_version=version,
            state=state,
            revision=0,
            head_hash=GENESIS_HASH,
        )
    revision = ConsentRevision(
        record=record,
        revision=record.revision + 1,
        state=state,
        agreement_version=version,
        channel=channel,
        actor=actor,
        actor_label=_actor_label(actor),
        created_at=now,
        prev_hash=record.head_hash,
    )
    sealed = signing.seal(_revision_payload(revision, record))
    revision.snapshot, revision.hash = sealed.snapshot, sealed.hash
    revision.key_id, revision.signature = sealed.key_id, sealed.signature
    record.agreement_version = version
    record.state = state
    record.revision = revision.revision
    record.head_hash = revision.hash
    record.updated_at = now
    record.save()
    revision.save(force_insert=True)
    audit.record(
        actor=actor,
        action=f"consent.{state}",
        subject_person=person.pk,
        target=record,
        agency=agreement.consumer.code,
        purpose=version.purpose.code,
        data={
            "agreement": agreement.code,
            "version": version.version,
            "revision": revision.revision,
            "hash": revision.hash,
            "channel": str(channel),
        },
    )
    # third parties subscribed to consent events are told, in this transaction's outbox
    notify.consent_changed(
        notify.ConsentChange(
            event=notify.EVENT_FOR_STATE[str(state)],
            record=record,
            revision=revision,
            version=version,
            actor=actor,
        )
    )
    return record


def consent_give(**kwargs: Any) -> ConsentRecord:
    return consent_set(state=ConsentState.GIVEN, **kwargs)


def consent_refuse(**kwargs: Any) -> ConsentRecord:
    return consent_set(state=ConsentState.REFUSED, **kwargs)


def consent_withdraw(**kwargs: Any) -> ConsentRecord:
    return consent_set(state=ConsentState.WITHDRAWN, **kwargs)


# --- transparency ------------------------------------------------------------------------


@transaction.atomic
def disclosure_delay_set(
    *, actor: User, person: Person, agency: Agency, until: datetime, reason: str
) -> DisclosureDelay:
    """Hide ``agency``'s reads of ``person`` from the person until ``until`` (an
    investigation); auditors see the delay and the reads."""
    policy.authorize(actor, "disclosure.delay", agency)
    until = in_utc(until)
    errors: dict[str, list[str]] = {}
    if not reason.strip():
        errors["reason"] = ["a reason is required"]
    if until <= timezone.now():
        errors["until"] = ["must be in the future"]
    if errors:
        raise ValidationFailed(errors=errors)
    delay = DisclosureDelay.objects.create(
        person=person, agency=agency, until=until, reason=reason.strip(), set_by=actor
    )
    audit.record(
        actor=actor,
        action="disclosure.delay",
        target=delay,
        agency=agency.code,
        data={"person": person.pk, "until": until.isoformat(), "reason": reason.strip()},
    )
    return delay


# --- right to be forgotten and webhooks (GovStack Consent API) ---------------------------


@transaction.atomic
def consent_forget(*, actor: User, person: Person) -> list[str]:
    """Delete the person's consent records that need not be kept: refused or withdrawn
    answers to agreements whose version says so (``forgettable``). Given consents and
    answers to other agreements stay. The audit trail keeps that they were deleted."""
    records = (
        ConsentRecord.objects.select_for_update()
        .filter(person=person)
        .exclude(state=ConsentState.GIVEN)
        .select_related("agreement__consumer", "agreement_version")
    )
    forgotten: list[str] = []
    for record in records:
        if not record.agreement_version.forgettable:
            continue
        _check_actor_for_person(actor=actor, person=person, agreement=record.agreement)
        record_id = str(record.pk)
        audit.record(
            actor=actor,
            action="consent.forget",
            subject_person=person.pk,
            target=f"consent.consentrecord:{record_id}",
            agency=record.agreement.consumer.code,
            data={"agreement": record.agreement.code, "head_hash": record.head_hash},
        )
        record.revisions.all().delete()
        record.delete()
        forgotten.append(record_id)
    return forgotten


WEBHOOK_EVENTS = (*notify.EVENT_FOR_STATE.values(), "agreement.revised")
WEBHOOK_CONTENT_TYPES = ("application/json",)


def _webhook_terms(payload_url: str, content_type: str, events: Iterable[str]) -> list[str]:
    errors: dict[str, list[str]] = {}
    if not payload_url.startswith("https://"):
        errors["payloadUrl"] = ["must be an https:// URL"]
    if content_type not in WEBHOOK_CONTENT_TYPES:
        errors["contentType"] = [f"one of {list(WEBHOOK_CONTENT_TYPES)}"]
    names = sorted(set(events)) or list(WEBHOOK_EVENTS)
    unknown = [n for n in names if n not in WEBHOOK_EVENTS]
    if unknown:
        errors["events"] = [f"unknown {unknown}; one of {list(WEBHOOK_EVENTS)}"]
    if errors:
        raise ValidationFailed(errors=errors)
    return names


@transaction.atomic
def webhook_create(
    *,
    actor: User,
    agency: Agency,
    payload_url: str,
    content_type: str = "application/json",
    events: Iterable[str] = (),
    disabled: bool = False,
) -> ConsentWebhook:
    """Subscribe a third party of ``agency`` to consent events; the secret is new and
    returned on the object once (it is encrypted at rest)."""
    policy.authorize(actor, "event.subscribe", agency)
    names = _webhook_terms(payload_url, content_type, events)
    hook = ConsentWebhook.objects.create(
        agency=agency,
        payload_url=payload_url,
        content_type=content_type,
        events=names,
        disabled=disabled,
        secret=secrets.token_urlsafe(32),
        created_by=actor,
    )
    audit.record(
        actor=actor,
        action="webhook.create",
        target=hook,
        agency=agency.code,
        data={"url": payload_url, "events": names},
    )
    return hook


@transaction.atomic
def webhook_update(
    *,
    actor: User,
    hook: ConsentWebhook,
    payload_url: str,
    content_type: str,
    events: Iterable[str],
    disabled: bool,
) -> ConsentWebhook:
    policy.authorize(actor, "event.subscribe", hook.agency)
    hook.events = _webhook_terms(payload_url, content_type, events)
    hook.payload_url, hook.content_type, hook.disabled = payload_url, content_type, disabled
    hook.updated_at = timezone.now()
    hook.save()
    audit.record(
        actor=actor,
        action="webhook.update",
        target=hook,
        agency=hook.agency.code,
        data={"url": payload_url, "events": hook.events, "disabled": disabled},
    )
    return hook


@transaction.atomic
def webhook_delete(*, actor: User, hook: ConsentWebhook) -> None:
    policy.authorize(actor, "event.subscribe", hook.agency)
    audit.record(
        actor=actor,
        action="webhook.delete",
        target=hook,
        agency=hook.agency.code,
        data={"url": hook.payload_url},
    )
    hook.delete()


def consent_answer_check(*, actor: User, person: Person, agreement: DataAgreement) -> None:
    """Raise unless ``actor`` may answer for ``person`` on ``agreement`` (nothing written)."""
    _check_actor_for_person(actor=actor, person=person, agreement=agreement)


def consent_answer(
    *,
    actor: User,
    person: Person,
    agreement: DataAgreement,
    opt_in: bool,
    channel: ConsentChannel | str = ConsentChannel.GOVSTACK,
) -> ConsentRecord:
    """A yes/no answer (GovStack `optIn`): yes gives consent; no withdraws a given consent
    and otherwise refuses."""
    state = ConsentState.GIVEN
    if not opt_in:
        current = ConsentRecord.objects.filter(person=person, agreement=agreement).first()
        given = current is not None and current.state == ConsentState.GIVEN
        state = ConsentState.WITHDRAWN if given else ConsentState.REFUSED
    return consent_set(
        actor=actor, person=person, agreement=agreement, state=state, channel=channel
    )
