import pytest
from django.conf import settings

from identity.tests.factories import PASSWORD, CitizenFactory

pytestmark = pytest.mark.django_db


def test_pages_carry_security_headers(client):
    response = client.get("/accounts/login/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_api_answers_carry_request_id_and_nosniff(client):
    response = client.get("/api/v1/me")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert len(response["X-Request-ID"]) >= 16


def test_session_cookie_is_http_only_secure_and_same_site(client):
    citizen = CitizenFactory()
    client.post("/accounts/login/", {"username": citizen.username, "password": PASSWORD})
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    # outside DEBUG, cookies only travel over HTTPS
    assert cookie["secure"]


def test_passwords_are_hashed_with_argon2_outside_tests():
    from config.settings import base

    assert base.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_login_form_is_csrf_protected():
    from django.test import Client

    citizen = CitizenFactory()
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": citizen.username, "password": PASSWORD})
    assert response.status_code == 403
