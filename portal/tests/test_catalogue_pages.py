"""The service catalogue and the life-event guide."""

import pytest
from django.test import Client

from identity.services import system_actor
from identity.tests.factories import AgencyFactory, CitizenFactory
from portal.life_events import LIFE_EVENTS
from portal.tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    client = Client()
    client.force_login(CitizenFactory(username="reader"))
    return client


@pytest.fixture
def two_agencies():
    """Health's benefit (having a child) and Transport's licence (moving home)."""
    factories.deploy(code="baby-grant", name="Baby grant", life_events=["having-a-child"])
    AgencyFactory(code="transport", name="Transport Agency")
    files = factories.service_files(code="licence-address", name="Licence address")
    files["service.yaml"] = (
        files["service.yaml"]
        .replace("agency: health", "agency: transport")
        .replace("life_events: [having-a-child]", "life_events: [moving-house]")
    )
    from cases.services import definitions

    definitions.service_deploy(actor=system_actor(), files=files)


def test_the_catalogue_lists_every_active_service_grouped_by_agency(client, two_agencies):
    page = client.get("/portal/services/").content.decode()
    assert "Baby grant" in page and "Licence address" in page
    # grouped under each agency's name, in order
    assert page.index("Health Service") < page.index("Baby grant")
    assert page.index("Transport Agency") < page.index("Licence address")
    assert 'href="/portal/services/baby-grant/apply/"' in page


def test_the_catalogue_filters_by_agency(client, two_agencies):
    page = client.get("/portal/services/?agency=transport").content.decode()
    assert "Licence address" in page and "Baby grant" not in page
    assert 'aria-current="page"' in page


def test_an_unknown_agency_filter_shows_everything(client, two_agencies):
    page = client.get("/portal/services/?agency=nowhere").content.decode()
    assert "Licence address" in page and "Baby grant" in page


def test_the_life_event_guide_lists_every_event_and_says_when_there_is_no_service(
    client, two_agencies
):
    page = client.get("/portal/life-events/").content.decode()
    for event in LIFE_EVENTS:
        assert str(event.name) in page
    assert "No online service yet" in page  # e.g. after a death


def test_a_life_event_shows_the_services_tagged_with_it(client, two_agencies):
    page = client.get("/portal/life-events/having-a-child/").content.decode()
    assert "Having a baby" in page and "Baby grant" in page and "Licence address" not in page
    assert "From Health Service" in page


def test_a_life_event_without_services_says_so_plainly(client, two_agencies):
    page = client.get("/portal/life-events/after-a-death/").content.decode()
    assert "There is no online service for this life event yet." in page


def test_a_life_event_alias_leads_to_the_event_and_an_unknown_one_is_not_found(client):
    assert client.get("/portal/life-events/moving-home/")["Location"] == (
        "/portal/life-events/moving-house/"
    )
    assert client.get("/portal/life-events/winning-the-lottery/").status_code == 404


def test_the_start_page_describes_the_service_and_offers_a_draft_to_continue(client, two_agencies):
    page = client.get("/portal/services/baby-grant/apply/").content.decode()
    assert "Baby grant" in page and "Start now" in page
    client.post("/portal/services/baby-grant/apply/")
    page = client.get("/portal/services/baby-grant/apply/").content.decode()
    assert "Continue the application you last saved" in page


def test_a_service_not_active_has_no_apply_page(client):
    assert client.get("/portal/services/nothing-here/apply/").status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in():
    response = Client().get("/portal/services/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
