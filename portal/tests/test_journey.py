"""The journey that must always work (BRIEF.md), end to end in a real browser.

The demo government is built as `make demo` builds it — synthetic agencies' records linked
into the master person index, the data agreements and subscriptions, the services — and
then a citizen, a caseworker and a supervisor use it through the pages only, with the
keyboard alone: links and buttons are reached by focus and pressed with Enter, radios
with Space, and text is typed key by key. Every page on the way passes axe-core; a
screenshot of each step is saved in test-artifacts/journey-*.png.
"""

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from core.testing.browser import screenshot
from demo.services import (
    DEMO_CITIZEN_PASSWORD,
    DEMO_STAFF_PASSWORD,
    demo_government_seed,
    staff_username,
)
from identity.choices import Role, UserKind
from identity.models import User
from identity.services import system_actor
from registry.models import SourceRecord
from registry.services import linkage
from registry.services.citizens import citizen_person

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def government():
    """The demo government, small: 300 people, linked, with sharing and services."""
    demo_government_seed(actor=system_actor(), people=300, seed=11)
    linkage.link_run(actor=system_actor())
    call_command("seed_demo_sharing", verbosity=0)
    call_command("deploy_demo_services", verbosity=0)
    call_command("deploy_correction_services", verbosity=0)


def _journey_citizen():
    """A demo citizen known to Health, Revenue and Transport, whose Revenue income band
    is set to the child-benefit review band ("C"), so a caseworker decides."""
    for user in User.objects.filter(kind=UserKind.CITIZEN, is_demo=True).order_by("pk"):
        person = citizen_person(user=user)
        if person is None:
            continue
        records = {r.agency.code: r for r in SourceRecord.objects.filter(person=person)}
        if {"health", "revenue", "transport"} <= set(records):
            revenue = records["revenue"]
            revenue.extra = {**(revenue.extra or {}), "income_band": "C"}
            revenue.save(update_fields=["extra"])
            return user, person
    raise AssertionError("no demo citizen known to Health, Revenue and Transport")


def _press(locator):
    """Follow a link or press a button with the keyboard (focus it, press Enter), and wait
    for the page it leads to."""
    locator.focus()
    with locator.page.expect_navigation():
        locator.page.keyboard.press("Enter")


def _type(locator, text):
    """Type into a field key by key (a date field takes its digits segment by segment)."""
    locator.focus()
    locator.page.keyboard.type(text)


def _choose(locator):
    """Select a radio or checkbox with the keyboard."""
    locator.focus()
    locator.page.keyboard.press("Space")


def _start(page):
    _press(
        page.get_by_role("button", name="Start now")
        .or_(page.get_by_role("link", name="Start now"))
        .first
    )


def _deliver_events():
    call_command("deliver_events", "--once", verbosity=0)


