"""The 360° view: a person across agencies, as far as role and consent allow, audited."""

import pytest
from django.test import Client

from consent import services as consent_services
from core.models import AuditEntry
from exchange.models import Message
from identity.choices import Role
from identity.tests.factories import staff, verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def caseworker_client(world, monkeypatch):
    from identity import policy

    monkeypatch.setattr(policy, "mfa_satisfied", lambda user: True)
    client = Client()
    client.force_login(world["caseworker"])
    return client


def _open(client, person, purpose="checking a child benefit claim", **more):
    return client.get(f"/workspace/people/{person.pk}/", {"purpose": purpose, **more})


def test_the_view_asks_for_a_purpose_first_and_refuses_a_blank_one(world, caseworker_client):
    # when the caseworker opens the view without a purpose
    first = caseworker_client.get(f"/workspace/people/{world['person'].pk}/")
    # then they are asked why, and nothing about the person is shown or audited
    assert first.status_code == 200
    assert "Why are you looking at this person?" in first.text
    assert "Maria" not in first.text
    assert not AuditEntry.objects.filter(action="person.overview").exists()
    # and a two-letter purpose is refused beside the field
    short = _open(caseworker_client, world["person"], purpose="ab")
    assert short.status_code == 400
    assert 'id="id_purpose_error"' in short.text


def test_the_view_shows_the_person_and_records_the_look_with_its_purpose(world, caseworker_client):
    # when the caseworker opens the view for a purpose
    response = _open(caseworker_client, world["person"])
    # then the person's name shows; Revenue's and the portal's records are counted, not shown
    assert response.status_code == 200
    assert "Maria" in response.text
    assert "RV1" not in response.text
    assert "2 more records are held by other agencies" in response.text
    # and the look is in the audit trail under the person, with the purpose
    entry = AuditEntry.objects.get(action="person.overview")
    assert entry.subject_person == world["person"].pk
    assert entry.purpose == "checking a child benefit claim"
    assert entry.data["shared_services"] == ["revenue/income-for-tax-year"]


def test_without_consent_another_agencys_data_cannot_be_asked_for(world, caseworker_client):
    # given the person has not consented to Revenue sharing income with Social Services
    response = _open(caseworker_client, world["person"])
    # then the view says so and offers no button to ask
    assert "Not given" in response.text
    assert "Ask Revenue" not in response.text


def test_with_consent_the_caseworker_asks_revenue_through_the_exchange(world, caseworker_client):
    # given the citizen consented
    consent_services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["version"].agreement
    )
    page = _open(caseworker_client, world["person"])
    assert "Ask Revenue" in page.text
    service_id = page.text.split('name="service" value="')[1].split('"')[0]
    # when the caseworker asks for the 2025 income
    answer = caseworker_client.post(
        f"/workspace/people/{world['person'].pk}/shared/",
        {
            "purpose": "checking a child benefit claim",
            "case": "CB-1",
            "service": service_id,
            "agreement_purpose": world["version"].purpose.code,
            f"s{service_id.replace('-', '')[:8]}-tax_year": "2025",
        },
        headers={"HX-Request": "true"},
    )
    # then only the agreed attributes come back, into the panel
    assert answer.status_code == 200
    assert "income_band" in answer.text and "B" in answer.text
    assert "tax_reference" not in answer.text and "employment_status" not in answer.text
    assert "<html" not in answer.text  # a fragment for htmx, not a page
    # and the exchange logged request and response for the case
    kinds = set(Message.objects.filter(case_ref="CB-1").values_list("kind", flat=True))
    assert {"request", "response"} <= kinds


def test_a_bad_parameter_is_shown_beside_its_field_and_nothing_is_asked(world, caseworker_client):
    consent_services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["version"].agreement
    )
    page = _open(caseworker_client, world["person"])
    service_id = page.text.split('name="service" value="')[1].split('"')[0]
    prefix = f"s{service_id.replace('-', '')[:8]}"
    # when the tax year is not a number (a full page post, without htmx)
    answer = caseworker_client.post(
        f"/workspace/people/{world['person'].pk}/shared/",
        {
            "purpose": "checking a child benefit claim",
            "service": service_id,
            "agreement_purpose": world["version"].purpose.code,
            f"{prefix}-tax_year": "last year",
        },
    )
    # then the page comes back with the error beside the field, and nothing was sent
    assert answer.status_code == 400
    assert f'id="id_{prefix}-tax_year_error"' in answer.text
    assert not Message.objects.exists()


def test_an_unknown_service_is_not_found(world, caseworker_client):
    answer = caseworker_client.post(
        f"/workspace/people/{world['person'].pk}/shared/",
        {"purpose": "checking a claim", "service": "not-a-uuid"},
    )
    assert answer.status_code == 404


def test_staff_of_an_agency_with_no_role_for_people_are_refused(world):
    analyst = verified(staff(Role.POLICY_ANALYST, world["social"]))
    client = Client()
    client.force_login(analyst)
    response = _open(client, world["person"])
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(action="person.overview").exists()


def test_a_citizen_cannot_open_the_staff_view(world):
    client = Client()
    client.force_login(world["citizen"])
    assert _open(client, world["person"]).status_code == 403
