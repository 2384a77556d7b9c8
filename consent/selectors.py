"""Reads of agreements, consent and the person's view of who accessed their data.

`agreement_for_request` and `consent_covers` are the checks the exchange makes on every
request; they are not cached, so a withdrawal counts from the very next request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy

from consent.choices import ConsentState
from consent.errors import (
    AgreementNotFound,
    AgreementNotInForce,
    ConsentNotFound,
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
from core.errors import PermissionDenied
from core.models import AuditEntry
from identity import policy
from identity.choices import Role
from identity.models import Agency, RoleAssignment, User
from registry.models import Person

RECEIPT_SCHEMA = "https://w3id.org/dpv/schema/iso-27560#receipt-full"


def purpose_get(*, code: str) -> Purpose:
    purpose = Purpose.objects.filter(code=code).first()
    if purpose is None:
        raise UnknownPurpose(f"{code!r} is not a registered purpose.", purpose=code)
    return purpose


def purpose_list() -> QuerySet[Purpose]:
    return Purpose.objects.all()


def agreement_list(*, viewer: User, agency: Agency | None = None) -> QuerySet[DataAgreement]:
    policy.authorize(viewer, "agreement.view")
    agreements = DataAgreement.objects.select_related("provider", "consumer")
    if agency is not None:
        agreements = agreements.filter(Q(provider=agency) | Q(consumer=agency))
    return agreements


def agreement_get(*, viewer: User, agreement_id: Any) -> DataAgreement:
    policy.authorize(viewer, "agreement.view")
    found = (
        DataAgreement.objects.select_related("provider", "consumer")
        .filter(Q(code=str(agreement_id)) | Q(pk=_as_uuid(agreement_id)))
        .first()
    )
    if found is None:
        raise AgreementNotFound(f"No data agreement {agreement_id!r}.")
    return found


def _as_uuid(value: Any) -> Any:
    import uuid

    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def agreement_versions(*, agreement: DataAgreement) -> QuerySet[DataAgreementVersion]:
    return agreement.versions.select_related("purpose").order_by("-version")


def agreement_version_in_force(
    *, agreement: DataAgreement, at: datetime | None = None
) -> DataAgreementVersion:
    """The latest version whose validity has begun; refused when it has ended."""
    moment = at or timezone.now()
    version = (
        DataAgreementVersion.objects.select_related("purpose", "agreement")
        .filter(agreement=agreement, valid_from__lte=moment)
        .order_by("-version")
        .first()
    )
    if version is None:
        raise AgreementNotInForce(
            f"{agreement.code} is not in force yet.", agreement=agreement.code
        )
    if version.valid_until is not None and version.valid_until <= moment:
        raise AgreementNotInForce(
            f"{agreement.code} expired on {version.valid_until:%Y-%m-%d}.",
            agreement=agreement.code,
        )
    return version


def agreement_versions_in_force(
    *, agreement_ids: Iterable[Any], at: datetime | None = None
) -> dict[Any, DataAgreementVersion | AgreementNotInForce]:
    """`agreement_version_in_force` of several agreements in one read (a batch of event
    deliveries): each agreement's version in force, or the refusal saying why there is none."""
    moment = at or timezone.now()
    wanted = set(agreement_ids)
    found: dict[Any, DataAgreementVersion | AgreementNotInForce] = {}
    if not wanted:
        return found
    versions = (
        DataAgreementVersion.objects.select_related("purpose", "agreement")
        .defer("snapshot", "dpia", "purpose_text")
        .filter(agreement_id__in=wanted, valid_from__lte=moment)
        .order_by("agreement_id", "-version")
    )
    for version in versions:
        if version.agreement_id in found:
            continue
        if version.valid_until is not None and version.valid_until <= moment:
            found[version.agreement_id] = AgreementNotInForce(
                f"{version.agreement.code} expired on {version.valid_until:%Y-%m-%d}.",
                agreement=version.agreement.code,
            )
        else:
            found[version.agreement_id] = version
    for pk, code in DataAgreement.objects.filter(pk__in=wanted - set(found)).values_list(
        "pk", "code"
    ):
        found[pk] = AgreementNotInForce(f"{code} is not in force yet.", agreement=code)
    return found


