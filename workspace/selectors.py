"""The 360° view: one person across agencies, as far as the viewer's role and the person's
consent allow.

What a member of staff sees of a person, in one place:

- the golden record and the linked source records their role may read (the registry's
  `person_get`: other agencies' records are counted, not shown);
- the person's cases in the agencies the viewer works for;
- the consents the person gave to agreements the viewer's agency is party to;
- the person's changes of circumstances, for staff who operate events;
- what other agencies may share with the viewer's agency about the person: every data
  service under an agreement in force, with whether the person's consent covers it. The data
  itself is fetched only on request, through the mediated exchange (`services.py`), so it is
  checked, signed and logged like any exchange.

Every part read is recorded in the audit trail under the person, with the viewer's purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from cases import selectors as case_selectors
from cases.models import Case
from consent.choices import LawfulBasis
from consent.models import ConsentRecord, DataAgreementVersion
from consent.selectors import consent_covers
from core import audit
from exchange.events.selectors import HistoryEntry, event_history_for_person
from exchange.models import DataService
from identity import policy
from identity.models import Agency, User
from registry.selectors.persons import PersonView, person_get
from registry.services.citizens import citizen_account_ids


@dataclass(frozen=True)
class SharedSource:
    """A data service another agency may answer for the viewer's agency about the person."""

    service: DataService
    version: DataAgreementVersion
    consent_needed: bool
    consent_given: bool

    @property
    def available(self) -> bool:
        return self.consent_given or not self.consent_needed


@dataclass(frozen=True)
class Overview:
    view: PersonView
    purpose: str
    cases: list[Case]
    consents: list[ConsentRecord] | None  # None: the viewer may not see consents
    events: list[HistoryEntry] | None  # None: the viewer does not operate events
    shared: list[SharedSource]
    acting_for: Agency | None


def acting_agency(viewer: User) -> Agency | None:
    """The agency the viewer works for in the workspace: their home agency."""
    return viewer.agency


def _cases(viewer: User, person_id: str) -> list[Case]:
    if not policy.can(viewer, "case.view", policy.ANY_OBJECT):
        return []
    applicants = citizen_account_ids(person_id)
    if not applicants:
        return []
    return list(
        case_selectors.case_list(viewer=viewer)
        .filter(applicant_id__in=applicants)
        .select_related("service", "agency")[:100]
    )


def _consents(viewer: User, person_id: str) -> list[ConsentRecord] | None:
    if not policy.can(viewer, "consent.view", policy.ANY_OBJECT):
        return None
    records = (
        ConsentRecord.objects.filter(person_id=person_id)
        .select_related("agreement__provider", "agreement__consumer", "agreement_version__purpose")
        .order_by("agreement__code")
    )
    return [r for r in records if policy.can(viewer, "consent.view", r)]


def shared_sources(*, viewer: User, person_id: str) -> list[SharedSource]:
    """What other agencies may answer about the person for the viewer's agency, with
    whether the person's consent covers each (the data itself is not read here)."""
    agency = acting_agency(viewer)
    if agency is None or not policy.can(viewer, "exchange.request", agency):
        return []
    now = timezone.now()
    versions = (
        DataAgreementVersion.objects.filter(agreement__consumer=agency, valid_from__lte=now)
        .select_related("agreement__provider", "purpose")
        .order_by("agreement_id", "-version")
    )
    latest: dict[Any, DataAgreementVersion] = {}
    for version in versions:
        latest.setdefault(version.agreement_id, version)
    in_force = [v for v in latest.values() if v.valid_until is None or now < v.valid_until]
    services = DataService.objects.filter(
        active=True, provider_id__in={v.agreement.provider_id for v in in_force}
    ).select_related("provider")
    shared = []
    for version in in_force:
        needs = version.lawful_basis == LawfulBasis.CONSENT
        given = needs and consent_covers(person_id=person_id, version=version)
        for service in services:
            if service.provider_id != version.agreement.provider_id:
                continue
            if not set(service.attributes) & set(version.attributes):
                continue  # the agreement lets nothing of this service through
            shared.append(SharedSource(service, version, needs, given))
    return sorted(shared, key=lambda s: (s.service.provider.name, s.service.name))


def person_overview(*, viewer: User, person_id: str, purpose: str) -> Overview:
    """The 360° view of a person for `viewer`, read for `purpose` (every part audited)."""
    view = person_get(viewer=viewer, person_id=person_id, purpose=purpose)
    person = view.person
    agency = acting_agency(viewer)
    cases = _cases(viewer, person.pk)
    consents = _consents(viewer, person.pk)
    shared = shared_sources(viewer=viewer, person_id=person.pk)
    events = None
    if policy.can(viewer, "event.manage", policy.ANY_OBJECT):
        events = event_history_for_person(viewer=viewer, person=person, limit=50)
    audit.record(
        actor=viewer,
        action="person.overview",
        subject_person=person.pk,
        target=person,
        agency=agency.code if agency else "",
        purpose=purpose,
        data={
            "cases": [c.reference for c in cases],
            "consents": len(consents) if consents is not None else None,
            "shared_services": [f"{s.service.provider.code}/{s.service.code}" for s in shared],
        },
    )
    return Overview(view, purpose, cases, consents, events, shared, agency)
