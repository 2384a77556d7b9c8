"""The 360° view in a real browser: accessible, and asking another agency works in place."""

import pytest
from playwright.sync_api import expect

from consent import services as consent_services
from core.testing.browser import screenshot
from exchange.models import Message
from identity.tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_caseworker_opens_the_360_view_and_asks_revenue_in_place(
    world, browser_page, axe_check, sign_in
):
    consent_services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["version"].agreement
    )
    page = browser_page
    sign_in(page, world["caseworker"], PASSWORD)
    # the purpose comes first
    page.goto(f"/workspace/people/{world['person'].pk}/")
    axe_check(page)
    page.get_by_label("Why are you looking at this person?").fill("checking a benefit claim")
    page.get_by_role("button", name="Open").click()
    expect(page.get_by_role("heading", name="From other agencies")).to_be_visible()
    axe_check(page)
    # asking Revenue swaps the answer into the panel without leaving the page (htmx)
    url = page.url
    page.get_by_label("Tax year").fill("2025")
    page.get_by_role("button", name="Ask Revenue").click()
    expect(page.get_by_text("Signed and logged as exchange")).to_be_visible()
    assert page.url == url
    assert Message.objects.filter(kind="response").count() == 1
    axe_check(page)
    screenshot(page, "workspace-360-view")