def consents_covering(*, pairs: Iterable[tuple[str, DataAgreementVersion]]) -> set[tuple[str, Any]]:
    """The (person id, agreement id) of ``pairs`` whose consent covers the version, by the
    rule of `consent_covers`, read in one query (a batch of event deliveries)."""
    wanted = {(person_id, version.agreement_id): version for person_id, version in pairs}
    if not wanted:
        return set()
    records = (
        ConsentRecord.objects.filter(
            person_id__in={p for p, _ in wanted},
            agreement_id__in={a for _, a in wanted},
            state=ConsentState.GIVEN,
        )
        .select_related("agreement_version")
        .only(
            "person",
            "agreement",
            "state",
            "agreement_version__purpose_id",
            "agreement_version__attributes",
        )
    )
    covered: set[tuple[str, Any]] = set()
    for record in records:
        key = (record.person_id, record.agreement_id)
        version = wanted.get(key)
        if version is None:
            continue
        given_to = record.agreement_version
        if given_to.pk == version.pk or (
            given_to.purpose_id == version.purpose_id
            and set(version.attributes) <= set(given_to.attributes)
        ):
            covered.add(key)
    return covered


def agreement_for_request(
    *, provider_id: int, consumer_id: int, purpose: str, at: datetime | None = None
) -> DataAgreementVersion:
    """The agreement version in force between the two agencies for ``purpose``.

    Unknown purposes, no agreement for the purpose, or only expired ones: refused, each
    with its own reason."""
    moment = at or timezone.now()
    purpose_obj = purpose_get(code=purpose)
    candidates = (
        DataAgreementVersion.objects.select_related("purpose", "agreement")
        .filter(
            agreement__provider_id=provider_id,
            agreement__consumer_id=consumer_id,
            valid_from__lte=moment,
        )
        .order_by("agreement_id", "-version")
    )
    latest: dict[Any, DataAgreementVersion] = {}
    for version in candidates:
        latest.setdefault(version.agreement_id, version)
    for_purpose = [v for v in latest.values() if v.purpose_id == purpose_obj.pk]
    if not for_purpose:
        raise AgreementNotFound(
            f"No data agreement lets this consumer use this provider's data for {purpose!r}.",
            purpose=purpose,
        )
    in_force = [v for v in for_purpose if v.valid_until is None or moment < v.valid_until]
    if not in_force:
        raise AgreementNotInForce(
            f"The data agreement for {purpose!r} has expired.",
            agreement=for_purpose[0].agreement.code,
        )
    return in_force[0]


def consent_covers(*, person_id: str, version: DataAgreementVersion) -> bool:
    """Whether the person's consent covers this agreement version.

    A consent counts while it is given, to this version or to an earlier one with the
    same purpose and every attribute now shared (a revision that adds an attribute or
    changes the purpose needs consent anew)."""
    record = (
        ConsentRecord.objects.filter(person_id=person_id, agreement_id=version.agreement_id)
        .select_related("agreement_version")
        .only("state", "agreement_version__purpose_id", "agreement_version__attributes")
        .first()
    )
    if record is None or record.state != ConsentState.GIVEN:
        return False
    given_to = record.agreement_version
    if given_to.pk == version.pk:
        return True
    return given_to.purpose_id == version.purpose_id and set(version.attributes) <= set(
        given_to.attributes
    )


def consent_list_for_person(*, viewer: User, person: Person) -> QuerySet[ConsentRecord]:
    _check_person_reader(viewer=viewer, person=person)
    return ConsentRecord.objects.filter(person=person).select_related(
        "agreement__provider", "agreement__consumer", "agreement_version__purpose"
    )


