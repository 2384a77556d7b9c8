"""A citizen's own data: the golden record with where each value came from, and the agency
records behind it.

Only the person the citizen's own account is linked to is read (`citizen_person`), after
`person.view_own`; the read is audited like a caseworker's (`person.read` and one
`source_record.read` per record, against the person), so it shows in the citizen's
"who accessed my data" too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from core import audit
from identity import policy
from identity.models import Agency, User
from registry.choices import Sex
from registry.models import Person, SourceRecord
from registry.selectors.review import mask
from registry.services.citizens import PORTAL_AGENCY_CODE, citizen_person
from registry.services.persons import person_golden

# The golden fields in the order a person reads them, in words.
FIELD_LABELS: dict[str, Promise] = {
    "given_name": _("Given name"),
    "middle_name": _("Middle name"),
    "family_name": _("Family name"),
    "date_of_birth": _("Date of birth"),
    "sex": _("Sex"),
    "address_line": _("Address"),
    "locality": _("Town"),
    "postcode": _("Postcode"),
    "phone": _("Phone"),
    "email": _("E-mail"),
    "national_id": _("National ID"),
}
# shown by their last characters only, even to the person: screens are seen by others
MASKED = frozenset({"national_id"})
ADDRESS_FIELDS = ("address_line", "locality", "postcode")


@dataclass(frozen=True)
class GoldenField:
    name: str
    label: str
    value: str
    agency_code: str
    agency_name: str
    record: str  # the agency's own record id
    updated_at: datetime | None

    @property
    def from_portal(self) -> bool:
        """The person gave it themself when they signed up: no agency to correct it."""
        return self.agency_code == PORTAL_AGENCY_CODE


@dataclass(frozen=True)
class AgencyRecord:
    agency: Agency
    record: SourceRecord

    @property
    def address(self) -> str:
        parts = (self.record.address_line, self.record.locality, self.record.postcode)
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class YourData:
    person: Person
    fields: list[GoldenField]
    records: list[AgencyRecord]

    def field(self, name: str) -> GoldenField | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def address(self) -> str:
        parts = [f.value for name in ADDRESS_FIELDS if (f := self.field(name)) is not None]
        return ", ".join(p for p in parts if p)

    @property
    def agencies_with_address(self) -> list[AgencyRecord]:
        return [
            r
            for r in self.records
            if r.agency.code != PORTAL_AGENCY_CODE and (r.record.address_line or r.record.postcode)
        ]


def _shown(name: str, value: object) -> str:
    text = "" if value is None else str(value)
    if name in MASKED:
        return mask(text)
    if name == "date_of_birth":
        day = parse_date(text)
        return date_format(day, "DATE_FORMAT") if day else text
    if name == "sex" and text in Sex.values:
        return str(Sex(text).label)
    return text


def your_data_get(*, viewer: User, purpose: str = "your data") -> YourData | None:
    """The viewer's own golden record and linked records (audited), or None when the account
    is linked to no person yet."""
    policy.authorize(viewer, "person.view_own", viewer)
    person = citizen_person(user=viewer)
    if person is None:
        return None
    records = list(
        SourceRecord.objects.filter(person=person)
        .select_related("agency")
        .order_by("agency__name", "agency_record_id")
    )
    audit.record(
        actor=viewer,
        action="person.read",
        subject_person=person.pk,
        target=person,
        purpose=purpose,
    )
    audit.record_many(
        [
            {
                "actor": viewer,
                "action": "source_record.read",
                "subject_person": person.pk,
                "target": record,
                "purpose": purpose,
                "agency": None,
                "data": None,
            }
            for record in records
        ]
    )
    golden = person_golden(person)
    names = dict(Agency.objects.values_list("code", "name"))
    fields = []
    for name, label in FIELD_LABELS.items():
        entry = golden.get(name)
        if not isinstance(entry, dict) or entry.get("value") in (None, ""):
            continue
        code = str(entry.get("agency") or "")
        updated = entry.get("updated_at")
        fields.append(
            GoldenField(
                name=name,
                label=str(label),
                value=_shown(name, entry.get("value")),
                agency_code=code,
                agency_name=names.get(code, code),
                record=str(entry.get("record") or ""),
                updated_at=parse_datetime(updated) if isinstance(updated, str) else None,
            )
        )
    return YourData(
        person=person,
        fields=fields,
        records=[AgencyRecord(agency=r.agency, record=r) for r in records],
    )
