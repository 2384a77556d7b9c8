import datetime
import json

import pytest
from django.test import Client

from core.models import AuditEntry
from identity import services
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff, verified
from registry.models import Person
from registry.selectors import persons as selectors
from registry.services import persons
from registry.services.persons import Survivorship, SurvivorshipConfigError
from registry.tests.factories import SourceRecordFactory

pytestmark = pytest.mark.django_db

T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


def _client(user, scopes=("persons:read", "registry:read")):
    user.civic_system = True  # stands in for the MFA session that mints the token
    _, raw = services.api_token_create(actor=user, name="t", scopes=list(scopes))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def agencies():
    return {code: AgencyFactory(code=code, name=code.title()) for code in ("health", "revenue")}


def _person_with(agencies, **by_agency):
    """A person linked to one record per agency; values per agency as keyword dicts."""
    person = Person.objects.create()
    for code, values in by_agency.items():
        SourceRecordFactory(agency=agencies[code], person=person, **values)
    persons.person_golden_refresh(person_ids=[person.pk])
    person.refresh_from_db()
    return person


def test_golden_record_takes_each_field_by_the_rules_and_names_its_source(agencies):
    # given Health (trusted for names) and Revenue (reported a move later) hold one person
    person = _person_with(
        agencies,
        health={
            "agency_record_id": "H1",
            "given_name": "Maria",
            "date_of_birth": datetime.date(1985, 3, 14),
            "address_line": "12 High Street",
            "postcode": "NT1 2AB",
            "phone": "",
            "source_updated_at": T0,
        },
        revenue={
            "agency_record_id": "R9",
            "given_name": "Mari",
            "date_of_birth": datetime.date(1985, 3, 15),
            "address_line": "4 Mill Lane",
            "postcode": "NT9 9ZZ",
            "phone": "07700 900123",
            "source_updated_at": T0 + datetime.timedelta(days=30),
        },
    )
    golden = persons.person_golden(person)
    # then names and birth date come from Health, the address (as a whole) from Revenue's
    # newer report, the phone from the only record that has one
    assert golden["given_name"]["value"] == "Maria"
    assert golden["given_name"]["agency"] == "health"
    assert golden["given_name"]["record"] == "H1"
    assert golden["date_of_birth"]["value"] == "1985-03-14"
    assert golden["address_line"]["value"] == "4 Mill Lane"
    assert golden["postcode"] == {**golden["postcode"], "value": "NT9 9ZZ", "agency": "revenue"}
    assert golden["phone"]["record"] == "R9"
    assert golden["address_line"]["updated_at"].startswith("2024-01-31")
    # and the searchable copies follow the golden record
    assert (person.given_name, person.date_of_birth) == ("Maria", datetime.date(1985, 3, 14))


def test_empty_values_never_win_and_address_parts_stay_together(agencies):
    # given the trusted source has no address at all and the other has one
    person = _person_with(
        agencies,
        health={"address_line": "", "locality": "", "postcode": ""},
        revenue={"address_line": "4 Mill Lane", "locality": "Southtown", "postcode": "ST4 1AA"},
    )
    golden = persons.person_golden(person)
    assert {golden[f]["agency"] for f in ("address_line", "locality", "postcode")} == {"revenue"}
    assert golden["locality"]["value"] == "Southtown"


def test_survivorship_config_errors_name_the_key():
    with pytest.raises(SurvivorshipConfigError, match=r"shoe_size.*not golden fields"):
        Survivorship.parse({"fields": {"shoe_size": {}}})
    with pytest.raises(SurvivorshipConfigError, match=r"fields.phone.rules"):
        Survivorship.parse({"fields": {"phone": {"rules": ["loudest"]}}})
    with pytest.raises(SurvivorshipConfigError, match=r"postcode.with"):
        Survivorship.parse(
            {"fields": {"postcode": {"with": "locality"}, "locality": {"with": "address_line"}}}
        )


def test_a_deployment_can_trust_another_agency_first(agencies, settings, tmp_path):
    # given a deployment whose rules trust Revenue for given names
    rules = tmp_path / "rules.yaml"
    rules.write_text(json.dumps({"fields": {"given_name": {"trust": ["revenue", "health"]}}}))
    settings.REGISTRY_SURVIVORSHIP_FILE = str(rules)
    persons.survivorship.cache_clear()
    try:
        person = _person_with(
            agencies, health={"given_name": "Maria"}, revenue={"given_name": "Mari"}
        )
    finally:
        persons.survivorship.cache_clear()
    assert persons.person_golden(person)["given_name"]["value"] == "Mari"


