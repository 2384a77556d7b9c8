import pytest
from django.test import Client

from core.models import AuditEntry
from identity import services
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff, verified

pytestmark = pytest.mark.django_db


def _client_for(user, scopes=("audit:read",)):
    user.civic_system = True  # stands in for the MFA session that minted the token
    _, raw = services.api_token_create(actor=user, name="t", scopes=list(scopes))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_identity_changes_are_audited_with_actor_and_agency():
    # given an agency admin adding a caseworker
    health = AgencyFactory(code="health")
    admin = verified(staff(Role.AGENCY_ADMIN, health, username="ada"))
    services.staff_create(
        actor=admin,
        agency=health,
        username="carl",
        password="long-enough-password-1",
        roles=(Role.CASEWORKER,),
    )
    # then the trail says who did what, where
    created = AuditEntry.objects.get(action="staff.create")
    granted = AuditEntry.objects.get(action="role.grant")
    assert (created.actor, created.agency) == ("ada", "health")
    assert granted.data == {"role": "caseworker"}
    assert granted.prev_hash == created.hash


def test_agency_admin_reads_only_their_agencys_entries():
    health, revenue = AgencyFactory(code="health"), AgencyFactory(code="revenue")
    health_admin = verified(staff(Role.AGENCY_ADMIN, health))
    revenue_admin = verified(staff(Role.AGENCY_ADMIN, revenue))
    services.staff_create(
        actor=health_admin, agency=health, username="h1", password="x" * 8 + "-pw-long"
    )
    services.staff_create(
        actor=revenue_admin, agency=revenue, username="r1", password="y" * 8 + "-pw-long"
    )
    response = _client_for(health_admin).get("/api/v1/audit")
    assert response.status_code == 200
    agencies = {item["agency"] for item in response.json()["items"]}
    assert agencies == {"health"}


def test_caseworker_cannot_read_the_audit_trail():
    worker = staff(Role.CASEWORKER)
    response = _client_for(worker).get("/api/v1/audit")
    assert response.status_code == 403


def test_platform_admin_verifies_the_chain_through_the_api():
    admin = staff(Role.PLATFORM_ADMIN)
    services.agency_create(actor=verified(admin), code="transport", name="Transport")
    response = _client_for(admin).post("/api/v1/audit/verify")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["checked"] >= 2  # the agency and the token
    assert len(body["head_hash"]) == 64


def test_audit_list_filters_by_action():
    admin = verified(staff(Role.PLATFORM_ADMIN))
    services.agency_create(actor=admin, code="transport", name="Transport")
    response = _client_for(admin).get("/api/v1/audit", {"action": "agency.create"})
    assert [i["action"] for i in response.json()["items"]] == ["agency.create"]


@pytest.mark.parametrize(
    "since", ["7495-09-02T14:59:43+16:30", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"]
)
def test_audit_since_with_unusual_offsets_is_answered(since):
    admin = verified(staff(Role.PLATFORM_ADMIN))
    services.agency_create(actor=admin, code="transport", name="Transport")
    response = _client_for(admin).get("/api/v1/audit", {"since": since})
    assert response.status_code == 200
