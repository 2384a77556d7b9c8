"""Identity verification: a citizen links their account to their master person.

The citizen gives their national ID and date of birth. They are verified when an agency's
record (not one the citizen typed in themself) holds that national ID — found through the
blind index, never by decrypting — and that date of birth, and all such records belong to
one person. The account then keeps the national ID (encrypted) and its own portal record
joins that person (`registry.services.citizens.citizen_record_verify`).

Guessing is limited: each failed check is written to the audit trail, and after
`MAX_FAILURES` failures within `WINDOW` the check is refused until the oldest of them is
older than the window — across processes and restarts, since the trail is the database.
A format error (no lookup made) does not count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core import audit
from core.errors import ApplicationError, ValidationFailed
from core.fields import lookup_value
from core.models import AuditEntry
from identity import policy
from identity.models import User
from registry.models import Person, SourceRecord
from registry.services.citizens import (
    PORTAL_AGENCY_CODE,
    citizen_person,
    citizen_record_verify,
)

MAX_FAILURES = 5
WINDOW = timedelta(hours=24)
FAILED = "citizen.identity_check_failed"
_NATIONAL_ID = re.compile(r"^[0-9A-Za-z]{4,20}$")


class IdentityCheckLocked(ApplicationError):
    code = "identity_check_locked"
    status = 429


class IdentityNotConfirmed(ApplicationError):
    code = "identity_not_confirmed"
    status = 400


@dataclass(frozen=True)
class CheckState:
    failures: int
    locked_until: datetime | None

    @property
    def tries_left(self) -> int:
        return max(0, MAX_FAILURES - self.failures)


def identity_check_state(*, user: User, now: datetime | None = None) -> CheckState:
    moment = now or timezone.now()
    times = list(
        AuditEntry.objects.filter(
            actor_id=user.pk, action=FAILED, created_at__gte=moment - WINDOW
        ).values_list("created_at", flat=True)
    )
    locked_until = min(times) + WINDOW if len(times) >= MAX_FAILURES else None
    return CheckState(failures=len(times), locked_until=locked_until)


def _normalised(national_id: str) -> str:
    value = re.sub(r"[\s\-.]", "", national_id or "")
    if not _NATIONAL_ID.match(value):
        raise ValidationFailed(
            _("Enter your national ID as it is printed: 4 to 20 letters and digits."),
            errors={"national_id": [_("Enter your national ID: 4 to 20 letters and digits.")]},
        )
    return value


def _survivor(person: Person) -> Person:
    seen = set()
    while person.merged_into_id and person.pk not in seen:
        seen.add(person.pk)
        person = person.merged_into  # type: ignore[assignment]
    return person


def _matching_person(national_id: str, date_of_birth: date) -> Person | None:
    records = (
        SourceRecord.objects.filter(
            national_id_index=lookup_value(SourceRecord, "national_id", national_id),
            date_of_birth=date_of_birth,
            person__isnull=False,
        )
        .exclude(agency__code=PORTAL_AGENCY_CODE)
        .select_related("person")
    )
    persons = {_survivor(r.person).pk: _survivor(r.person) for r in records if r.person}
    return next(iter(persons.values())) if len(persons) == 1 else None


def identity_verify(*, user: User, national_id: str, date_of_birth: date) -> Person:
    """Verify the citizen and link their account; refused with the tries left, or locked."""
    policy.authorize(user, "identity.verify_own", user)
    linked = citizen_person(user=user)
    if linked is not None and user.national_id:
        return linked  # verified before
    state = identity_check_state(user=user)
    if state.locked_until is not None:
        raise IdentityCheckLocked(
            _("Too many tries. You can try again after %(when)s.")
            % {"when": timezone.localtime(state.locked_until).strftime("%Y-%m-%d %H:%M")},
        )
    value = _normalised(national_id)
    person = _matching_person(value, date_of_birth)
    if person is None:
        # recorded at once, outside any transaction the caller may roll back
        audit.record(actor=user, action=FAILED, target=user, data={})
        left = state.tries_left - 1
        detail = (
            _("These details do not match the records government holds.")
            + " "
            + (
                _("Check them and try again: you have %(left)d tries left today.") % {"left": left}
                if left
                else _("You have no tries left today.")
            )
        )
        raise IdentityNotConfirmed(detail)
    with transaction.atomic():
        user.national_id = value
        user.save()
        citizen_record_verify(user=user, person=person, date_of_birth=date_of_birth)
    return person
