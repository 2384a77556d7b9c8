import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from identity import services
from identity.choices import Role
from identity.models import ApiToken
from identity.tests.factories import PASSWORD, AgencyFactory, CitizenFactory, staff, verified

pytestmark = pytest.mark.django_db


def _token(user, scopes, **kwargs):
    _, raw = services.api_token_create(actor=user, name="t", scopes=scopes, **kwargs)
    return raw


def _bearer(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_anonymous_gets_problem_json_401(client):
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "not_authenticated"
    assert body["status"] == 401
    assert body["instance"] == "/api/v1/me"


def test_token_authenticates_and_reports_profile(client):
    citizen = CitizenFactory(username="maria")
    raw = _token(citizen, ["profile:read"])
    response = client.get("/api/v1/me", **_bearer(raw))
    assert response.status_code == 200
    assert response.json()["username"] == "maria"


def test_secret_is_not_stored_only_its_digest(client):
    citizen = CitizenFactory()
    raw = _token(citizen, ["profile:read"])
    token = ApiToken.objects.get(user=citizen)
    assert raw not in (token.digest, token.prefix)
    assert raw.startswith(f"cs_{token.prefix}_")


def test_token_without_scope_gets_403_with_code(client):
    citizen = CitizenFactory()
    raw = _token(citizen, ["identity:read"])
    response = client.get("/api/v1/me", **_bearer(raw))
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert "scope" in response.json()["detail"]


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_revoked_or_expired_token_is_refused(client, state):
    citizen = CitizenFactory()
    raw = _token(citizen, ["profile:read"])
    token = ApiToken.objects.get(user=citizen)
    if state == "revoked":
        services.api_token_revoke(actor=citizen, token_id=token.pk)
    else:
        ApiToken.objects.filter(pk=token.pk).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )
    assert client.get("/api/v1/me", **_bearer(raw)).status_code == 401


def test_malformed_bearer_is_401_not_500(client):
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer x" * 300).status_code == 401


