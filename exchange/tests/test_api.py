"""The exchange API: wiring, authorisation, refusals as problem+json, the message log."""

import pytest
from django.test import Client

from consent import services as consent_services
from exchange.models import Message
from identity import services as identity_services
from identity.choices import Role
from identity.tests.factories import staff

pytestmark = pytest.mark.django_db

BASE = "/api/v1/exchange"
URL = f"{BASE}/agencies/revenue/services/income-for-tax-year/requests"


def _client(user, scopes=("exchange:read", "exchange:write", "audit:read")):
    user.civic_system = True  # stands in for the MFA session that mints the token
    _, raw = identity_services.api_token_create(actor=user, name="t", scopes=list(scopes))
    user.civic_system = False
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _ask(client, world, **body):
    payload = {
        "person": world["person"].pk,
        "purpose": "child-benefit-eligibility",
        "params": {"tax_year": 2025},
    } | body
    return client.post(URL, payload, content_type="application/json")


def test_a_caseworker_gets_the_agreed_attributes_once_the_citizen_consents(world):
    client = _client(world["caseworker"])
    # without consent: 403 problem+json naming the reason
    refused = _ask(client, world)
    assert refused.status_code == 403
    assert refused["Content-Type"].startswith("application/problem+json")
    assert refused.json()["code"] == "consent_required"
    # with consent: the data, and what was withheld
    consent_services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["version"].agreement
    )
    answer = _ask(client, world)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["data"] == {"found": True, "income_band": "B", "tax_year": 2025}
    assert body["lawful_basis"] == "consent"


def test_bad_parameters_and_unknown_purposes_are_400_with_reasons(world):
    client = _client(world["caseworker"])
    bad = _ask(client, world, params={"tax_year": "soon"})
    assert bad.status_code == 400 and "tax_year" in bad.json()["errors"]
    unknown = _ask(client, world, purpose="curiosity")
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_purpose"
    assert Message.objects.filter(kind="denied").count() == 2


def test_auditors_browse_and_verify_the_log_and_read_bodies_with_an_audit_entry(world):
    consent_services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["version"].agreement
    )
    _ask(_client(world["caseworker"]), world)
    auditor = staff(Role.PLATFORM_ADMIN)
    client = _client(auditor)
    listing = client.get(f"{BASE}/messages", {"person": world["person"].pk}).json()
    assert [m["kind"] for m in listing["items"]] == ["response", "request"]
    seq = listing["items"][0]["seq"]
    detail = client.get(f"{BASE}/messages/{seq}").json()
    assert detail["body"]["data"]["income_band"] == "B" and detail["body_intact"]
    assert client.post(f"{BASE}/messages/verify").json()["ok"] is True
    # a caseworker is not an auditor
    assert _client(world["caseworker"]).get(f"{BASE}/messages").status_code == 403


def test_the_catalogue_lists_published_services_to_staff_but_not_citizens(world):
    listing = _client(world["caseworker"]).get(f"{BASE}/services").json()
    assert [s["code"] for s in listing["items"]] == ["income-for-tax-year"]
    assert _client(world["citizen"]).get(f"{BASE}/services").status_code == 403
