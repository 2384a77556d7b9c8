"""Never ask twice: fill an application's fields from what government already knows.

A form field asks to be pre-filled with an explicit annotation in the service's JSON
Schema form, naming where the value comes from:

    "child_family_name": {"type": "string", "title": "Child's family name",
                          "x-prefill": "golden.family_name"}

`golden.<field>` is a field of the citizen's golden record in the master person index
(`registry.services.persons.GOLDEN_FIELDS`: given_name, family_name, date_of_birth,
address_line, locality, postcode, phone, email, ...). Nothing is pre-filled without the
annotation, and an annotation naming anything else is ignored.

The golden record is read as the citizen themself (`person.view_own`), through the same
read as their "your data" page (`portal.your_data.your_data_get`): authorised there and
audited with the citizen as actor and the application as purpose, so it shows in "who
accessed my data". Fields shown masked there (the national ID) are never pre-filled. Each
pre-filled fact keeps its source (the agency, its record, when the agency last updated it),
shown beside the field. The citizen may change any pre-filled value; what they submit is
what counts.
"""

from __future__ import annotations

from typing import Any

from cases.models import Service
from core import audit
from identity.models import User
from portal.your_data import MASKED, your_data_get
from registry.services.persons import GOLDEN_FIELDS

PREFIX = "golden."


def prefill_sources(schema: dict[str, Any] | None) -> dict[str, str]:
    """Form field -> golden field, for the fields annotated with a known `x-prefill`."""
    sources = {}
    for name, spec in ((schema or {}).get("properties") or {}).items():
        source = (spec or {}).get("x-prefill")
        if isinstance(source, str) and source.startswith(PREFIX):
            golden = source.removeprefix(PREFIX)
            if golden in GOLDEN_FIELDS:
                sources[name] = golden
    return sources


def prefill_read(
    *, applicant: User, service: Service, schema: dict[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """The pre-filled facts for an application: field -> {value (as a form shows it),
    golden, agency, agency_name, record, updated_at}. Empty when the form asks for none or
    the account is not linked to a person yet."""
    sources = {f: g for f, g in prefill_sources(schema).items() if g not in MASKED}
    if not sources:
        return {}
    purpose = f"pre-fill your application for {service.code}"
    mine = your_data_get(viewer=applicant, purpose=purpose)
    if mine is None:
        return {}
    facts: dict[str, dict[str, Any]] = {}
    for field, golden_name in sources.items():
        known = mine.field(golden_name)
        if known is None or not known.value:
            continue
        facts[field] = {
            "value": known.value,
            "golden": golden_name,
            "agency": known.agency_code,
            "agency_name": known.agency_name,
            "record": known.record,
            "updated_at": known.updated_at.isoformat() if known.updated_at else None,
        }
    audit.record(
        actor=applicant,
        action="portal.prefill",
        subject_person=mine.person.pk,
        target=service,
        purpose=purpose,
        data={"fields": sorted(facts), "golden": sorted({f["golden"] for f in facts.values()})},
    )
    return facts
