"""Reads of the master person index: search persons, read a golden record with provenance.

Both are authorised by `person.view` and audited: every person a search returns and every
golden record read is an entry in the audit trail, with the viewer's purpose and the
person's id, so the person can see who looked (issue 5's "who accessed my data").
The linked source records a viewer sees are narrowed to the agencies whose records the
viewer may read (`source_record.view`), except for data stewards and platform admins
reviewing the index (`person.review`), who see all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import jellyfish
from django.core.exceptions import FieldError
from django.db.models import Q

from core import audit
from core.errors import NotFound, ValidationFailed
from core.fields import lookup_value
from identity import policy
from identity.models import User
from registry import standardise
from registry.models import Person, SourceRecord
from registry.services.persons import person_golden

# A fuzzy name match scores at least this (Jaro-Winkler on the folded full name).
NAME_MATCH_MIN = 0.85
# At most this many persons are scored for one fuzzy search.
MAX_CANDIDATES = 5000


@dataclass(frozen=True)
class PersonHit:
    person: Person
    score: float  # 1.0 for an exact national-ID match
    matched_on: str  # "national_id", "name and date of birth", "name"


@dataclass(frozen=True)
class PersonView:
    person: Person
    golden: dict[str, Any]
    records: list[SourceRecord]
    hidden_records: int  # linked records in agencies the viewer may not read


def _full_name(given: str, family: str) -> str:
    return f"{given} {family}".strip()


def _audit_read(*, viewer: User, person: Person, action: str, purpose: str) -> None:
    audit.record(
        actor=viewer, action=action, subject_person=person.pk, target=person, purpose=purpose
    )


def person_search(
    *,
    viewer: User,
    purpose: str,
    name: str | None = None,
    date_of_birth: date | None = None,
    national_id: str | None = None,
    limit: int = 20,
) -> list[PersonHit]:
    """Persons matching a national ID exactly, or a name (fuzzily) and date of birth.

    The national ID is looked up through the blind index, never decrypted in bulk. A name
    search needs a date of birth or at least a family name of two letters; the date of
    birth also matches with day and month swapped, a common keying error. Results are
    audited one entry per person returned.
    """
    policy.authorize(viewer, "person.view", policy.ANY_OBJECT)
    if not national_id and not (name and name.strip()) and date_of_birth is None:
        raise ValidationFailed("Give a national ID, or a name and/or a date of birth.")
    hits: list[PersonHit] = []
    live = Person.objects.filter(retired_at__isnull=True)
    if national_id:
        try:
            index = lookup_value(SourceRecord, "national_id", national_id)
        except FieldError:
            raise ValidationFailed("The national ID is empty.") from None
        ids = SourceRecord.objects.filter(national_id_index=index, person__isnull=False)
        people = live.filter(pk__in=ids.values("person_id")).order_by("pk")[:limit]
        hits = [PersonHit(p, 1.0, "national_id") for p in people]
    else:
        hits = _name_search(live, name or "", date_of_birth, limit)
    for hit in hits:
        _audit_read(viewer=viewer, person=hit.person, action="person.search", purpose=purpose)
    return hits


def _name_search(live: Any, name: str, date_of_birth: date | None, limit: int) -> list[PersonHit]:
    wanted = standardise.name(name)
    words = wanted.split(" ") if wanted else []
    if date_of_birth is not None:
        dates = {date_of_birth}
        if date_of_birth.day <= 12 and date_of_birth.day != date_of_birth.month:
            # always a valid date: the month (1-12) is a day of every month
            dates.add(date_of_birth.replace(month=date_of_birth.day, day=date_of_birth.month))
        candidates = live.filter(date_of_birth__in=dates)
    else:
        family = words[-1] if words else ""
        if len(family) < 2:
            raise ValidationFailed("Give a date of birth, or a family name of two letters or more.")
        # any of the words as the family name (the order people give names varies)
        prefix = Q()
        for word in words:
            if len(word) >= 2:
                prefix |= Q(std_family_name__startswith=word[:3])
        candidates = live.filter(prefix)
    scored = []
    for person in candidates.order_by("pk")[:MAX_CANDIDATES]:
        if not words:
            scored.append(PersonHit(person, 1.0, "date of birth"))
            continue
        full = _full_name(person.std_given_name, person.std_family_name)
        reverse = _full_name(person.std_family_name, person.std_given_name)
        score = max(
            jellyfish.jaro_winkler_similarity(wanted, full),
            jellyfish.jaro_winkler_similarity(wanted, reverse),
        )
        if score >= NAME_MATCH_MIN:
            how = "name and date of birth" if date_of_birth else "name"
            scored.append(PersonHit(person, round(score, 4), how))
    scored.sort(key=lambda h: (-h.score, h.person.pk))
    return scored[:limit]


def person_get(*, viewer: User, person_id: str, purpose: str) -> PersonView:
    """A person's golden record with provenance and the linked source records (audited).

    A retired person id (merged into another) still answers, with `merged_into` set, so
    links held elsewhere can be followed.
    """
    policy.authorize(viewer, "person.view", policy.ANY_OBJECT)
    person = Person.objects.filter(pk=person_id).first()
    if person is None:
        raise NotFound(f"No person {person_id}.")
    records = list(
        SourceRecord.objects.filter(person=person)
        .select_related("agency")
        .order_by("agency__code", "agency_record_id")
    )
    steward = policy.can(viewer, "person.review", person)
    visible = [r for r in records if steward or policy.can(viewer, "source_record.view", r)]
    _audit_read(viewer=viewer, person=person, action="person.read", purpose=purpose)
    for record in visible:
        audit.record(
            actor=viewer,
            action="source_record.read",
            subject_person=person.pk,
            target=record,
            purpose=purpose,
        )
    return PersonView(person, person_golden(person), visible, len(records) - len(visible))
