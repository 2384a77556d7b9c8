"""The sign-in pages in a real browser: accessible, keyboard-only, reflow at 320 px."""

import pytest
from playwright.sync_api import expect

from core.testing.browser import overflows_horizontally, screenshot
from identity.choices import Role
from identity.tests.factories import PASSWORD, AgencyFactory, CitizenFactory, staff, totp_device

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_page_has_no_axe_violations_and_shows_errors_beside_fields(browser_page, axe_check):
    page = browser_page
    page.goto("/accounts/login/")
    axe_check(page)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    expect(page.locator("#id_username_error")).to_contain_text("This field is required")
    axe_check(page)


def test_a_citizen_signs_in_with_the_keyboard_alone(browser_page):
    user = CitizenFactory()
    page = browser_page
    page.goto("/accounts/login/")
    page.keyboard.press("Tab")  # the skip link comes first
    assert page.evaluate("document.activeElement.textContent").strip() == "Skip to main content"
    page.get_by_label("Username").focus()
    page.keyboard.type(user.username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Your services")).to_be_visible()
    screenshot(page, "identity-citizen-signed-in")


def test_the_sign_in_page_reflows_at_320_pixels(browser_page, axe_check):
    page = browser_page
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto("/accounts/login/")
    assert not overflows_horizontally(page)
    axe_check(page)


def _password_step(page, user):
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()


def test_the_authenticator_setup_page_and_a_wrong_code_have_no_axe_violations(
    browser_page, axe_check
):
    # given a staff member who has not set up an authenticator app yet
    user = staff(Role.CASEWORKER, AgencyFactory(code="health", name="Health"))
    page = browser_page
    _password_step(page, user)
    # then they are asked to set it up, with a QR code and the key as text
    expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    expect(page.locator("figure svg")).to_be_visible()
    axe_check(page)
    # and a wrong code is an error beside the field
    page.get_by_label("Security code").fill("000000")
    page.get_by_role("button", name="Confirm and sign in").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    axe_check(page)
    screenshot(page, "identity-mfa-setup-error")


def test_the_security_code_page_and_a_wrong_code_have_no_axe_violations(browser_page, axe_check):
    # given a staff member with an authenticator app
    user = staff(Role.CASEWORKER, AgencyFactory(code="health", name="Health"))
    totp_device(user)
    page = browser_page
    _password_step(page, user)
    expect(page.get_by_role("heading", name="Enter your security code")).to_be_visible()
    axe_check(page)
    page.get_by_label("Security code").fill("000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    axe_check(page)


def test_the_staff_home_and_not_allowed_pages_have_no_axe_violations(
    browser_page, axe_check, sign_in
):
    user = staff(Role.POLICY_ANALYST, AgencyFactory(code="health", name="Health"))
    totp_device(user)
    page = browser_page
    sign_in(page, user, PASSWORD)
    page.goto("/")
    expect(page.get_by_role("heading", name="Your roles")).to_be_visible()
    axe_check(page)
    # a staff page their role does not allow tells them why, accessibly
    page.goto("/cases/work/")
    expect(page.get_by_role("heading", name="You are not allowed to see this page")).to_be_visible()
    axe_check(page)