def _check_person_reader(*, viewer: User, person: Person) -> None:
    policy.authorize(viewer, "consent.view")
    if viewer.is_citizen:
        from registry.services.citizens import citizen_person

        own = citizen_person(user=viewer)
        if own is None:
            raise PersonNotLinked("Verify your identity first: your account has no person yet.")
        if own.pk != person.pk:
            raise PermissionDenied("A citizen sees their own consents only.")


def consent_get(*, viewer: User, record_id: Any) -> ConsentRecord:
    record = (
        ConsentRecord.objects.select_related(
            "agreement__provider", "agreement__consumer", "agreement_version__purpose", "person"
        )
        .filter(pk=_as_uuid(record_id))
        .first()
    )
    if record is None:
        raise ConsentNotFound()
    if viewer.is_citizen:
        _check_person_reader(viewer=viewer, person=record.person)
    else:
        policy.authorize(viewer, "consent.view", record)
    return record


def consent_revisions(*, record: ConsentRecord) -> QuerySet[ConsentRevision]:
    return record.revisions.select_related("agreement_version__purpose").order_by("revision")


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    checked: int
    reason: str = ""


def consent_chain_verify(*, record: ConsentRecord) -> ChainCheck:
    """Recompute the record's revision chain: hashes, links, signatures, head."""
    prev = GENESIS_HASH
    checked = 0
    for revision in consent_revisions(record=record):
        if revision.prev_hash != prev:
            return ChainCheck(False, checked, f"revision {revision.revision}: chain broken")
        if f'"prev_hash":"{prev}"' not in revision.snapshot:
            return ChainCheck(False, checked, f"revision {revision.revision}: snapshot altered")
        reason = signing.seal_intact(
            revision.snapshot,
            hash=revision.hash,
            key_id=revision.key_id,
            signature=revision.signature,
        )
        if reason:
            return ChainCheck(False, checked, f"revision {revision.revision}: {reason}")
        prev = revision.hash
        checked += 1
    if prev != record.head_hash:
        return ChainCheck(False, checked, "the record's head is not its last revision")
    return ChainCheck(True, checked)


def consent_receipt(*, viewer: User, record: ConsentRecord) -> dict[str, Any]:
    """A consent receipt: the ISO/IEC TS 27560 fields (as DPV's profile names them), the
    full signed history, and the platform's signature of the latest revision."""
    if viewer.is_citizen:
        _check_person_reader(viewer=viewer, person=record.person)
    else:
        policy.authorize(viewer, "consent.view", record)
    version = record.agreement_version
    agreement = record.agreement
    revisions = list(consent_revisions(record=record))
    latest = revisions[-1]
    audit.record(
        actor=viewer,
        action="consent.receipt",
        subject_person=record.person_id,
        target=record,
        data={"agreement": agreement.code},
    )
    return {
        "schema_version": RECEIPT_SCHEMA,
        "receipt_id": f"{record.pk}#{latest.revision}",
        "record_id": str(record.pk),
        "receipt_time": timezone.now().isoformat(),
        "language": "en",
        "pii_principal_id": record.person_id,
        "pii_controllers": [
            {"name": agreement.provider.name, "id": agreement.provider.code, "role": "provider"},
            {"name": agreement.consumer.name, "id": agreement.consumer.code, "role": "recipient"},
        ],
        "notice": {
            "agreement_id": str(agreement.pk),
            "agreement_code": agreement.code,
            "agreement_version": version.version,
            "agreement_hash": version.snapshot_hash,
            "policy_url": version.policy_url,
        },
        "processing": [
            {
                "purpose": version.purpose.code,
                "purpose_description": version.purpose_text,
                "lawful_basis": version.lawful_basis,
                "pii_categories": list(version.attributes),
                "recipients": [agreement.consumer.code],
                "storage_duration_days": version.retention_days,
            }
        ],
        "consent_status": record.state,
        "consent_type": "explicit",
        "events": [
            {
                "event_time": r.created_at.isoformat(),
                "event_type": r.state,
                "event_by": "pii_principal" if r.channel != "staff" else r.actor_label,
                "channel": r.channel,
                "revision": r.revision,
                "hash": r.hash,
                "prev_hash": r.prev_hash,
                "snapshot": r.snapshot,
                "signature": {
                    "algorithm": signing.ALGORITHM,
                    "key_id": r.key_id,
                    "value": r.signature,
                },
            }
            for r in revisions
        ],
        "signature": {
            "algorithm": signing.ALGORITHM,
            "key_id": latest.key_id,
            "signed": "sha256 of events[-1].snapshot",
            "value": latest.signature,
        },
    }


