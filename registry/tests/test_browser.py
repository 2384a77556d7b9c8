"""The registry staff pages in a real browser: axe-core on each page, with errors, and reflow."""

import pytest
from playwright.sync_api import expect

from core.testing.browser import overflows_horizontally, screenshot
from identity.choices import Role
from identity.tests.factories import PASSWORD, AgencyFactory, staff, totp_device
from registry.models import Person, SourceRecord
from registry.services import persons
from registry.tests.factories import SourceRecordFactory
from registry.tests.factories_review import MatchCandidateFactory, person_with_records, records_of
from registry.tests.feeds_helpers import REVENUE_HEADER, csv_bytes, revenue_row

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def health():
    return AgencyFactory(code="health", name="Health")


@pytest.fixture
def person(health):
    """A person with a golden record from two agencies' records, one of them hidden."""
    revenue = AgencyFactory(code="revenue", name="Revenue")
    person = Person.objects.create()
    SourceRecordFactory(agency=health, person=person, agency_record_id="H1", given_name="Maria")
    SourceRecordFactory(agency=revenue, person=person, agency_record_id="R9", given_name="Mari")
    persons.person_golden_refresh(person_ids=[person.pk])
    return person


@pytest.fixture
def staff_sign_in(browser_page, sign_in):
    """Sign a new staff member with `role` at `agency` in; their authenticator is set up."""

    def do(role, agency, username):
        user = staff(role, agency, username=username)
        totp_device(user)
        sign_in(browser_page, user, PASSWORD)
        return user

    return do


def _pair(probability=0.7):
    mine, theirs = person_with_records(1), person_with_records(1)
    candidate = MatchCandidateFactory(
        record=records_of(mine)[0], other=records_of(theirs)[0], match_probability=probability
    )
    SourceRecord.objects.filter(pk=candidate.other_id).update(postcode="ZZ9 9ZZ")
    return candidate


def test_finding_a_person_and_the_golden_record_have_no_axe_violations(
    browser_page, axe_check, staff_sign_in, health, person
):
    page = browser_page
    staff_sign_in(Role.CASEWORKER, health, "cw")
    # the search page, and its errors when no purpose is given
    page.goto("/registry/persons/")
    axe_check(page)
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    axe_check(page)
    # a search with results
    page.locator("#id_name").fill("Maria Garsia")
    page.locator("#id_purpose").fill("benefit claim")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("link", name=person.pk)).to_be_visible()
    axe_check(page)
    # the person page with the golden record and its sources
    page.get_by_role("link", name=person.pk).click()
    expect(page.get_by_role("heading", name="Golden record")).to_be_visible()
    axe_check(page)
    screenshot(page, "registry-person")


def test_the_purpose_question_and_its_error_have_no_axe_violations(
    browser_page, axe_check, staff_sign_in, health, person
):
    page = browser_page
    staff_sign_in(Role.CASEWORKER, health, "cw")
    page.goto(f"/registry/persons/{person.pk}/")
    expect(page.get_by_role("heading", name="Why are you opening this record?")).to_be_visible()
    axe_check(page)
    page.get_by_label("Purpose").fill("x")
    page.get_by_role("button", name="Open the record").click()
    expect(page.locator("#id_purpose-error")).to_be_visible()
    axe_check(page)


def test_the_person_page_reflows_at_320_pixels(
    browser_page, axe_check, staff_sign_in, health, person
):
    page = browser_page
    staff_sign_in(Role.CASEWORKER, health, "cw")
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(f"/registry/persons/{person.pk}/?purpose=benefit+claim")
    expect(page.get_by_role("heading", name="Golden record")).to_be_visible()
    assert not overflows_horizontally(page)
    axe_check(page)
    screenshot(page, "registry-person-320")


