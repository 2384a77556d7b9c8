"""The GovStack Information Mediator directory API at /api/govstack/im/."""

import pytest
from django.test import Client

from identity import services as identity_services
from identity.tests.factories import AgencyFactory

pytestmark = pytest.mark.django_db

BASE = "/api/govstack/im"
PROVIDER = f"{BASE}/r1/CIVICSTACK/GOV/revenue/exchange"


def _client(user, **headers):
    user.civic_system = True  # stands in for the MFA session that mints the token
    _, raw = identity_services.api_token_create(actor=user, name="t", scopes=["exchange:read"])
    user.civic_system = False
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}", **headers)


def test_list_clients_names_agencies_their_service_application_and_calling_systems(world):
    identity_services.system_client_register(
        actor=identity_services.system_actor(),
        agency=world["social"],
        identifier="CIVICSTACK/GOV/social-services/benefits",
        name="Benefits system",
    )
    members = _client(world["caseworker"]).get(f"{BASE}/listClients").json()["member"]
    ids = {
        (m["id"]["objectType"], m["id"]["memberCode"], m["id"].get("applicationCode"))
        for m in members
    }
    assert ("MEMBER", "revenue", None) in ids
    assert ("APPLICATION", "revenue", "exchange") in ids
    assert ("APPLICATION", "social-services", "benefits") in ids
    other = _client(world["caseworker"]).get(f"{BASE}/listClients", {"instanceId": "ELSEWHERE"})
    assert other.json() == {"member": []}


def test_list_methods_and_allowed_methods_follow_the_agreements(world):
    caseworker = _client(world["caseworker"])
    methods = caseworker.get(f"{PROVIDER}/listMethods").json()["member"]
    assert [m["serviceCode"] for m in methods] == ["income-for-tax-year"]
    assert methods[0]["endpointList"]["member"][0]["method"] == "POST"
    # social services holds an agreement with revenue: allowed
    allowed = caseworker.get(f"{PROVIDER}/allowedMethods").json()["member"]
    assert [m["serviceCode"] for m in allowed] == ["income-for-tax-year"]
    # transport holds none: nothing allowed
    from identity.choices import Role
    from identity.tests.factories import staff

    clerk = staff(Role.CASEWORKER, AgencyFactory(code="transport"))
    assert _client(clerk).get(f"{PROVIDER}/allowedMethods").json() == {"member": []}


def test_get_openapi_describes_the_service_and_unknowns_are_404(world):
    caseworker = _client(world["caseworker"])
    document = caseworker.get(f"{PROVIDER}/getOpenAPI", {"serviceCode": "income-for-tax-year"})
    assert document.status_code == 200
    body = document.json()
    path = "/api/v1/exchange/agencies/revenue/services/income-for-tax-year/requests"
    params = body["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    assert params["schema"]["properties"]["params"]["required"] == ["tax_year"]
    missing = caseworker.get(f"{PROVIDER}/getOpenAPI", {"serviceCode": "nothing"})
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("application/problem+json")
    assert (
        caseworker.get(f"{BASE}/r1/CIVICSTACK/GOV/nobody/exchange/listMethods").status_code == 404
    )


def test_the_information_mediator_client_header_must_name_a_registered_system(world):
    bad = _client(world["caseworker"], HTTP_INFORMATION_MEDIATOR_CLIENT="not-a-client-id")
    assert bad.get(f"{BASE}/listClients").status_code == 400
    unknown = _client(
        world["caseworker"], HTTP_INFORMATION_MEDIATOR_CLIENT="CIVICSTACK/GOV/social-services/x"
    )
    answer = unknown.get(f"{BASE}/listClients")
    assert answer.status_code == 403 and answer.json()["code"] == "unknown_system_client"
    identity_services.system_client_register(
        actor=identity_services.system_actor(),
        agency=world["revenue"],
        identifier="CIVICSTACK/GOV/revenue/tax",
        name="Tax system",
    )
    # a registered system of another agency cannot be borrowed
    borrowed = _client(
        world["caseworker"], HTTP_INFORMATION_MEDIATOR_CLIENT="CIVICSTACK/GOV/revenue/tax"
    )
    assert borrowed.get(f"{BASE}/listClients").status_code == 403


def test_a_trusted_security_server_header_alone_acts_as_the_systems_account(world, settings):
    identity_services.system_client_register(
        actor=identity_services.system_actor(),
        agency=world["social"],
        identifier="CIVICSTACK/GOV/social-services/benefits",
        name="Benefits system",
        account=world["caseworker"],
    )
    client = Client(HTTP_INFORMATION_MEDIATOR_CLIENT="CIVICSTACK/GOV/social-services/benefits")
    assert client.get(f"{BASE}/listClients").status_code == 401  # not trusted by default
    settings.GOVSTACK_TRUST_IM_HEADER = True
    assert client.get(f"{BASE}/listClients").status_code == 200
