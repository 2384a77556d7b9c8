"""Citizens who sign up are matched against the master person index at once.

An account's details (names, date of birth when given, e-mail, national ID) become a
source record of the platform's own source, the "citizen portal" agency, with the
account's id as its record id. That record is matched in real time like any agency's
record: it joins the citizen's person when the evidence is strong (a national ID that
agrees is), becomes a new person otherwise, and goes to clerical review in between.
From then on the citizen's person is that record's person (`citizen_person`).
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone

from core import audit
from identity import services as identity_services
from identity.models import Agency, User
from registry.linkage.realtime import RealtimeMatch, record_match_realtime
from registry.models import MembershipEvent, MembershipReason, Person, SourceRecord
from registry.services.feeds import source_record_standardise
from registry.services.linkage import linkage_model_active
from registry.services.persons import person_golden_refresh

PORTAL_AGENCY_CODE = "citizen-portal"
PORTAL_AGENCY_NAME = "Citizen portal (self-registered)"


def _portal_agency() -> Agency:
    agency = Agency.objects.filter(code=PORTAL_AGENCY_CODE).first()
    if agency is None:
        agency = identity_services.agency_create(
            actor=identity_services.system_actor(), code=PORTAL_AGENCY_CODE, name=PORTAL_AGENCY_NAME
        )
    return agency


_RECORD_PREFIX = "user-"


def citizen_record_id(user_id: int) -> str:
    """The portal's record id for a citizen's account: the one place its form is made."""
    return f"{_RECORD_PREFIX}{user_id}"


def citizen_account_ids(person_id: str) -> list[int]:
    """The accounts whose own portal record is linked to the person."""
    ids = SourceRecord.objects.filter(
        agency__code=PORTAL_AGENCY_CODE, person_id=person_id
    ).values_list("agency_record_id", flat=True)
    prefix = _RECORD_PREFIX
    return [
        int(v.removeprefix(prefix))
        for v in ids
        if v.startswith(prefix) and v[len(prefix) :].isdigit()
    ]


def _record_id(user: User) -> str:
    return citizen_record_id(user.pk)


@transaction.atomic
def citizen_record_register(
    *, user: User, date_of_birth: date | None = None
) -> tuple[SourceRecord, RealtimeMatch | None]:
    """Make (or refresh) the citizen's own source record and match it at once.

    Called when a citizen signs up or changes their details. Returns the record and the
    match (None when no linkage model is trained yet: the next link run links it).
    """
    record, _ = SourceRecord.objects.update_or_create(
        agency=_portal_agency(),
        agency_record_id=_record_id(user),
        defaults={
            "given_name": user.first_name,
            "family_name": user.last_name,
            "date_of_birth": date_of_birth,
            "email": user.email,
            "national_id": user.national_id,
        },
    )
    source_record_standardise(record)
    record.save()
    audit.record(
        actor=user,
        action="citizen.record_register",
        target=record,
        subject_person=record.person_id,
        data={
            "national_id_given": bool(user.national_id),
            "date_of_birth_given": bool(date_of_birth),
        },
    )
    if record.person_id or linkage_model_active() is None:
        return record, None
    # The match is the platform's decision, made for the citizen: the system account acts.
    match = record_match_realtime(record=record, actor=identity_services.system_actor())
    return record, match


@transaction.atomic
def citizen_record_verify(*, user: User, person: Person, date_of_birth: date) -> SourceRecord:
    """Link the citizen's own record to `person`, whose identity the citizen proved.

    Called once an identity check found an agency record of `person` with the citizen's
    national ID and date of birth: that evidence is stronger than a probabilistic match, so
    the record joins the person directly (a membership event, reason "realtime", says why)
    instead of waiting for review. The person's golden record is refreshed after commit.
    """
    record, _ = SourceRecord.objects.update_or_create(
        agency=_portal_agency(),
        agency_record_id=_record_id(user),
        defaults={
            "given_name": user.first_name,
            "family_name": user.last_name,
            "date_of_birth": date_of_birth,
            "email": user.email,
            "national_id": user.national_id,
        },
    )
    source_record_standardise(record)
    previous = record.person_id
    record.person = person
    record.save()
    if previous != person.pk:
        MembershipEvent.objects.create(
            record=record,
            from_person_id=previous,
            to_person=person,
            reason=MembershipReason.REALTIME,
            actor=user,
            note="identity verified: national ID and date of birth agree with an agency record",
        )
        if previous and not SourceRecord.objects.filter(person_id=previous).exists():
            # the record was its old person's last: that person leaves the index
            Person.objects.filter(pk=previous).update(retired_at=timezone.now(), merged_into=person)
    audit.record(
        actor=user,
        action="citizen.identity_verified",
        target=record,
        subject_person=person.pk,
        data={"previous_person": previous},
    )
    concerned = [pid for pid in (person.pk, previous) if pid]
    transaction.on_commit(lambda: person_golden_refresh(person_ids=concerned))
    return record


def citizen_person(*, user: User) -> Person | None:
    """The master person a citizen account is linked to, if any (following merges)."""
    record = (
        SourceRecord.objects.filter(
            agency__code=PORTAL_AGENCY_CODE, agency_record_id=_record_id(user)
        )
        .select_related("person")
        .first()
    )
    person = record.person if record else None
    seen = set()
    while person is not None and person.merged_into_id and person.pk not in seen:
        seen.add(person.pk)
        person = person.merged_into
    return person