def test_the_review_queue_and_its_filter_error_have_no_axe_violations(
    browser_page, axe_check, staff_sign_in, health
):
    for probability in (0.55, 0.7, 0.85):
        _pair(probability)
    page = browser_page
    staff_sign_in(Role.DATA_STEWARD, health, "stew")
    page.goto("/registry/review/")
    expect(page.get_by_role("table")).to_be_visible()
    axe_check(page)
    page.goto("/registry/review/?status=nonsense")
    expect(page.locator("#id_status_error")).to_be_visible()
    axe_check(page)
    # a pair that does not exist is an error page leading back to the queue
    page.goto("/registry/review/999999/")
    expect(page.get_by_role("link", name="Back to the review queue")).to_be_visible()
    axe_check(page)


def test_a_review_pair_with_its_chart_and_a_note_too_long_have_no_axe_violations(
    browser_page, axe_check, staff_sign_in, health
):
    candidate = _pair()
    page = browser_page
    staff_sign_in(Role.DATA_STEWARD, health, "stew")
    page.goto(f"/registry/review/{candidate.pk}/")
    expect(page.locator(".weight-chart")).to_be_visible()
    expect(page.get_by_role("row", name="Postcode")).to_contain_text("Differs")
    axe_check(page)
    screenshot(page, "registry-review-pair")
    # when the note is longer than allowed (past the field's own limit)
    page.locator("#id_note").evaluate("el => { el.value = 'x'.repeat(2001); }")
    page.get_by_role("button", name="Same person").click()
    expect(page.locator("#id_note_error")).to_be_visible()
    axe_check(page)


def test_the_person_review_page_and_a_refused_split_have_no_axe_violations(
    browser_page, axe_check, staff_sign_in, health
):
    survivor, merged = person_with_records(2), person_with_records(1)
    page = browser_page
    staff_sign_in(Role.DATA_STEWARD, health, "stew")
    # when the steward merges one person into the other: the page then has a history
    page.goto(f"/registry/persons/{survivor.pk}/review/")
    page.get_by_label("Person to merge into this one").fill(merged.pk)
    page.get_by_role("button", name="Merge").click()
    expect(page.get_by_role("button", name="Undo")).to_be_visible()
    axe_check(page)
    screenshot(page, "registry-person-review")
    # and splitting off every record is refused beside the checkboxes
    for box in page.locator('input[name="split-records"]').all():
        box.check()
    page.get_by_role("button", name="Split off into a new person").click()
    expect(page.locator("#id_split-records_error")).to_be_visible()
    axe_check(page)


def test_the_feed_pages_have_no_axe_violations(
    browser_page, axe_check, staff_sign_in, run_worker, tmp_path
):
    revenue = AgencyFactory(code="revenue", name="Revenue Agency")
    page = browser_page
    staff_sign_in(Role.DATA_STEWARD, revenue, "stew")
    page.goto("/registry/feeds/revenue/")
    expect(page.get_by_role("heading", name="Load a file")).to_be_visible()
    axe_check(page)
    # an upload without a file is an error beside the field
    page.get_by_role("button", name="Upload and load").click()
    expect(page.locator("#id_file_error")).to_be_visible()
    axe_check(page)
    # a file with a bad row: the load page, then the rejected row and its correction
    upload = tmp_path / "export.csv"
    upload.write_bytes(csv_bytes([revenue_row("RV1"), revenue_row("RV2", EMAIL_ADDR="nope")]))
    page.goto("/registry/feeds/revenue/")
    page.locator("#id_file").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and load").click()
    expect(page.get_by_role("heading", name="Load for Revenue Agency")).to_be_visible()
    axe_check(page)
    run_worker()
    page.reload()
    expect(page.get_by_role("heading", name="Rejected rows")).to_be_visible()
    axe_check(page)
    page.get_by_role("link", name="Correct row 2").click()
    page.locator(f"#id_c{REVENUE_HEADER.index('EMAIL_ADDR')}").fill("still wrong")
    page.get_by_role("button", name="Send the corrected row").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    axe_check(page)