# --- who accessed my data ----------------------------------------------------------------

# Audit actions that read a person's data, and which attributes they show.
READ_ACTIONS: dict[str, Any] = {
    "person.read": gettext_lazy("golden record and linked records"),
    "person.history_read": gettext_lazy("history of the person's records"),
    "person.search": gettext_lazy("search result (name, date of birth)"),
    "source_record.read": gettext_lazy("an agency's record"),
    "message_log.read": gettext_lazy("a logged exchange"),
    "access_log.read": gettext_lazy("who accessed your data"),
    "exchange.request": "",  # the attributes are in the entry
    "consent.receipt": gettext_lazy("consent receipt"),
}


# Audit actions that read every person's data at once (no subject of their own): each
# person sees them too.
BULK_READS: dict[str, Any] = {
    "linkage.export_links": gettext_lazy(
        "in an export of every record's person id (agency, record id)"
    ),
}


@dataclass(frozen=True)
class AccessEntry:
    at: datetime
    agency: str
    actor: str
    roles: list[str]
    action: str
    purpose: str
    attributes: list[str]
    delayed_until: datetime | None


def _roles_by_actor(actor_ids: set[int]) -> dict[tuple[int, str], list[str]]:
    rows = RoleAssignment.objects.filter(user_id__in=actor_ids).values_list(
        "user_id", "agency__code", "role"
    )
    found: dict[tuple[int, str], list[str]] = {}
    for user_id, agency, role in rows:
        found.setdefault((user_id, agency or ""), []).append(role)
    return found


def access_log_for_person(*, viewer: User, person: Person, limit: int = 500) -> list[AccessEntry]:
    """Every recorded access to the person's data by someone else, newest first.

    A citizen sees their own, without the reads an investigating agency has delayed
    (until the delay ends); auditors (`audit.view`) see everything and the delays."""
    as_subject = viewer.is_citizen
    if as_subject:
        policy.authorize(viewer, "access_log.view_own")
        from registry.services.citizens import citizen_person

        own = citizen_person(user=viewer)
        if own is None or own.pk != person.pk:
            raise PermissionDenied("A citizen sees who accessed their own data only.")
    else:
        policy.authorize(viewer, "audit.view")
        audit.record(
            actor=viewer,
            action="access_log.read",
            subject_person=person.pk,
            target=person,
            purpose="audit of accesses",
        )
    # reads of one person, and bulk reads of everyone since the person was indexed
    entries = AuditEntry.objects.filter(
        Q(subject_person=person.pk) | Q(action__in=BULK_READS, created_at__gte=person.created_at)
    ).order_by("-seq")
    if as_subject:
        entries = entries.exclude(actor_id=viewer.pk)
    now = timezone.now()
    delays = {
        d.agency.code: d.until
        for d in DisclosureDelay.objects.filter(person=person, until__gt=now).select_related(
            "agency"
        )
    }
    rows = list(entries[: limit * 2])
    roles = _roles_by_actor({e.actor_id for e in rows if e.actor_id is not None})
    result: list[AccessEntry] = []
    for entry in rows:
        delayed = delays.get(entry.agency)
        if as_subject and delayed is not None:
            continue
        data = entry.data or {}
        attributes = data.get("attributes")
        if not isinstance(attributes, list):
            label = READ_ACTIONS.get(entry.action, "") or BULK_READS.get(entry.action, "")
            attributes = [label] if label else []
        result.append(
            AccessEntry(
                at=entry.created_at,
                agency=entry.agency,
                actor=entry.actor,
                roles=roles.get((entry.actor_id or 0, entry.agency), []),
                action=entry.action,
                purpose=entry.purpose,
                attributes=[str(a) for a in attributes],
                delayed_until=delayed,
            )
        )
        if len(result) >= limit:
            break
    return result


