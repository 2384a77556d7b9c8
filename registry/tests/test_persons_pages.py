import pytest
from django.test import Client

from core.models import AuditEntry
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff
from registry.models import Person
from registry.services import persons
from registry.tests.factories import SourceRecordFactory

pytestmark = pytest.mark.django_db


def _signed_in(user):
    client = Client()
    client.force_login(user)
    session = client.session
    # a staff page needs a TOTP-verified session: django-otp keeps the device in it
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def person():
    health = AgencyFactory(code="health", name="Health")
    revenue = AgencyFactory(code="revenue", name="Revenue")
    person = Person.objects.create()
    SourceRecordFactory(agency=health, person=person, agency_record_id="H1", given_name="Maria")
    SourceRecordFactory(agency=revenue, person=person, agency_record_id="R9", given_name="Mari")
    persons.person_golden_refresh(person_ids=[person.pk])
    return person


def test_a_caseworker_finds_a_person_and_reads_the_golden_record_with_sources(person):
    # given a Health caseworker signed in with TOTP
    health = person.records.get(agency_record_id="H1").agency
    client = _signed_in(staff(Role.CASEWORKER, health, username="cw"))
    # when they search by name and date of birth, saying why
    page = client.get(
        "/registry/persons/",
        {"purpose": "benefit claim", "name": "Maria Garsia", "date_of_birth": "1985-03-14"},
    )
    # then the person is listed with a link that carries the purpose
    assert page.status_code == 200
    assert f"/registry/persons/{person.pk}/?purpose=benefit%20claim" in page.text
    # and the person page shows each golden value beside its source, hiding Revenue's record
    detail = client.get(f"/registry/persons/{person.pk}/", {"purpose": "benefit claim"})
    assert detail.status_code == 200
    assert "health · H1" in detail.text
    assert (
        '<td class="govuk-table__cell">Health</td><td class="govuk-table__cell">H1</td>'
        in detail.text
    )
    assert '<td class="govuk-table__cell">Revenue</td>' not in detail.text
    assert "1 more record is held by an agency" in detail.text
    assert AuditEntry.objects.filter(action="person.read", actor="cw").count() == 1


def test_opening_a_person_asks_for_a_purpose_first(person):
    health = person.records.get(agency_record_id="H1").agency
    client = _signed_in(staff(Role.CASEWORKER, health))
    page = client.get(f"/registry/persons/{person.pk}/")
    assert page.status_code == 200
    assert "Why are you opening this record?" in page.text
    assert not AuditEntry.objects.filter(action="person.read").exists()
    short = client.get(f"/registry/persons/{person.pk}/", {"purpose": "x"})
    assert short.status_code == 400


def test_an_empty_search_gets_a_message_not_a_list(person):
    health = person.records.get(agency_record_id="H1").agency
    client = _signed_in(staff(Role.CASEWORKER, health))
    page = client.get("/registry/persons/", {"purpose": "benefit claim"})
    assert page.status_code == 400
    assert "Give a national ID, or a name" in page.text


def test_a_policy_analyst_is_refused(person):
    health = person.records.get(agency_record_id="H1").agency
    client = _signed_in(staff(Role.POLICY_ANALYST, health))
    assert client.get("/registry/persons/").status_code == 403


def test_unknown_person_is_404(person):
    health = person.records.get(agency_record_id="H1").agency
    client = _signed_in(staff(Role.DATA_STEWARD, health))
    assert client.get("/registry/persons/PNOPE/", {"purpose": "check"}).status_code == 404
