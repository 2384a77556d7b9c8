"""The consent API router (mounted at /api/v1/consent), through a test-only API and urlconf."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import path
from django.utils import timezone
from ninja import NinjaAPI

from consent import services
from consent.api import router
from consent.models import DataAgreementVersion, Purpose
from consent.tests.factories import agreement, linked_citizen
from core.api_errors import install_problem_handlers
from core.models import AuditEntry
from identity import services as identity_services
from identity.api_auth import SessionAuth, TokenAuth
from identity.choices import Role
from identity.tests.factories import AgencyFactory, CitizenFactory, staff

test_api = NinjaAPI(urls_namespace="consent-api-test", auth=[TokenAuth(), SessionAuth()])
install_problem_handlers(test_api)
test_api.add_router("/consent", router)
urlpatterns = [path("api/v1/", test_api.urls)]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

BASE = "/api/v1/consent"
SCOPES = ("consent:write", "audit:read", "profile:read")


def _client(user, scopes=SCOPES):
    user.civic_system = True  # stands in for the MFA session that mints the token
    _, raw = identity_services.api_token_create(actor=user, name="t", scopes=list(scopes))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _citizen(user):
    client = Client()
    client.force_login(user)
    return client


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def world():
    revenue = AgencyFactory(code="revenue", name="Revenue")
    social = AgencyFactory(code="social-services", name="Social Services")
    version = agreement(provider=revenue, consumer=social)
    citizen, person = linked_citizen()
    return {
        "revenue": revenue,
        "social": social,
        "agreement": version.agreement,
        "citizen": citizen,
        "person": person,
        "caseworker": staff(Role.CASEWORKER, social, username="cas"),
    }


def test_platform_admins_register_purposes_and_everyone_signed_in_reads_them(world):
    admin = _client(staff(Role.PLATFORM_ADMIN, username="root"))
    created = _post(admin, f"{BASE}/purposes", {"code": "fraud-check", "name": "Fraud check"})
    assert created.status_code == 201, created.content
    refused = _post(_citizen(world["citizen"]), f"{BASE}/purposes", {"code": "x1", "name": "X"})
    assert refused.status_code == 403
    listed = _citizen(world["citizen"]).get(f"{BASE}/purposes").json()
    assert {p["code"] for p in listed} == {"child-benefit-eligibility", "fraud-check"}


def _terms(**overrides):
    return {
        "code": "transport-licence-for-benefits",
        "provider": "transport",
        "consumer": "social-services",
        "purpose": "child-benefit-eligibility",
        "purpose_text": "To check whether you hold a driving licence.",
        "attributes": ["licence_class"],
        "lawful_basis": "consent",
        "retention_days": 90,
        **overrides,
    }


def test_the_providers_admin_creates_and_revises_an_agreement(world):
    transport = AgencyFactory(code="transport")
    admin = _client(staff(Role.AGENCY_ADMIN, transport, username="tom"))
    # when the admin creates an agreement of their agency
    created = _post(admin, f"{BASE}/agreements", _terms())
    # then it has one sealed version, in force
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["provider"] == "transport" and len(body["versions"]) == 1
    assert body["current"]["in_force"] is True and len(body["current"]["snapshot_hash"]) == 64
    # when it is revised, the left-out terms carry over
    revised = _post(admin, f"{BASE}/agreements/{body['id']}/versions", {"retention_days": 30})
    assert revised.status_code == 201, revised.content
    assert revised.json()["version"] == 2 and revised.json()["attributes"] == ["licence_class"]
    # and reading it by code shows both, the newest in force
    read = admin.get(f"{BASE}/agreements/transport-licence-for-benefits").json()
    assert [v["version"] for v in read["versions"]] == [2, 1]
    assert read["current"]["version"] == 2
    listed = admin.get(f"{BASE}/agreements", {"agency": "transport"}).json()
    assert listed["count"] == 1 and listed["items"][0]["current"]["retention_days"] == 30


def test_an_unknown_purpose_is_refused_and_nothing_is_stored(world):
    admin = _client(staff(Role.AGENCY_ADMIN, AgencyFactory(code="transport"), username="tom"))
    before = DataAgreementVersion.objects.count()
    response = _post(admin, f"{BASE}/agreements", _terms(purpose="selling-lists"))
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "unknown_purpose"
    assert DataAgreementVersion.objects.count() == before
    assert not Purpose.objects.filter(code="selling-lists").exists()


def test_another_agency_cannot_make_agreements_for_the_provider(world):
    admin = _client(staff(Role.AGENCY_ADMIN, AgencyFactory(code="health"), username="hed"))
    AgencyFactory(code="transport")
    assert _post(admin, f"{BASE}/agreements", _terms()).status_code == 403


def test_a_citizen_gives_downloads_a_receipt_and_withdraws(world):
    citizen = _citizen(world["citizen"])
    ref = str(world["agreement"].pk)
    # when the citizen gives consent
    given = _post(citizen, f"{BASE}/me/consents", {"agreement_id": ref, "state": "given"})
    assert given.status_code == 200, given.content
    record = given.json()
    assert record["state"] == "given" and record["person_id"] == world["person"].pk
    # then it is listed among their consents
    assert [c["id"] for c in citizen.get(f"{BASE}/me/consents").json()] == [record["id"]]
    # and its receipt downloads as a JSON attachment with the signed event
    receipt = citizen.get(f"{BASE}/me/consents/{record['id']}/receipt")
    assert receipt.status_code == 200
    assert receipt["Content-Disposition"].startswith("attachment; filename=")
    assert json.loads(receipt.content)["events"][0]["event_type"] == "given"
    # when they withdraw, it counts; withdrawing again is refused with the reason
    withdrawn = _post(citizen, f"{BASE}/me/consents", {"agreement_id": ref, "state": "withdrawn"})
    assert withdrawn.json()["state"] == "withdrawn" and withdrawn.json()["revision"] == 2
    again = _post(citizen, f"{BASE}/me/consents", {"agreement_id": ref, "state": "withdrawn"})
    assert again.status_code == 409 and again.json()["code"] == "consent_unchanged"


def test_a_bad_state_or_an_expired_agreement_is_refused(world):
    citizen = _citizen(world["citizen"])
    ref = str(world["agreement"].pk)
    bad = _post(citizen, f"{BASE}/me/consents", {"agreement_id": ref, "state": "maybe"})
    assert bad.status_code == 400 and "payload.state" in bad.json()["errors"]
    DataAgreementVersion.objects.filter(agreement=world["agreement"]).update(
        valid_until=timezone.now() - timedelta(days=1)
    )
    expired = _post(citizen, f"{BASE}/me/consents", {"agreement_id": ref, "state": "given"})
    assert expired.status_code == 409 and expired.json()["code"] == "agreement_not_in_force"
    assert "expired" in expired.json()["detail"]


def test_a_citizen_without_a_person_is_told_to_verify_first(world):
    response = _citizen(CitizenFactory(username="newcomer")).get(f"{BASE}/me/consents")
    assert response.status_code == 409 and response.json()["code"] == "person_not_linked"


def test_staff_of_the_agreement_see_its_consents_and_each_read_is_recorded(world):
    services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["agreement"]
    )
    # when the consuming agency's caseworker lists the agreement's consents
    page = _client(world["caseworker"]).get(f"{BASE}/agreements/{world['agreement'].pk}/consents")
    # then the record is there and the read is in the citizen's "who accessed my data"
    assert page.status_code == 200, page.content
    assert page.json()["count"] == 1
    log = _citizen(world["citizen"]).get(f"{BASE}/me/access-log").json()
    assert [(e["actor"], e["action"]) for e in log] == [("cas", "consent.read")]
    assert log[0]["roles"] == ["caseworker"]
    # and staff of an agency not party to it are refused
    outsider = _client(staff(Role.CASEWORKER, AgencyFactory(code="health"), username="hal"))
    refused = outsider.get(f"{BASE}/agreements/{world['agreement'].pk}/consents")
    assert refused.status_code == 403
    bad_page = _client(world["caseworker"]).get(
        f"{BASE}/agreements/{world['agreement'].pk}/consents", {"limit": 0}
    )
    assert bad_page.status_code == 400


def test_the_chain_of_a_record_is_verified_and_tampering_shows(world):
    who = {"actor": world["citizen"], "person": world["person"], "agreement": world["agreement"]}
    services.consent_give(**who)
    record = services.consent_withdraw(**who)
    client = _client(world["caseworker"])
    ok = client.get(f"{BASE}/records/{record.pk}/chain").json()
    assert ok == {"record_id": str(record.pk), "ok": True, "checked": 2, "reason": ""}
    record.revisions.filter(revision=1).update(hash="0" * 64)
    broken = client.get(f"{BASE}/records/{record.pk}/chain").json()
    assert broken["ok"] is False and broken["reason"].startswith("revision")


def test_a_disclosure_delay_hides_an_investigating_agencys_reads_until_it_ends(world):
    services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["agreement"]
    )
    supervisor = _client(staff(Role.SUPERVISOR, world["social"], username="sup"))
    # given the caseworker read the consents
    _client(world["caseworker"]).get(f"{BASE}/agreements/{world['agreement'].pk}/consents")
    # when a supervisor of the agency delays disclosure for an investigation
    until = (timezone.now() + timedelta(days=30)).isoformat()
    body = {"person_id": world["person"].pk, "agency": "social-services", "until": until}
    created = _post(supervisor, f"{BASE}/disclosure-delays", body | {"reason": "fraud inquiry"})
    assert created.status_code == 201, created.content
    # then the citizen does not see the agency's reads yet
    assert _citizen(world["citizen"]).get(f"{BASE}/me/access-log").json() == []
    # and a delay in the past, without a reason, or by another agency is refused
    past = (timezone.now() - timedelta(days=1)).isoformat()
    bad = _post(supervisor, f"{BASE}/disclosure-delays", body | {"until": past, "reason": " "})
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"until", "reason"}
    other = _client(staff(Role.SUPERVISOR, AgencyFactory(code="health"), username="hs"))
    refused = _post(other, f"{BASE}/disclosure-delays", body | {"reason": "x"})
    assert refused.status_code == 403
    assert AuditEntry.objects.filter(action="disclosure.delay").count() == 1


def test_every_route_has_an_operation_id_and_declares_its_permission():
    from core.access import declared_permission

    for path_view in router.path_operations.values():
        for operation in path_view.operations:
            assert operation.operation_id, operation.view_func
            assert declared_permission(operation.view_func), operation.view_func
