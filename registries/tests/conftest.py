"""Fixtures of the registries tests: Transport's vehicle registry, owners in the index."""

from typing import Any

import pytest

from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff, verified
from registry.models import Person
from registry.tests.factories import SourceRecordFactory

VEHICLE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "plate": {"type": "string", "minLength": 2, "maxLength": 12, "primaryKey": True},
        "make": {"type": "string", "x-searchable": True},
        "colour": {"type": "string", "x-searchable": True},
        "year": {"type": "integer", "minimum": 1900, "maximum": 2100, "x-searchable": True},
        "registered": {"type": "string", "format": "date"},
        "owner_national_id": {"type": "string", "x-person": "national_id", "x-searchable": True},
        "owner_name": {"type": "string", "x-personal": True},
    },
    "required": ["plate", "make", "year"],
    "additionalProperties": False,
}


def person_with_national_id(national_id: str, agency: Any = None, **fields: Any) -> Person:
    """A master person whose linked source record carries the national ID."""
    person = Person.objects.create(
        given_name=fields.get("given_name", "Maria"),
        family_name=fields.get("family_name", "Garcia"),
    )
    SourceRecordFactory(
        agency=agency or AgencyFactory(code="health"), national_id=national_id, person=person
    )
    return person


@pytest.fixture
def transport():
    return AgencyFactory(code="transport", name="Transport")


@pytest.fixture
def steward(transport):
    return verified(staff(Role.DATA_STEWARD, transport, username="tina"))


@pytest.fixture
def admin(transport):
    return verified(staff(Role.AGENCY_ADMIN, transport, username="ada"))


@pytest.fixture
def vehicles(admin, transport):
    from registries.services.definitions import registry_definition_save

    definition, _ = registry_definition_save(
        actor=admin,
        agency=transport,
        name="vehicles",
        title="Vehicles",
        schema=VEHICLE_SCHEMA,
    )
    return definition


@pytest.fixture
def owner():
    return person_with_national_id("AB123456")
