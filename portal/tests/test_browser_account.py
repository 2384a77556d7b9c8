"""Signing up and proving who one is, in a real browser: accessible, keyboard only."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from core.testing.browser import screenshot
from identity.tests.factories import AgencyFactory
from registry.models import Person, SourceRecord

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_newcomer_signs_up_and_links_their_account_by_keyboard(browser_page, axe_check):
    person = Person.objects.create(given_name="Maria", family_name="Lopez")
    SourceRecord.objects.create(
        agency=AgencyFactory(code="health", name="Health Service"),
        agency_record_id="HS1",
        person=person,
        given_name="Maria",
        family_name="Lopez",
        date_of_birth=dt.date(1984, 6, 2),
        national_id="1234567897",
    )
    page = browser_page
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Create an account").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    axe_check(page)
    page.get_by_label("Given name").focus()
    for value in ("Maria", "Lopez", "maria@example.org", "maria", "a long enough pass phrase"):
        page.keyboard.type(value)
        page.keyboard.press("Tab")
    page.get_by_label("Password again").fill("a long enough pass phrase")
    page.get_by_label("Password again").press("Enter")
    expect(page.get_by_role("heading", name="Prove who you are")).to_be_visible()
    axe_check(page)
    # a wrong date first: the error sits beside the form, with the tries left
    page.get_by_label("National ID").fill("1234567897")
    page.get_by_label("Date of birth").fill("1984-06-03")
    page.get_by_role("button", name="Check my details").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("you have 4 tries left today")
    axe_check(page)
    page.get_by_label("Date of birth").fill("1984-06-02")
    page.get_by_role("button", name="Check my details").click()
    expect(page.get_by_text("Your identity is verified: your account is linked.")).to_be_visible()
    axe_check(page)
    screenshot(page, "portal-verified")
