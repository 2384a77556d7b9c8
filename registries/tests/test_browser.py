"""The registries pages in a real browser: axe-core on each page, with their errors."""

import pytest
from playwright.sync_api import expect

from core.testing.browser import screenshot
from identity.tests.factories import PASSWORD, totp_device
from registries.models import RegistryRecord
from registries.services import records

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff_sign_in(browser_page, sign_in):
    def do(user):
        totp_device(user)
        sign_in(browser_page, user, PASSWORD)

    return do


@pytest.fixture
def cars(steward, vehicles):
    for n, (make, colour) in enumerate([("Toyota", "Red"), ("Ford", "Blue"), ("Toyota", "Grey")]):
        records.record_create(
            actor=steward,
            definition=vehicles,
            content={"plate": f"B{n}", "make": make, "year": 2010 + n, "colour": colour},
        )


def test_the_list_and_defining_a_registry_with_errors_have_no_axe_violations(
    browser_page, axe_check, staff_sign_in, admin, vehicles
):
    page = browser_page
    staff_sign_in(admin)
    page.goto("/registries/")
    expect(page.get_by_role("link", name="Vehicles")).to_be_visible()
    axe_check(page)
    page.get_by_role("link", name="Define a registry").click()
    axe_check(page)
    page.get_by_label("Schema", exact=False).first.fill('{"type": "object",')
    page.get_by_role("button", name="Save and serve").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    axe_check(page)


def test_browsing_searching_and_editing_a_record_with_errors_have_no_axe_violations(
    browser_page, axe_check, staff_sign_in, steward, cars
):
    page = browser_page
    staff_sign_in(steward)
    page.goto("/registries/vehicles/v1/?field=make&value=toyota")
    expect(page.get_by_role("heading", name="2 records")).to_be_visible()
    axe_check(page)
    screenshot(page, "registries-detail")
    # a search on a field that cannot be searched
    page.goto("/registries/vehicles/v1/?field=owner_name&value=x")
    expect(page.get_by_text("not a searchable field")).to_be_visible()
    axe_check(page)
    # a record, and a year out of range
    record = RegistryRecord.objects.get(key="B1")
    page.goto(f"/registries/vehicles/v1/records/{record.uuid}/")
    axe_check(page)
    page.locator("#id_year").fill("1800")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#id_year_error")).to_be_visible()
    axe_check(page)
    screenshot(page, "registries-record-errors")


def test_importing_records_with_bad_rows_has_no_axe_violations(
    browser_page, axe_check, staff_sign_in, steward, vehicles, tmp_path
):
    page = browser_page
    staff_sign_in(steward)
    # an import without a file
    page.goto("/registries/vehicles/v1/")
    page.get_by_role("button", name="Import").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    axe_check(page)
    # a file with bad rows
    upload = tmp_path / "cars.csv"
    upload.write_text("plate,make,year,colour\nAA1,Toyota,2019,Red\nAA2,Ford,not-a-year,Blue\n")
    page.goto("/registries/vehicles/v1/")
    page.locator("#id_file").set_input_files(str(upload))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Rejected rows")).to_be_visible()
    page.get_by_text("The row as sent").click()
    axe_check(page)
