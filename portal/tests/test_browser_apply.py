"""Applying in a real browser: every page accessible, the whole application by keyboard."""

import re

import pytest
from playwright.sync_api import expect

from cases.models import Case
from core.testing.browser import overflows_horizontally, screenshot
from identity.tests.factories import PASSWORD
from portal.tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def maria():
    return factories.linked_citizen(address_line="4 Mill Lane", postcode="NT9 9ZZ")


@pytest.fixture
def long_service():
    return factories.deploy(form=factories.LONG_FORM).service


def test_the_catalogue_and_life_events_have_no_axe_violations(
    browser_page, axe_check, sign_in, maria, long_service
):
    page = browser_page
    sign_in(page, maria, PASSWORD)
    page.goto("/portal/services/")
    expect(page.get_by_role("link", name="Test benefit")).to_be_visible()
    axe_check(page)
    page.get_by_role("link", name="Find services by life event").click()
    expect(page.get_by_role("heading", name="Life events")).to_be_visible()
    axe_check(page)
    page.get_by_role("link", name="Having a baby").click()
    expect(page.get_by_role("link", name="Test benefit")).to_be_visible()
    axe_check(page)
    page.goto("/portal/life-events/after-a-death/")
    expect(page.get_by_text("There is no online service for this life event yet.")).to_be_visible()
    axe_check(page)


def _continue_by_keyboard(page):
    """Tab from the answer to the Continue button and press it."""
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent").strip() == "Continue"
    page.keyboard.press("Enter")


def test_a_citizen_applies_by_keyboard_alone_and_every_step_is_accessible(
    browser_page, axe_check, sign_in, maria, long_service
):
    page = browser_page
    sign_in(page, maria, PASSWORD)
    page.goto(f"/portal/services/{long_service.code}/apply/")
    axe_check(page)
    page.get_by_role("button", name="Start now").focus()
    page.keyboard.press("Enter")
    # question 1: the address, pre-filled from Health's record, kept as it is
    expect(page.get_by_text("Question 1 of 8")).to_be_visible()
    field = page.get_by_label("Your address")
    expect(field).to_have_value("4 Mill Lane")
    expect(page.get_by_text("From Health Service records, updated 3 May 2025.")).to_be_visible()
    axe_check(page)
    screenshot(page, "portal-apply-prefilled")
    field.focus()
    page.keyboard.press("Enter")
    # question 2: the postcode, pre-filled too, changed by the citizen
    expect(page.get_by_text("Question 2 of 8")).to_be_visible()
    page.get_by_label("Postcode").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("NT1 1AA")
    page.keyboard.press("Enter")
    # question 3: a wrong answer first: the error is beside the field and in the summary
    expect(page.get_by_text("Question 3 of 8")).to_be_visible()
    page.get_by_label("Your age").focus()
    page.keyboard.type("forty")
    page.keyboard.press("Enter")
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    expect(page.locator("#id_age_error")).to_be_visible()
    axe_check(page)
    page.get_by_label("Your age").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("41")
    page.keyboard.press("Enter")
    # question 4
    expect(page.get_by_text("Question 4 of 8")).to_be_visible()
    axe_check(page)
    page.get_by_label("Household income last year").focus()
    page.keyboard.type("12000")
    page.keyboard.press("Enter")
    # question 5: yes / no radios, chosen with the space bar
    expect(page.get_by_text("Question 5 of 8")).to_be_visible()
    axe_check(page)
    page.get_by_label("No").focus()
    page.keyboard.press("Space")
    _continue_by_keyboard(page)
    # question 6: radios with their labels from x-labels
    expect(page.get_by_text("Question 6 of 8")).to_be_visible()
    axe_check(page)
    page.get_by_label("Rented").focus()
    page.keyboard.press("Space")
    _continue_by_keyboard(page)
    # question 7 (a date, optional) and 8 (a document, optional): left out
    expect(page.get_by_text("Question 7 of 8")).to_be_visible()
    axe_check(page)
    page.get_by_label("When you moved in").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Question 8 of 8")).to_be_visible()
    axe_check(page)
    page.get_by_label("Proof of income").focus()
    _continue_by_keyboard(page)
    # check your answers, then send
    expect(page.get_by_role("heading", name=re.compile("Check your answers"))).to_be_visible()
    axe_check(page)
    expect(page.locator(".govuk-summary-list")).to_contain_text("NT1 1AA")
    expect(page.locator(".govuk-summary-list")).to_contain_text("Rented")
    screenshot(page, "portal-apply-check-answers")
    page.get_by_role("button", name="Accept and send").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/portal/cases/[^/]+/$"))
    case = Case.objects.get(applicant=maria)
    assert page.url.endswith(f"/portal/cases/{case.reference}/")
    assert case.data["postcode"] == "NT1 1AA" and case.data["age"] == 41


def test_an_application_page_reflows_at_320_pixels(
    browser_page, axe_check, sign_in, maria, long_service
):
    page = browser_page
    page.set_viewport_size({"width": 320, "height": 640})
    sign_in(page, maria, PASSWORD)
    page.goto(f"/portal/services/{long_service.code}/apply/")
    page.get_by_role("button", name="Start now").click()
    expect(page.get_by_label("Your address")).to_be_visible()
    assert not overflows_horizontally(page)
    axe_check(page)
