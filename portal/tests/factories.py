"""Test data for applying: services deployed from the cases tests' fixture with a form of
our choosing, and citizens linked to a person whose golden record names its sources."""

import datetime
import json
from pathlib import Path

import cases.tests
from cases.services import definitions
from identity.services import system_actor
from identity.tests.factories import AgencyFactory, CitizenFactory
from registry.models import Person, SourceRecord
from registry.services import persons
from registry.services.citizens import PORTAL_AGENCY_CODE
from registry.tests.factories import SourceRecordFactory

TEST_SERVICE = Path(cases.tests.__file__).parent / "fixtures" / "test_benefit"
UPDATED = datetime.datetime(2025, 5, 3, 9, 30, tzinfo=datetime.UTC)
SMALL_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40

# Eight questions: asked one per page. `age` and `income` are what the test process's
# decision table reads; the others exercise every kind of question.
LONG_FORM = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Apply for the test benefit",
    "type": "object",
    "required": ["age", "income", "address_line", "has_partner"],
    "additionalProperties": False,
    "properties": {
        "address_line": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "title": "Your address",
            "x-prefill": "golden.address_line",
        },
        "postcode": {
            "type": "string",
            "maxLength": 16,
            "title": "Postcode",
            "x-prefill": "golden.postcode",
        },
        "age": {"type": "integer", "minimum": 0, "maximum": 130, "title": "Your age"},
        "income": {
            "type": "number",
            "minimum": 0,
            "title": "Household income last year",
            "x-hint": "Use 0 if there was none.",
        },
        "has_partner": {"type": "boolean", "title": "Do you live with a partner?"},
        "housing": {
            "type": "string",
            "enum": ["rent", "own", "other"],
            "title": "Your home is",
            "x-labels": {"rent": "Rented", "own": "Owned", "other": "Something else"},
        },
        "moved_in": {"type": "string", "format": "date", "title": "When you moved in"},
        "evidence": {
            "type": "string",
            "format": "binary",
            "title": "Proof of income",
            "x-upload": {"accept": ["application/pdf", "image/png"], "max_bytes": 1000},
        },
    },
    "x-order": [
        "address_line",
        "postcode",
        "age",
        "income",
        "has_partner",
        "housing",
        "moved_in",
        "evidence",
    ],
}


def service_files(*, code="test-benefit", name="Test benefit", form=None, life_events=None):
    files = {n: c.decode() for n, c in definitions.read_directory(TEST_SERVICE).items()}
    yaml = files["service.yaml"].replace("code: test-benefit", f"code: {code}")
    yaml = yaml.replace("name: Test benefit", f"name: {name}")
    if life_events is not None:
        yaml = yaml.replace(
            "life_events: [having-a-child]", f"life_events: [{', '.join(life_events)}]"
        )
    files["service.yaml"] = yaml
    if form is not None:
        files["form.json"] = json.dumps(form)
    return files


def deploy(*, activate_at=None, **kwargs):
    """Deploy a variant of the cases tests' service (Health's), active now by default."""
    AgencyFactory(code="health", name="Health Service")
    return definitions.service_deploy(
        actor=system_actor(), files=service_files(**kwargs), activate_at=activate_at
    )


def linked_citizen(*, username="maria", **values):
    """A citizen whose account is linked to a person with a Health record (updated 3 May
    2025) holding `values` (defaults: the source record factory's)."""
    health = AgencyFactory(code="health", name="Health Service")
    portal = AgencyFactory(code=PORTAL_AGENCY_CODE, name="Citizen portal")
    user = CitizenFactory(username=username)
    person = Person.objects.create()
    SourceRecordFactory(agency=health, person=person, source_updated_at=UPDATED, **values)
    SourceRecord.objects.create(
        agency=portal,
        agency_record_id=f"user-{user.pk}",
        person=person,
        given_name=user.first_name,
        family_name=user.last_name,
    )
    persons.person_golden_refresh(person_ids=[person.pk])
    return user
