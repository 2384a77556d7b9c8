import pytest
from django.db import connection
from django.test import Client

from core.models import AuditEntry
from identity import services
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff
from registry.tests.factories import SourceRecordFactory

pytestmark = pytest.mark.django_db


def _client(user, scopes=("registry:read",)):
    user.civic_system = True  # stands in for the MFA session that mints the token
    _, raw = services.api_token_create(actor=user, name="t", scopes=list(scopes))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def health():
    return AgencyFactory(code="health", name="Health")


def test_steward_searches_own_agency_and_each_read_is_audited(health):
    # given two Garcias at Health and one at Revenue
    SourceRecordFactory.create_batch(2, agency=health)
    SourceRecordFactory(agency=AgencyFactory(code="revenue"))
    steward = staff(Role.DATA_STEWARD, health, username="stew")
    # when the steward searches Health for Garcia, saying why
    response = _client(steward).get(
        "/api/v1/registry/agencies/health/records",
        {"family_name": "garcia", "purpose": "data quality review"},
    )
    # then both Health records come back and two audited reads name the people and purpose
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2
    assert {item["agency"] for item in body["items"]} == {"health"}
    reads = AuditEntry.objects.filter(action="source_record.read")
    assert reads.count() == 2
    assert {r.purpose for r in reads} == {"data quality review"}
    assert all(r.actor == "stew" and r.subject_person.startswith("source:") for r in reads)


def test_purpose_is_required(health):
    steward = staff(Role.DATA_STEWARD, health)
    response = _client(steward).get("/api/v1/registry/agencies/health/records")
    assert response.status_code == 400
    assert "purpose" in response.json()["errors"]
    assert not AuditEntry.objects.filter(action="source_record.read").exists()


def test_find_by_national_id_through_the_blind_index(health):
    SourceRecordFactory(agency=health, national_id="AB 123 456", given_name="Lena")
    SourceRecordFactory(agency=health)
    steward = staff(Role.DATA_STEWARD, health)
    response = _client(steward).get(
        "/api/v1/registry/agencies/health/records",
        {"national_id": "ab123456", "purpose": "identity check"},
    )
    assert [i["given_name"] for i in response.json()["items"]] == ["Lena"]
    assert response.json()["items"][0]["national_id"] == "AB 123 456"


def test_national_id_is_not_stored_in_clear(health):
    record = SourceRecordFactory(agency=health, national_id="ZZ999999")
    with connection.cursor() as cursor:
        cursor.execute("SELECT national_id FROM registry_sourcerecord WHERE id = %s", [record.pk])
        stored = cursor.fetchone()[0]
    assert "ZZ999999" not in stored


def test_other_agencys_record_answers_not_found(health):
    revenue_record = SourceRecordFactory(agency=AgencyFactory(code="revenue"))
    steward = staff(Role.DATA_STEWARD, health)
    response = _client(steward).get(
        f"/api/v1/registry/records/{revenue_record.pk}", {"purpose": "curiosity"}
    )
    assert response.status_code == 404
    assert not AuditEntry.objects.filter(action="source_record.read").exists()


def test_caseworker_reads_one_record_with_audit(health):
    record = SourceRecordFactory(agency=health)
    worker = staff(Role.CASEWORKER, health)
    response = _client(worker).get(f"/api/v1/registry/records/{record.pk}", {"purpose": "case 42"})
    assert response.status_code == 200
    entry = AuditEntry.objects.get(action="source_record.read")
    assert entry.target == f"registry.sourcerecord:{record.pk}"
    assert entry.purpose == "case 42"


@pytest.mark.parametrize("role", [Role.PLATFORM_ADMIN, Role.POLICY_ANALYST])
def test_roles_without_need_to_know_are_refused(health, role):
    SourceRecordFactory(agency=health)
    user = staff(role, health)
    response = _client(user).get(
        "/api/v1/registry/agencies/health/records", {"purpose": "just looking"}
    )
    assert response.status_code == 403


def test_token_without_registry_scope_is_refused(health):
    steward = staff(Role.DATA_STEWARD, health)
    response = _client(steward, scopes=("identity:read",)).get(
        "/api/v1/registry/agencies/health/records", {"purpose": "review"}
    )
    assert response.status_code == 403
    assert "scope" in response.json()["detail"]