# --- listings for the APIs (GovStack verification and audit, staff views) -----------------

CONSENT_READERS = (Role.AGENCY_ADMIN, Role.CASEWORKER, Role.SUPERVISOR)


def _visible_agreements(viewer: User, permission: str) -> Q | None:
    """None when the viewer sees every agreement's consents, else the narrowing filter."""
    if policy.is_platform_admin(viewer):
        return None
    roles = CONSENT_READERS if permission == "consent.view" else (Role.AGENCY_ADMIN,)
    agencies = policy.agencies_where(viewer, *roles)
    return Q(agreement__provider_id__in=agencies) | Q(agreement__consumer_id__in=agencies)


def _authorize_for_agreement(viewer: User, permission: str, agreement: DataAgreement) -> None:
    if permission == "consent.view":
        policy.authorize(viewer, permission, agreement)
    elif not policy.can(viewer, permission, agreement.consumer):
        policy.authorize(viewer, permission, agreement.provider)


def consent_page(
    *,
    viewer: User,
    person: Person | None = None,
    agreement: DataAgreement | None = None,
    opt_in: bool | None = None,
    offset: int = 0,
    limit: int = 50,
    permission: str = "consent.view",
    action: str = "consent.read",
) -> tuple[int, list[ConsentRecord]]:
    """One page of consent records the viewer may see, newest first, and the total.

    A citizen sees their own only. Staff see those of their agencies' agreements
    (``consent.view``), auditors those of their agencies (``audit.view``); every record
    a staff member reads is in the audit trail, so the person sees who checked."""
    records = ConsentRecord.objects.select_related(
        "agreement__provider", "agreement__consumer", "agreement_version__purpose"
    )
    if viewer.is_citizen:
        policy.authorize(viewer, "consent.view")
        from registry.services.citizens import citizen_person

        own = citizen_person(user=viewer)
        if own is None:
            raise PersonNotLinked("Verify your identity first: your account has no person yet.")
        if person is not None and person.pk != own.pk:
            raise PermissionDenied("A citizen sees their own consents only.")
        records = records.filter(person=own)
    else:
        policy.authorize(viewer, permission, policy.ANY_OBJECT)
        if agreement is not None:
            _authorize_for_agreement(viewer, permission, agreement)
        narrowing = _visible_agreements(viewer, permission)
        if narrowing is not None:
            records = records.filter(narrowing)
        if person is not None:
            records = records.filter(person=person)
    if agreement is not None:
        records = records.filter(agreement=agreement)
    if opt_in is not None:
        given = Q(state=ConsentState.GIVEN)
        records = records.filter(given if opt_in else ~given)
    records = records.order_by("-updated_at", "pk")
    total = records.count()
    page = list(records[offset : offset + limit])
    if not viewer.is_citizen:
        for record in page:
            audit.record(
                actor=viewer,
                action=action,
                subject_person=record.person_id,
                target=record,
                data={"agreement": record.agreement.code, "state": record.state},
            )
    return total, page


def consent_read(
    *, viewer: User, record_id: Any, permission: str = "consent.view", action: str = "consent.read"
) -> ConsentRecord:
    """One consent record, authorised as `consent_get` (or for auditors), and recorded."""
    if permission == "consent.view":
        record = consent_get(viewer=viewer, record_id=record_id)
    else:
        found = (
            ConsentRecord.objects.select_related(
                "agreement__provider", "agreement__consumer", "agreement_version__purpose"
            )
            .filter(pk=_as_uuid(record_id))
            .first()
        )
        if found is None:
            raise ConsentNotFound()
        _authorize_for_agreement(viewer, permission, found.agreement)
        record = found
    if not viewer.is_citizen:
        audit.record(
            actor=viewer,
            action=action,
            subject_person=record.person_id,
            target=record,
            data={"agreement": record.agreement.code, "state": record.state},
        )
    return record


