"""The demo's registries: defined once, filled with records owned by demo people."""

import pytest
from django.core.management import call_command

from core.models import AuditEntry
from identity.tests.factories import AgencyFactory
from registries.models import RegistryDefinition, RegistryRecord, RegistryRecordPerson
from registry.models import Person
from registry.tests.factories import SourceRecordFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_people():
    transport = AgencyFactory(code="transport", name="Transport")
    revenue = AgencyFactory(code="revenue", name="Revenue")
    for agency in (transport, revenue):
        for n in range(5):
            person = Person.objects.create(given_name="Ana", family_name=f"Lee{n}")
            SourceRecordFactory(agency=agency, person=person, national_id=f"{agency.code}-{n}")


def test_seed_defines_both_registries_with_owners_resolved(demo_people, capsys):
    # when the demo registries are seeded
    call_command("seed_demo_registries", "--vehicles", "4", "--businesses", "3")
    # then vehicles (Transport) and businesses (Revenue) exist, each record linked to a person
    assert set(RegistryDefinition.objects.values_list("name", "agency__code")) == {
        ("vehicles", "transport"),
        ("businesses", "revenue"),
    }
    assert RegistryRecord.objects.filter(definition__name="vehicles").count() == 4
    assert RegistryRecord.objects.filter(definition__name="businesses").count() == 3
    assert RegistryRecordPerson.objects.count() == 7
    assert "vehicles: 4 created" in capsys.readouterr().out


def test_seed_is_idempotent_and_if_empty_leaves_registries_alone(demo_people, capsys):
    call_command("seed_demo_registries", "--vehicles", "3", "--businesses", "2")
    entries = AuditEntry.objects.count()
    # when it runs again, then nothing changes
    call_command("seed_demo_registries", "--vehicles", "3", "--businesses", "2")
    assert RegistryRecord.objects.count() == 5
    assert RegistryDefinition.objects.count() == 2
    assert "0 created, 0 updated" in capsys.readouterr().out
    # and with --if-empty it does not even look at the records
    call_command("seed_demo_registries", "--if-empty")
    assert "has records already" in capsys.readouterr().out
    assert AuditEntry.objects.count() == entries