def test_search_by_national_id_finds_the_person_through_any_record_and_is_audited(agencies):
    person = _person_with(agencies, revenue={"national_id": "AB 123 456"})
    _person_with(agencies, health={"national_id": "ZZ 999 999"})
    steward = verified(staff(Role.DATA_STEWARD, agencies["health"], username="stew"))
    # when a steward searches by the national ID as the citizen typed it
    hits = selectors.person_search(viewer=steward, purpose="identity check", national_id="ab123456")
    # then exactly that person is found, and the audit trail names the person and purpose
    assert [h.person.pk for h in hits] == [person.pk]
    entry = AuditEntry.objects.get(action="person.search")
    assert (entry.subject_person, entry.purpose, entry.actor) == (
        person.pk,
        "identity check",
        "stew",
    )


def test_fuzzy_name_search_with_a_swapped_day_and_month(agencies):
    # given Maria Garcia born 1985-03-04, and a Mario Garcia born the same day
    maria = _person_with(
        agencies,
        health={
            "given_name": "Maria",
            "family_name": "Garcia",
            "date_of_birth": datetime.date(1985, 3, 4),
        },
    )
    other = _person_with(
        agencies,
        health={
            "given_name": "Zbigniew",
            "family_name": "Kowalski",
            "date_of_birth": datetime.date(1985, 3, 4),
        },
    )
    steward = verified(staff(Role.DATA_STEWARD, agencies["health"]))
    # when someone searches a misspelt name with day and month swapped
    hits = selectors.person_search(
        viewer=steward,
        purpose="phone enquiry",
        name="Marya Garcia",
        date_of_birth=datetime.date(1985, 4, 3),
    )
    # then Maria is found and the unrelated person with the same birthday is not
    assert [h.person.pk for h in hits] == [maria.pk]
    assert other.pk not in {h.person.pk for h in hits}
    assert hits[0].score < 1.0


def test_search_without_enough_to_go_on_is_refused(agencies):
    steward = staff(Role.DATA_STEWARD, agencies["health"])
    response = _client(steward).post(
        "/api/v1/registry/persons:search",
        {"purpose": "curiosity", "name": "a"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")


def test_golden_record_api_shows_provenance_and_only_readable_records(agencies):
    # given a person known to Health and Revenue
    person = _person_with(
        agencies,
        health={"agency_record_id": "H1", "given_name": "Maria"},
        revenue={"agency_record_id": "R9", "given_name": "Mari"},
    )
    caseworker = staff(Role.CASEWORKER, agencies["health"], username="cw")
    # when a Health caseworker reads the golden record
    response = _client(caseworker).get(
        f"/api/v1/registry/persons/{person.pk}", {"purpose": "benefit application"}
    )
    # then the golden values carry their source, and only Health's record is shown
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["golden"]["given_name"]["value"] == "Maria"
    assert body["golden"]["given_name"]["agency"] == "health"
    assert [r["agency_record_id"] for r in body["records"]] == ["H1"]
    assert body["hidden_records"] == 1
    # and the read is in the audit trail under the person's id
    assert AuditEntry.objects.filter(action="person.read", subject_person=person.pk).count() == 1


def test_a_merged_person_id_still_answers_with_where_it_went(agencies):
    survivor = _person_with(agencies, health={})
    old = Person.objects.create(merged_into=survivor, retired_at=T0)
    steward = staff(Role.DATA_STEWARD, agencies["health"])
    body = (
        _client(steward)
        .get(f"/api/v1/registry/persons/{old.pk}", {"purpose": "follow link"})
        .json()
    )
    assert (body["status"], body["merged_into"]) == ("merged", survivor.pk)


@pytest.mark.parametrize("role", [Role.POLICY_ANALYST, Role.AGENCY_ADMIN])
def test_roles_without_person_access_are_refused(agencies, role):
    person = _person_with(agencies, health={})
    user = staff(role, agencies["health"])
    response = _client(user).get(f"/api/v1/registry/persons/{person.pk}", {"purpose": "look"})
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="person.read").exists()


def test_unknown_person_is_404(agencies):
    steward = staff(Role.DATA_STEWARD, agencies["health"])
    response = _client(steward).get("/api/v1/registry/persons/PNOSUCH", {"purpose": "look"})
    assert response.status_code == 404
