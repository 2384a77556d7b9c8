"""The cases staff pages in a real browser: axe-core on each, reflow, and the keyboard alone."""

import pytest
from playwright.sync_api import expect

from cases.models import WorkItem
from cases.services import engine, work_items
from core.testing.browser import overflows_horizontally, screenshot
from identity.choices import Role
from identity.tests.factories import PASSWORD, CitizenFactory, staff, totp_device

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FOCUSED_NAME = """() => {
  const e = document.activeElement;
  return ((e.labels && e.labels.length ? e.labels[0].textContent : e.textContent) || '').trim();
}"""


def _submit(service, income, username=None):
    applicant = CitizenFactory(username=username) if username else CitizenFactory()
    return engine.case_submit(
        service=service, data={"age": 40, "income": income}, applicant=applicant, actor=applicant
    )


@pytest.fixture
def busy_queue(service):
    """Three cases in the human-review band and two decided automatically."""
    for income in (5, 7):
        _submit(service, income)
    for income in (22000, 25000, 28000):
        _submit(service, income)
    return list(WorkItem.objects.order_by("pk"))


@pytest.fixture
def staff_sign_in(sign_in):
    """Sign a staff member in (their authenticator app already set up)."""

    def do(page, user):
        totp_device(user)
        sign_in(page, user, PASSWORD)

    return do


def _tab_to(page, name, limit=80):
    """Press Tab until the focused element's label or text starts with `name`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(FOCUSED_NAME).startswith(name):
            return
    raise AssertionError(f"{name!r} is not reachable with the Tab key")


def test_the_work_queue_and_its_filter_errors_have_no_axe_violations(
    browser_page, axe_check, staff_sign_in, caseworker, busy_queue
):
    # given a queue with several items, one claimed by someone else
    other = staff(Role.CASEWORKER, caseworker.agency, username="colleague")
    WorkItem.objects.filter(pk=busy_queue[0].pk).update(status="claimed", assignee=other)
    page = browser_page
    staff_sign_in(page, caseworker)
    # when the caseworker opens the queue
    page.goto("/cases/work/")
    expect(page.get_by_role("heading", name="Work queue")).to_be_visible()
    expect(page.get_by_role("button", name="Claim").first).to_be_visible()
    axe_check(page)
    screenshot(page, "cases-work-queue")
    # and filters with an impossible priority
    page.goto("/cases/work/?min_priority=500")
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    expect(page.locator("#id_min_priority_error")).to_be_visible()
    axe_check(page)
    # and an item that does not exist is an error page leading back to the queue
    page.goto("/cases/work/999999/")
    expect(page.get_by_role("link", name="Go to the work queue")).to_be_visible()
    axe_check(page)


def test_the_work_queue_reflows_at_320_pixels(
    browser_page, axe_check, staff_sign_in, caseworker, busy_queue
):
    page = browser_page
    staff_sign_in(page, caseworker)
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto("/cases/work/")
    expect(page.get_by_role("heading", name="Work queue")).to_be_visible()
    assert not overflows_horizontally(page)
    axe_check(page)
    screenshot(page, "cases-work-queue-320")


def test_a_work_item_with_its_decision_and_form_errors_has_no_axe_violations(
    browser_page, axe_check, staff_sign_in, caseworker, busy_queue
):
    item = busy_queue[-1]
    page = browser_page
    staff_sign_in(page, caseworker)
    # when the caseworker opens the item: the case, the decision table and its rules
    page.goto(f"/cases/work/{item.pk}/")
    expect(page.get_by_role("heading", name="Automated decisions")).to_be_visible()
    expect(page.locator(".rules-table")).to_be_visible()
    axe_check(page)
    # and, having claimed it, completes it without a decision
    page.get_by_role("button", name="Claim").click()
    page.get_by_role("button", name="Complete the task").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    axe_check(page)
    screenshot(page, "cases-work-item-errors")


def test_a_caseworker_claims_and_completes_a_work_item_with_the_keyboard_alone(
    browser_page, staff_sign_in, caseworker, busy_queue
):
    item = busy_queue[-1]
    page = browser_page
    staff_sign_in(page, caseworker)
    page.goto(f"/cases/work/?queue={item.queue}")
    # when the caseworker tabs to the item's Claim button and presses Enter
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED_NAME) == "Skip to main content"
    page.locator(f'a[href="/cases/work/{item.pk}/"]').focus()
    _tab_to(page, "Claim")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Release").first).to_be_visible()
    # then opens it from the queue with the keyboard
    page.locator(f'a[href="/cases/work/{item.pk}/"]').focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Complete the task")).to_be_visible()
    # and answers the form with the keyboard alone
    _tab_to(page, "approve")
    page.keyboard.press("Space")
    _tab_to(page, "Note for the file")
    page.keyboard.type("Income checked against the payslips.")
    _tab_to(page, "Complete the task")
    page.keyboard.press("Enter")
    # then they are back at the queue, told so, and the item is completed by them
    expect(page.locator(".govuk-notification-banner")).to_contain_text(
        f"on case {item.case.reference} is done"
    )
    item.refresh_from_db()
    assert item.status == "completed" and item.completed_by == caseworker
    screenshot(page, "cases-work-item-completed-by-keyboard")


def test_the_supervision_page_and_a_reassign_error_have_no_axe_violations(
    browser_page, axe_check, staff_sign_in, supervisor, caseworker, busy_queue
):
    WorkItem.objects.filter(pk=busy_queue[0].pk).update(status="claimed", assignee=caseworker)
    page = browser_page
    staff_sign_in(page, supervisor)
    page.goto("/cases/supervision/")
    expect(page.get_by_role("heading", name="Items per person")).to_be_visible()
    axe_check(page)
    screenshot(page, "cases-supervision")
    # when the supervisor reassigns an item without choosing anyone
    first = page.locator("#reassign-heading ~ ul > li").first
    first.get_by_role("button", name="Reassign").click()
    expect(page.locator(".govuk-error-message").first).to_be_visible()
    axe_check(page)


def test_the_analytics_charts_and_a_backwards_period_have_no_axe_violations(
    browser_page, axe_check, staff_sign_in, analyst, caseworker, busy_queue
):
    # given completed, automatic and waiting cases
    item = busy_queue[-1]
    work_items.work_item_claim(item=item, actor=caseworker)
    work_items.work_item_complete(item=item, data={"decision": "approve"}, actor=caseworker)
    page = browser_page
    staff_sign_in(page, analyst)
    page.goto("/cases/services/")
    axe_check(page)
    page.get_by_role("link", name="Analytics of").first.click()
    # then the graph, the bar charts and their tables are there
    expect(page.locator("svg.dfg-svg")).to_be_visible()
    expect(page.get_by_role("heading", name="Service levels per queue")).to_be_visible()
    axe_check(page)
    screenshot(page, "cases-analytics")
    # and a backwards period is an error beside the field
    page.goto("/cases/services/test-benefit/analytics/?date_from=2025-02-01&date_to=2025-01-01")
    expect(page.locator("#id_date_to_error")).to_be_visible()
    axe_check(page)