def test_the_demo_journey(government, browser_page, axe_check, sign_in):
    page = browser_page
    citizen, person = _journey_citizen()
    caseworker = User.objects.get(username=staff_username(Role.CASEWORKER, "social-services"))
    supervisor = User.objects.get(username=staff_username(Role.SUPERVISOR, "social-services"))

    # 1. the citizen signs in and sees their data, with the source of each field
    sign_in(page, citizen, DEMO_CITIZEN_PASSWORD)
    expect(page.get_by_role("heading", name="Your services")).to_be_visible()
    axe_check(page)
    _press(page.get_by_role("link", name="Your data").first)
    expect(page.get_by_role("heading", name="Your data", exact=True)).to_be_visible()
    expect(page.get_by_text("Health Service").first).to_be_visible()
    axe_check(page)
    screenshot(page, "journey-1-your-data")

    # 2. they tell a new address once; it reaches the agencies that subscribe
    _press(page.get_by_role("link", name="Tell us once").first)
    axe_check(page)
    _start(page)  # the tell-us-once page leads to the change of address service
    _start(page)
    expect(page.get_by_label("House number and street")).to_be_visible()
    axe_check(page)
    _type(page.get_by_label("House number and street"), "12 Harbour View")
    _type(page.get_by_label("Town or city"), "Porthaven")
    _type(page.get_by_label("Postcode"), "PH1 4QT")
    _press(page.get_by_role("button", name="Continue"))
    expect(page.get_by_role("heading", name="Check your answers")).to_be_visible()
    axe_check(page)
    _press(page.get_by_role("button", name="Accept and send"))
    expect(page.get_by_text("12 Harbour View").first).to_be_visible()
    _deliver_events()
    page.reload()
    expect(page.get_by_text("Delivered").first).to_be_visible()
    axe_check(page)
    screenshot(page, "journey-2-told-once")
    moved = SourceRecord.objects.get(person=person, agency__code="transport")
    assert moved.address_line.lower().startswith("12 harbour")

    # 3. they consent to Revenue sharing their income, and apply for child benefit
    _press(page.get_by_role("link", name="Consents").first)
    axe_check(page)
    income = page.get_by_role("region", name="Social Services asks for data from Revenue")
    _press(income.get_by_role("button", name="Give consent"))
    expect(income).to_contain_text("You gave your consent")
    _press(page.get_by_role("link", name="Apply").first)
    axe_check(page)
    _press(page.get_by_role("link", name="Child benefit").first)
    _start(page)
    family = page.get_by_label("Child's family name")
    expect(family).to_have_value(person.family_name or family.input_value())
    axe_check(page)
    screenshot(page, "journey-3-prefilled")
    _type(page.get_by_label("Child's given name"), "Ada")
    _type(page.get_by_label("Child's date of birth"), "03012026")  # mm dd yyyy
    _choose(page.get_by_label("Parent"))
    _press(page.get_by_role("button", name="Continue"))
    expect(page.get_by_role("heading", name="Check your answers")).to_be_visible()
    _press(page.get_by_role("button", name="Accept and send"))
    expect(page.get_by_text("With a caseworker").first).to_be_visible()
    expect(page.get_by_text("Household income band (Revenue) is C").first).to_be_visible()
    axe_check(page)
    screenshot(page, "journey-3-decision-review")
    reference = page.url.rstrip("/").rsplit("/", 1)[-1]
    _press(page.get_by_role("button", name="Sign out"))

    # 4. the caseworker takes the case from the inbox, sees the 360° view, decides
    sign_in(page, caseworker, DEMO_STAFF_PASSWORD)
    _press(page.get_by_role("link", name="Work").first)
    axe_check(page)
    _press(page.get_by_role("row").filter(has_text=reference).get_by_role("link"))
    _press(page.get_by_role("button", name="Claim").first)
    axe_check(page)
    _press(page.get_by_role("link", name="360° view of the applicant"))
    _type(page.get_by_label("Why are you looking at this person?"), f"deciding case {reference}")
    _press(page.get_by_role("button", name="Open"))
    expect(page.get_by_role("heading", name="From other agencies")).to_be_visible()
    axe_check(page)
    screenshot(page, "journey-4-360-view")
    # back to the work: the menu, the queue, the item now claimed by the caseworker
    _press(page.get_by_role("link", name="Work").first)
    _press(page.get_by_role("row").filter(has_text=reference).get_by_role("link"))
    _choose(page.get_by_label("Approve"))
    _press(page.get_by_role("button", name="Complete the task"))
    axe_check(page)
    _press(page.get_by_role("button", name="Sign out"))

    # 5. the citizen sees the outcome, and every access to their data
    sign_in(page, citizen, DEMO_CITIZEN_PASSWORD)
    _press(page.get_by_role("link", name=reference).first)
    decided = page.locator(".govuk-summary-card").filter(has_text="Decided by a caseworker")
    expect(decided).to_contain_text("Approve")
    axe_check(page)
    screenshot(page, "journey-5-outcome")
    _press(page.get_by_role("link", name="Who accessed your data").first)
    looked = page.get_by_role("row").filter(has_text="360° view")
    expect(looked).to_contain_text("Social Services")
    expect(looked).to_contain_text("Caseworker")
    expect(looked).to_contain_text(f"deciding case {reference}")
    axe_check(page)
    screenshot(page, "journey-5-who-accessed")
    _press(page.get_by_role("button", name="Sign out"))

    # 6. the supervisor sees backlog, SLA and automation figures
    sign_in(page, supervisor, DEMO_STAFF_PASSWORD)
    _press(page.get_by_role("link", name="Supervision").first)
    expect(page.get_by_role("heading", name="How the work is going")).to_be_visible()
    expect(page.get_by_text("Child benefit").first).to_be_visible()
    axe_check(page)
    screenshot(page, "journey-6-supervision")