def test_session_user_can_create_token_and_token_cannot(client):
    citizen = CitizenFactory()
    client.force_login(citizen)
    response = client.post(
        "/api/v1/tokens",
        data=json.dumps({"name": "cli", "scopes": ["profile:read", "tokens:write"], "days": 7}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    raw = response.json()["token"]
    # the token cannot mint another token (session-only route)
    other = Client().post(
        "/api/v1/tokens",
        data=json.dumps({"name": "x", "scopes": ["profile:read"]}),
        content_type="application/json",
        **_bearer(raw),
    )
    assert other.status_code == 401
    # and it does not list or revoke tokens either
    assert Client().get("/api/v1/tokens", **_bearer(raw)).status_code == 403


def test_unknown_scope_is_a_validation_problem(client):
    citizen = CitizenFactory()
    client.force_login(citizen)
    response = client.post(
        "/api/v1/tokens",
        data=json.dumps({"name": "cli", "scopes": ["root:all"]}),
        content_type="application/json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_scopes"
    assert "root:all" in body["errors"]["scopes"][0]
    assert "profile:read" in body["allowed"]


def test_schema_violation_lists_field_errors(client):
    client.force_login(CitizenFactory())
    response = client.post("/api/v1/tokens", data="{}", content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "validation_failed"
    assert set(body["errors"]) >= {"payload.name", "payload.scopes"} or set(body["errors"]) >= {
        "name",
        "scopes",
    }


def test_session_post_without_csrf_is_refused():
    citizen = CitizenFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(citizen)
    response = client.post(
        "/api/v1/tokens",
        data=json.dumps({"name": "cli", "scopes": ["profile:read"]}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not ApiToken.objects.exists()


def test_staff_session_without_mfa_cannot_use_api():
    # given a caseworker signed in by password only (no OTP verification)
    worker = staff(Role.CASEWORKER)
    client = Client()
    client.force_login(worker)
    # then the API refuses them
    response = client.get("/api/v1/me")
    assert response.status_code == 403
    assert "multi-factor" in response.json()["detail"]


def test_agency_admin_creates_staff_in_own_agency_only():
    health, revenue = AgencyFactory(code="health"), AgencyFactory(code="revenue")
    admin = verified(staff(Role.AGENCY_ADMIN, health))
    raw = _token(admin, ["identity:write", "identity:read"])
    payload = {
        "username": "new.nurse",
        "password": "a-long-enough-password",
        "roles": ["caseworker"],
    }
    ok = Client().post(
        "/api/v1/agencies/health/staff",
        data=json.dumps(payload),
        content_type="application/json",
        **_bearer(raw),
    )
    assert ok.status_code == 201, ok.content
    assert ok.json()["roles"] == [{"role": "caseworker", "agency": "health"}]
    payload["username"] = "intruder"
    denied = Client().post(
        "/api/v1/agencies/revenue/staff",
        data=json.dumps(payload),
        content_type="application/json",
        **_bearer(raw),
    )
    assert denied.status_code == 403
    listed = Client().get("/api/v1/agencies/health/staff", **_bearer(raw))
    assert [s["username"] for s in listed.json()] == sorted([admin.username, "new.nurse"])
    assert revenue.members.count() == 0


def test_weak_password_is_reported_beside_the_field():
    agency = AgencyFactory(code="health")
    admin = verified(staff(Role.AGENCY_ADMIN, agency))
    raw = _token(admin, ["identity:write"])
    response = Client().post(
        "/api/v1/agencies/health/staff",
        data=json.dumps({"username": "weak", "password": "short"}),
        content_type="application/json",
        **_bearer(raw),
    )
    assert response.status_code == 400
    assert "password" in response.json()["errors"]


def test_unknown_agency_is_404_problem():
    admin = verified(staff(Role.PLATFORM_ADMIN))
    raw = _token(admin, ["identity:read"])
    response = Client().get("/api/v1/agencies/nowhere/staff", **_bearer(raw))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_duplicate_agency_is_409():
    admin = verified(staff(Role.PLATFORM_ADMIN))
    raw = _token(admin, ["identity:write"])
    body = json.dumps({"code": "transport", "name": "Transport"})
    first = Client().post(
        "/api/v1/agencies", data=body, content_type="application/json", **_bearer(raw)
    )
    again = Client().post(
        "/api/v1/agencies", data=body, content_type="application/json", **_bearer(raw)
    )
    assert first.status_code == 201
    assert again.status_code == 409
    assert again.json()["code"] == "agency_exists"


def test_role_grant_and_revoke_through_api():
    agency = AgencyFactory(code="social")
    admin = verified(staff(Role.AGENCY_ADMIN, agency))
    worker = staff(Role.CASEWORKER, agency, username="cw")
    raw = _token(admin, ["identity:write"])
    body = json.dumps({"username": "cw", "role": "supervisor"})
    granted = Client().post(
        "/api/v1/agencies/social/roles", data=body, content_type="application/json", **_bearer(raw)
    )
    assert granted.status_code == 201
    assert worker.role_assignments.filter(role="supervisor").exists()
    revoked = Client().delete(
        "/api/v1/agencies/social/roles", data=body, content_type="application/json", **_bearer(raw)
    )
    assert revoked.status_code == 204
    assert not worker.role_assignments.filter(role="supervisor").exists()
    bad = Client().post(
        "/api/v1/agencies/social/roles",
        data=json.dumps({"username": "cw", "role": "emperor"}),
        content_type="application/json",
        **_bearer(raw),
    )
    assert bad.status_code == 400
    assert "role" in bad.json()["errors"]


def test_password_login_of_staff_is_not_enough_for_api(client):
    worker = staff(Role.CASEWORKER)
    response = client.post("/accounts/login/", {"username": worker.username, "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/api/v1/me").status_code == 401


def test_oversized_body_is_413_problem_not_500(client):
    client.force_login(CitizenFactory())
    body = json.dumps({"name": "x" * (3 * 1024 * 1024), "scopes": ["profile:read"]})
    response = client.post("/api/v1/tokens", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