def consent_for_person(*, viewer: User, person: Person, agreement: DataAgreement) -> ConsentRecord:
    """The person's record for the agreement (there is at most one)."""
    _total, page = consent_page(viewer=viewer, person=person, agreement=agreement, limit=1)
    if not page:
        raise ConsentNotFound(f"No consent record of {person.pk} for {agreement.code}.")
    return page[0]


def consent_valid(
    *, record: ConsentRecord, in_force: DataAgreementVersion | None = None
) -> tuple[bool, str]:
    """Whether the record lets data move now, and why not: the check the exchange makes.

    ``in_force`` is the agreement's version in force when the caller has it already."""
    if record.state != ConsentState.GIVEN:
        return False, f"consent {record.state}"
    version = in_force
    if version is None:
        try:
            version = agreement_version_in_force(agreement=record.agreement)
        except AgreementNotInForce as exc:
            return False, exc.detail
    if not consent_covers(person_id=record.person_id, version=version):
        return False, f"version {version.version} of the agreement needs consent anew"
    return True, ""


def agreement_seal_check(*, version: DataAgreementVersion) -> str:
    """Empty when the version's sealed terms are intact, else why not."""
    return signing.seal_intact(
        version.snapshot,
        hash=version.snapshot_hash,
        key_id=version.key_id,
        signature=version.signature,
    )


def webhooks_for_event(*, agreement: DataAgreement, event: str) -> list[ConsentWebhook]:
    """The enabled webhooks to tell of ``event`` about ``agreement``: those of its two
    parties (the consumer and the provider) that subscribe to the event. Unauthorised:
    for the outbox, which delivers what consent records."""
    hooks = ConsentWebhook.objects.filter(
        agency_id__in={agreement.consumer_id, agreement.provider_id}, disabled=False
    ).select_related("agency")
    return [hook for hook in hooks if event in (hook.events or [])]


def webhook_list(*, viewer: User) -> QuerySet[ConsentWebhook]:
    policy.authorize(viewer, "event.subscribe", policy.ANY_OBJECT)
    hooks = ConsentWebhook.objects.select_related("agency")
    if not policy.is_platform_admin(viewer):
        hooks = hooks.filter(agency_id__in=policy.agencies_where(viewer, Role.AGENCY_ADMIN))
    return hooks


def webhook_get(*, viewer: User, webhook_id: Any) -> ConsentWebhook:
    from core.errors import NotFound

    hook = ConsentWebhook.objects.select_related("agency").filter(pk=_as_uuid(webhook_id)).first()
    if hook is None or not policy.can(viewer, "event.subscribe", hook.agency):
        raise NotFound(f"No webhook {webhook_id}.")
    return hook


def consent_individual_ids(*, viewer: User, offset: int, limit: int) -> tuple[int, list[str]]:
    """The ids of persons with consent records the viewer may see (a citizen: their own)."""
    if viewer.is_citizen:
        policy.authorize(viewer, "consent.view")
        from registry.services.citizens import citizen_person

        own = citizen_person(user=viewer)
        return (1, [own.pk]) if own is not None and offset == 0 else (int(own is not None), [])
    policy.authorize(viewer, "consent.view", policy.ANY_OBJECT)
    records = ConsentRecord.objects.all()
    narrowing = _visible_agreements(viewer, "consent.view")
    if narrowing is not None:
        records = records.filter(narrowing)
    ids = records.values_list("person_id", flat=True).distinct().order_by("person_id")
    return ids.count(), list(ids[offset : offset + limit])
