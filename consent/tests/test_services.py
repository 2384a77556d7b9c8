"""Data agreements and consent (issue 5, points 1 and 2)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent import selectors, services
from consent.choices import ConsentChannel, LawfulBasis
from consent.errors import (
    AgreementExists,
    AgreementNotFound,
    AgreementNotInForce,
    ConsentNotApplicable,
    ConsentUnchanged,
    PersonNotLinked,
    UnknownPurpose,
)
from consent.models import ConsentRevision
from consent.tests.factories import agreement, linked_citizen, purpose
from core import signing
from core.errors import PermissionDenied, ValidationFailed
from core.models import AuditEntry
from identity.choices import Role
from identity.tests.factories import AgencyFactory, CitizenFactory, staff, verified

pytestmark = pytest.mark.django_db


def test_an_agreement_version_is_sealed_and_signed_by_the_platform():
    # when an agreement is created
    version = agreement()
    # then its terms are frozen as canonical JSON, hashed and signed
    assert version.version == 1
    assert version.attributes == ["employment_status", "income_band"]
    assert '"lawful_basis":"consent"' in version.snapshot
    assert (
        signing.seal_intact(
            version.snapshot,
            hash=version.snapshot_hash,
            key_id=version.key_id,
            signature=version.signature,
        )
        == ""
    )
    # and editing the stored terms is detectable
    tampered = version.snapshot.replace("income_band", "health_record")
    assert signing.seal_intact(
        tampered, hash=version.snapshot_hash, key_id=version.key_id, signature=version.signature
    )


def test_agreements_need_a_registered_purpose_and_sane_terms():
    purpose("known-purpose")
    with pytest.raises(UnknownPurpose):
        services.agreement_create(
            actor=_system(),
            code="a1",
            provider=AgencyFactory(code="revenue"),
            consumer=AgencyFactory(code="health"),
            purpose="no-such-purpose-registered-here",
            purpose_text="why",
            attributes=["income_band"],
            lawful_basis=LawfulBasis.CONSENT,
            retention_days=30,
        )
    with pytest.raises(ValidationFailed) as bad:
        agreement(code="a2", attributes=(), lawful_basis="because")
    assert set(bad.value.errors) == {"attributes", "lawful_basis"}
    agreement(code="a3")
    with pytest.raises(AgreementExists):
        agreement(code="a3")


def test_only_the_providers_agency_admin_makes_agreements():
    revenue = AgencyFactory(code="revenue")
    purpose()
    admin = verified(staff(Role.AGENCY_ADMIN, revenue))
    other_admin = verified(staff(Role.AGENCY_ADMIN, AgencyFactory(code="health")))
    terms = {
        "code": "x",
        "provider": revenue,
        "consumer": AgencyFactory(code="social-services"),
        "purpose": "child-benefit-eligibility",
        "purpose_text": "why",
        "attributes": ["income_band"],
        "lawful_basis": LawfulBasis.CONSENT,
        "retention_days": 30,
    }
    with pytest.raises(PermissionDenied):
        services.agreement_create(actor=other_admin, **terms)
    version = services.agreement_create(actor=admin, **terms)
    assert AuditEntry.objects.filter(action="agreement.create", agency="revenue").exists()
    assert version.agreement.provider == revenue


def test_a_revision_keeps_unchanged_terms_and_the_latest_in_force_wins():
    v1 = agreement()
    v2 = services.agreement_revise(actor=_system(), agreement=v1.agreement, retention_days=90)
    assert v2.version == 2 and v2.retention_days == 90
    assert v2.attributes == v1.attributes and v2.purpose == v1.purpose
    assert selectors.agreement_version_in_force(agreement=v1.agreement) == v2
    with pytest.raises(ValidationFailed):
        services.agreement_revise(actor=_system(), agreement=v1.agreement, provider="x")


def _system():
    from identity.services import system_actor

    return system_actor()


def test_a_citizen_gives_and_withdraws_consent_and_each_change_is_chained():
    # given an agreement resting on consent and a citizen linked to a person
    version = agreement()
    user, person = linked_citizen()
    # when the citizen gives, then withdraws, then gives again
    services.consent_give(actor=user, person=person, agreement=version.agreement)
    assert selectors.consent_covers(person_id=person.pk, version=version)
    services.consent_withdraw(actor=user, person=person, agreement=version.agreement)
    # then the withdrawal counts at once
    assert not selectors.consent_covers(person_id=person.pk, version=version)
    record = services.consent_give(actor=user, person=person, agreement=version.agreement)
    # and the history is a verified chain of three signed revisions
    revisions = list(selectors.consent_revisions(record=record))
    assert [r.state for r in revisions] == ["given", "withdrawn", "given"]
    assert revisions[1].prev_hash == revisions[0].hash
    assert selectors.consent_chain_verify(record=record).ok
    # and each change is in the audit trail, visible to the person
    actions = list(
        AuditEntry.objects.filter(subject_person=person.pk).values_list("action", flat=True)
    )
    assert actions.count("consent.given") == 2 and "consent.withdrawn" in actions


def test_a_tampered_or_truncated_consent_history_fails_verification():
    version = agreement()
    user, person = linked_citizen()
    services.consent_give(actor=user, person=person, agreement=version.agreement)
    record = services.consent_withdraw(actor=user, person=person, agreement=version.agreement)
    # an edited state is caught by the hash
    first = ConsentRevision.objects.get(record=record, revision=1)
    ConsentRevision.objects.filter(pk=first.pk).update(
        snapshot=first.snapshot.replace('"state":"given"', '"state":"refused"')
    )
    check = selectors.consent_chain_verify(record=record)
    assert not check.ok and "revision 1" in check.reason
    # a removed last revision is caught by the record's head
    ConsentRevision.objects.filter(pk=first.pk).update(snapshot=first.snapshot)
    ConsentRevision.objects.filter(record=record, revision=2).delete()
    assert "head" in selectors.consent_chain_verify(record=record).reason


def test_a_citizen_answers_only_for_themself_and_only_once_linked():
    version = agreement()
    _, person = linked_citizen("owner")
    stranger, _ = linked_citizen("stranger", given_name="Other")
    with pytest.raises(PermissionDenied):
        services.consent_give(actor=stranger, person=person, agreement=version.agreement)
    unlinked = CitizenFactory(username="unlinked")
    with pytest.raises(PersonNotLinked):
        services.consent_give(actor=unlinked, person=person, agreement=version.agreement)


def test_pointless_consent_changes_are_refused_with_a_reason():
    version = agreement()
    user, person = linked_citizen()
    with pytest.raises(ConsentUnchanged):
        services.consent_withdraw(actor=user, person=person, agreement=version.agreement)
    services.consent_give(actor=user, person=person, agreement=version.agreement)
    with pytest.raises(ConsentUnchanged):
        services.consent_give(actor=user, person=person, agreement=version.agreement)
    public_task = agreement(code="pt", lawful_basis=LawfulBasis.PUBLIC_TASK)
    with pytest.raises(ConsentNotApplicable):
        services.consent_give(actor=user, person=person, agreement=public_task.agreement)


def test_consent_to_an_older_version_stops_covering_when_attributes_are_added():
    version = agreement()
    user, person = linked_citizen()
    services.consent_give(actor=user, person=person, agreement=version.agreement)
    narrower = services.agreement_revise(
        actor=_system(), agreement=version.agreement, attributes=["income_band"]
    )
    assert selectors.consent_covers(person_id=person.pk, version=narrower)
    wider = services.agreement_revise(
        actor=_system(),
        agreement=version.agreement,
        attributes=["income_band", "employment_status", "bank_account"],
    )
    assert not selectors.consent_covers(person_id=person.pk, version=wider)


def test_the_agreement_for_a_request_names_its_reason_for_refusing():
    version = agreement(valid_until=timezone.now() + timedelta(days=30))
    provider, consumer = version.agreement.provider, version.agreement.consumer
    found = selectors.agreement_for_request(
        provider_id=provider.pk, consumer_id=consumer.pk, purpose="child-benefit-eligibility"
    )
    assert found == version
    with pytest.raises(UnknownPurpose):
        selectors.agreement_for_request(
            provider_id=provider.pk, consumer_id=consumer.pk, purpose="marketing"
        )
    purpose("fraud-investigation")
    with pytest.raises(AgreementNotFound):
        selectors.agreement_for_request(
            provider_id=provider.pk, consumer_id=consumer.pk, purpose="fraud-investigation"
        )
    with pytest.raises(AgreementNotInForce):
        selectors.agreement_for_request(
            provider_id=provider.pk,
            consumer_id=consumer.pk,
            purpose="child-benefit-eligibility",
            at=timezone.now() + timedelta(days=31),
        )


def test_a_consent_receipt_carries_the_27560_fields_and_the_signed_history():
    version = agreement()
    user, person = linked_citizen()
    record = services.consent_give(
        actor=user, person=person, agreement=version.agreement, channel=ConsentChannel.PORTAL
    )
    receipt = selectors.consent_receipt(viewer=user, record=record)
    for field in (
        "schema_version",
        "record_id",
        "pii_principal_id",
        "pii_controllers",
        "processing",
        "consent_status",
        "events",
    ):
        assert field in receipt
    assert receipt["pii_principal_id"] == person.pk
    assert receipt["processing"][0]["pii_categories"] == ["employment_status", "income_band"]
    event = receipt["events"][0]
    # the receipt verifies on its own, with the platform's public key
    assert (
        signing.seal_intact(
            event["snapshot"],
            hash=event["hash"],
            key_id=event["signature"]["key_id"],
            signature=event["signature"]["value"],
        )
        == ""
    )


def test_who_accessed_my_data_shows_others_reads_and_honours_a_disclosure_delay():
    from registry.selectors.persons import person_get

    # given a citizen whose record two agencies read
    user, person = linked_citizen()
    health = AgencyFactory(code="health")
    police = AgencyFactory(code="investigations")
    nurse = verified(staff(Role.CASEWORKER, health))
    investigator = verified(staff(Role.SUPERVISOR, police))
    person_get(viewer=nurse, person_id=person.pk, purpose="check a birth registration")
    person_get(viewer=investigator, person_id=person.pk, purpose="benefit fraud inquiry")
    # and the investigating agency delays disclosure of its reads
    services.disclosure_delay_set(
        actor=investigator,
        person=person,
        agency=police,
        until=timezone.now() + timedelta(days=90),
        reason="open inquiry 2026/17",
    )
    # when the citizen looks
    seen = selectors.access_log_for_person(viewer=user, person=person)
    # then they see the health read, with role and purpose, but not the delayed one
    agencies = [e.agency for e in seen]
    assert "health" in agencies and "investigations" not in agencies
    read = next(e for e in seen if e.agency == "health")
    assert read.purpose == "check a birth registration" and read.roles == ["caseworker"]
    # and an auditor sees both, with the delay
    auditor = verified(staff(Role.PLATFORM_ADMIN, health))
    full = selectors.access_log_for_person(viewer=auditor, person=person)
    delayed = [e for e in full if e.agency == "investigations"]
    assert delayed and all(e.delayed_until is not None for e in delayed)


def test_an_export_of_every_record_and_an_auditors_look_are_shown_to_the_person(tmp_path):
    from django.core.management import call_command

    # given a citizen, and links exported for every record afterwards
    user, person = linked_citizen()
    call_command("export_links", str(tmp_path / "links.csv"))
    # when an auditor looks at the person's access log
    auditor = verified(staff(Role.PLATFORM_ADMIN, AgencyFactory(code="audit-office")))
    selectors.access_log_for_person(viewer=auditor, person=person)
    # then the person sees both: the bulk export and the auditor's look
    seen = {e.action: e for e in selectors.access_log_for_person(viewer=user, person=person)}
    assert "linkage.export_links" in seen and "export" in seen["linkage.export_links"].attributes[0]
    assert seen["access_log.read"].purpose == "audit of accesses"
