"""The consent pages in a real browser: the citizen's consents, history and access log, and the
staff pages for agreements, purposes, the access log of a person and disclosure delays."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from consent import services
from consent.choices import LawfulBasis
from consent.tests.factories import agreement, linked_citizen
from core import audit
from core.testing.browser import overflows_horizontally, screenshot
from identity.choices import Role
from identity.services import system_actor
from identity.tests.factories import PASSWORD, AgencyFactory, CitizenFactory, staff, totp_device
from identity.tests.factories import verified as _verified

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def revenue():
    return AgencyFactory(code="revenue", name="Revenue")


@pytest.fixture
def shared_data(revenue):
    """An agreement on consent (revised once), one on public task, one that has ended."""
    social = AgencyFactory(code="social-services", name="Social Services")
    transport = AgencyFactory(code="transport", name="Transport")
    first = agreement(provider=revenue, consumer=social)
    services.agreement_revise(
        actor=system_actor(),
        agreement=first.agreement,
        attributes=["income_band", "employment_status", "household_size"],
    )
    agreement(
        code="revenue-address-for-transport",
        provider=revenue,
        consumer=transport,
        purpose_code="vehicle-tax",
        lawful_basis=LawfulBasis.PUBLIC_TASK,
    )
    agreement(
        code="old-health-data",
        provider=revenue,
        consumer=AgencyFactory(code="health", name="Health"),
        purpose_code="health-checks",
        valid_from=timezone.now() - timedelta(days=60),
        valid_until=timezone.now() - timedelta(days=1),
    )
    return first.agreement


def _read(person, agency, role, purpose_text, username):
    reader = staff(role, agency, username=username)
    audit.record(
        actor=reader,
        action="person.read",
        subject_person=person.pk,
        purpose=purpose_text,
        agency=agency.code,
    )
    return reader


@pytest.fixture
def read_person():
    """A linked citizen whose record Health read 30 times and an investigator once, delayed."""
    user, person = linked_citizen()
    health = AgencyFactory(code="health", name="Health")
    police = AgencyFactory(code="investigations", name="Investigations")
    for n in range(30):
        _read(person, health, Role.CASEWORKER, f"check number {n}", f"nurse{n}")
    investigator = _read(person, police, Role.SUPERVISOR, "fraud inquiry", "inv")
    services.disclosure_delay_set(
        actor=_verified(investigator),
        person=person,
        agency=police,
        until=timezone.now() + timedelta(days=90),
        reason="open inquiry",
    )
    return user, person, investigator


def _staff_sign_in(sign_in, page, user):
    totp_device(user)
    sign_in(page, user, PASSWORD)


def test_your_consents_history_and_receipt_links_have_no_axe_violations(
    browser_page, axe_check, sign_in, shared_data
):
    user, _ = linked_citizen()
    page = browser_page
    sign_in(page, user, PASSWORD)
    # when the citizen opens their consents: one agreement asks for consent
    page.goto("/consent/mine/")
    expect(
        page.get_by_role("heading", name="Social Services asks for data from Revenue")
    ).to_be_visible()
    axe_check(page)
    # and gives, then withdraws it
    page.get_by_role("button", name="Give consent").click()
    expect(page.get_by_role("button", name="Withdraw consent")).to_be_visible()
    axe_check(page)
    page.get_by_role("button", name="Withdraw consent").click()
    expect(page.get_by_text("You withdrew your consent on")).to_be_visible()
    screenshot(page, "consent-my-consents")
    # then the history lists both answers and the receipt can be downloaded
    page.get_by_role("link", name="History of this consent").click()
    expect(page.get_by_role("table")).to_contain_text("Withdrawn")
    expect(page.get_by_role("link", name="Download your consent receipt (JSON)")).to_be_visible()
    axe_check(page)
    screenshot(page, "consent-history")


def test_your_consents_reflow_at_320_pixels(browser_page, axe_check, sign_in, shared_data):
    user, _ = linked_citizen()
    page = browser_page
    sign_in(page, user, PASSWORD)
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto("/consent/mine/")
    expect(page.get_by_role("button", name="Give consent")).to_be_visible()
    assert not overflows_horizontally(page)
    axe_check(page)


def test_who_accessed_my_data_has_no_axe_violations(browser_page, axe_check, sign_in, read_person):
    user, _, _ = read_person
    page = browser_page
    sign_in(page, user, PASSWORD)
    page.goto("/consent/mine/access/")
    expect(page.get_by_text("check number 29")).to_be_visible()
    expect(page.get_by_text("Page 1 of 2")).to_be_visible()
    axe_check(page)
    screenshot(page, "consent-my-access-log")
    page.get_by_role("link", name="Older entries").click()
    expect(page.get_by_text("check number 0", exact=True)).to_be_visible()
    axe_check(page)


def test_a_citizen_not_yet_verified_is_told_so_accessibly(browser_page, axe_check, sign_in):
    user = CitizenFactory()
    page = browser_page
    sign_in(page, user, PASSWORD)
    page.goto("/consent/mine/")
    expect(page.get_by_role("heading", name="Verify your identity first")).to_be_visible()
    axe_check(page)


def test_the_agreement_pages_and_form_errors_have_no_axe_violations(
    browser_page, axe_check, sign_in, revenue, shared_data
):
    admin = staff(Role.AGENCY_ADMIN, revenue, username="rev-admin")
    page = browser_page
    _staff_sign_in(sign_in, page, admin)
    # the list, with agreements in force and ended
    page.goto("/consent/agreements/")
    expect(page.get_by_role("link", name="old-health-data")).to_be_visible()
    axe_check(page)
    # an agreement with two versions
    page.get_by_role("link", name="revenue-income-for-benefits").click()
    expect(page.get_by_text("Attributes added: household_size.")).to_be_visible()
    axe_check(page)
    screenshot(page, "consent-agreement")
    # the revision form, and its errors
    page.get_by_role("link", name="Revise this agreement (make a new version)").click()
    axe_check(page)
    page.get_by_label("Retention").fill("")
    page.get_by_role("button", name="Make the new version").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    axe_check(page)
    # the form for a new agreement, sent empty
    page.goto("/consent/agreements/new/")
    axe_check(page)
    page.get_by_role("button", name="Make the agreement").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    axe_check(page)
    # the purposes
    page.goto("/consent/purposes/")
    expect(page.get_by_role("heading", name="Purposes")).to_be_visible()
    axe_check(page)


def test_registering_a_purpose_with_errors_has_no_axe_violations(
    browser_page, axe_check, sign_in, revenue
):
    root = staff(Role.PLATFORM_ADMIN, revenue, username="root")
    page = browser_page
    _staff_sign_in(sign_in, page, root)
    page.goto("/consent/purposes/new/")
    axe_check(page)
    page.get_by_role("button", name="Register").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    axe_check(page)


def test_the_access_log_of_a_person_and_a_disclosure_delay_have_no_axe_violations(
    browser_page, axe_check, sign_in, read_person
):
    _, person, _ = read_person
    auditor = staff(Role.PLATFORM_ADMIN, AgencyFactory(code="platform"), username="root")
    page = browser_page
    _staff_sign_in(sign_in, page, auditor)
    # an unknown person is an error beside the field
    page.goto("/consent/audit/access/?person=PNOSUCHPERSON")
    expect(page.locator("#id_person_error")).to_be_visible()
    axe_check(page)
    # the log of the person, delayed reads marked
    page.goto(f"/consent/audit/access/?person={person.pk}")
    expect(page.get_by_text("Delayed: hidden until").first).to_be_visible()
    axe_check(page)
    screenshot(page, "consent-access-log")


def test_a_disclosure_delay_with_a_date_in_the_past_has_no_axe_violations(
    browser_page, axe_check, sign_in, read_person
):
    _, person, investigator = read_person
    page = browser_page
    _staff_sign_in(sign_in, page, investigator)
    # the delay form, with a date in the past
    page.goto(f"/consent/audit/people/{person.pk}/delay/")
    axe_check(page)
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    page.get_by_label("Reason").fill("case 17")
    page.locator("#id_until").fill(yesterday)
    page.get_by_role("button", name="Delay disclosure").click()
    expect(page.locator("#id_until_error")).to_be_visible()
    axe_check(page)
