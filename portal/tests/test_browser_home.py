"""The citizen's own pages in a real browser: no axe-core violations, reflow at 320 px, and
the case page with its decision letter kept as a screenshot."""

import pytest
from playwright.sync_api import expect

from cases.services import definitions, engine, overrides
from cases.tests.conftest import TEST_SERVICE
from core.testing.browser import overflows_horizontally, screenshot
from identity.choices import Role
from identity.services import system_actor
from identity.tests.factories import PASSWORD, AgencyFactory, staff, verified
from portal.corrections import correction_services_deploy
from portal.tests.test_home import linked_with_records

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world():
    """A linked citizen with one decided case and one a caseworker overrode."""
    user, _person = linked_with_records()
    health = AgencyFactory(code="health", name="Health")
    service = definitions.service_deploy(actor=system_actor(), directory=TEST_SERVICE).service
    decided = engine.case_submit(
        service=service, data={"age": 40, "income": 10_000}, applicant=user, actor=user
    )
    reviewed = engine.case_submit(
        service=service, data={"age": 40, "income": 25_000}, applicant=user, actor=user
    )
    worker = verified(staff(Role.CASEWORKER, health, username="cas"))
    overrides.case_decision_override(
        decision=reviewed.decisions.get(),
        outcome="approve",
        reason="The payslips show the income fell this year.",
        actor=worker,
    )
    return {"user": user, "decided": decided, "reviewed": reviewed}


def test_dashboard_has_no_axe_violations_and_reflows_at_320_pixels(
    browser_page, axe_check, sign_in, world
):
    page = browser_page
    sign_in(page, world["user"], PASSWORD)
    # signing in lands a citizen on their dashboard
    expect(page.get_by_role("heading", name="Your services", level=1)).to_be_visible()
    expect(page.get_by_text(world["decided"].reference, exact=True)).to_be_visible()
    axe_check(page)
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto("/portal/")
    assert not overflows_horizontally(page)
    axe_check(page)


def test_case_page_shows_the_decision_letter(browser_page, axe_check, sign_in, world):
    page = browser_page
    sign_in(page, world["user"], PASSWORD)
    page.goto("/portal/")
    page.get_by_role("link", name=f"View case {world['reviewed'].reference}").click()
    expect(page.get_by_role("heading", name="The decision and why")).to_be_visible()
    expect(
        page.get_by_text("Their reason: The payslips show the income fell this year.")
    ).to_be_visible()
    axe_check(page)
    screenshot(page, "portal-case-overridden")
    page.goto(f"/portal/cases/{world['decided'].reference}/")
    expect(page.get_by_text("Yearly income is 10000, which is less than 20000")).to_be_visible()
    axe_check(page)
    screenshot(page, "portal-case-decided")
    page.set_viewport_size({"width": 320, "height": 640})
    page.reload()
    assert not overflows_horizontally(page)


def test_your_data_and_a_correction_request_have_no_axe_violations(
    browser_page, axe_check, sign_in, world
):
    correction_services_deploy(
        actor=system_actor(), agencies=[AgencyFactory(code="revenue", name="Revenue")]
    )
    page = browser_page
    sign_in(page, world["user"], PASSWORD)
    page.goto("/portal/your-data/")
    expect(page.get_by_text("From Revenue, record REV-0042").first).to_be_visible()
    axe_check(page)
    page.set_viewport_size({"width": 320, "height": 640})
    page.reload()
    assert not overflows_horizontally(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    # report a mistake: first without a value (the error is shown), then with one
    page.get_by_role("link", name="Report a mistake in your address").click()
    page.get_by_role("button", name="Send to Revenue").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    axe_check(page)
    page.get_by_label("The correct value").fill("14 High Street")
    page.get_by_role("button", name="Send to Revenue").click()
    expect(page.get_by_text("With a caseworker").first).to_be_visible()
    axe_check(page)


def test_tell_us_once_has_no_axe_violations(browser_page, axe_check, sign_in, world):
    page = browser_page
    sign_in(page, world["user"], PASSWORD)
    page.goto("/portal/tell-us-once/")
    expect(page.get_by_text("12 High Street, Northtown, NT1 2AB").first).to_be_visible()
    expect(page.get_by_role("button", name="Start now")).to_be_visible()
    axe_check(page)
    page.set_viewport_size({"width": 320, "height": 640})
    page.reload()
    assert not overflows_horizontally(page)
