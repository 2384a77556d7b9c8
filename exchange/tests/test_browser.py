"""The exchange pages in a real browser: the catalogue of data services and the signed message
log, each checked with axe-core, with their errors."""

import pytest
from playwright.sync_api import expect

from consent import services as consent_services
from core.errors import ApplicationError
from core.testing.browser import screenshot
from exchange import services
from exchange.models import Message
from identity.choices import Role
from identity.tests.factories import PASSWORD, staff, totp_device

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _ask(world, **overrides):
    args = {
        "actor": world["caseworker"],
        "consumer": world["social"],
        "provider_code": "revenue",
        "service_code": "income-for-tax-year",
        "person_id": world["person"].pk,
        "purpose": "child-benefit-eligibility",
        "case_ref": "CB-2026-000001",
        "params": {"tax_year": 2025},
    }
    args.update(overrides)
    return services.exchange_request(**args)


@pytest.fixture
def exchanged(world):
    """Answered exchanges (request + response each) and one refused."""
    consent_services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["version"].agreement
    )
    for _ in range(3):
        _ask(world)
    with pytest.raises(ApplicationError):
        _ask(world, purpose="no-such-purpose", case_ref="CB-2026-000002")


def _sign_in_as(sign_in, page, role, agency, username):
    user = staff(role, agency, username=username)
    totp_device(user)
    sign_in(page, user, PASSWORD)
    return user


def test_the_catalogue_a_service_and_publishing_errors_have_no_axe_violations(
    browser_page, axe_check, sign_in, world
):
    page = browser_page
    _sign_in_as(sign_in, page, Role.AGENCY_ADMIN, world["revenue"], "rev-admin")
    page.goto("/exchange/services/")
    expect(page.get_by_role("link", name="Income for a tax year")).to_be_visible()
    axe_check(page)
    # a service with its parameters, schemas and the agreements that use it
    page.get_by_role("link", name="Income for a tax year").click()
    expect(page.get_by_role("heading", name="What a request sends")).to_be_visible()
    page.get_by_text("Input schema (JSON Schema)").click()
    axe_check(page)
    screenshot(page, "exchange-service")
    # the edit form
    page.get_by_role("link", name="Edit this data service").click()
    axe_check(page)
    # publishing a new one with a schema that is not JSON
    page.goto("/exchange/services/new/")
    axe_check(page)
    page.get_by_label("Input schema", exact=False).first.fill('{"type": "object", "properties": {')
    page.get_by_role("button", name="Publish the service").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    expect(page.locator("#id_input_schema_error")).to_be_visible()
    axe_check(page)


def test_the_message_log_its_filter_errors_and_verification_have_no_axe_violations(
    browser_page, axe_check, sign_in, world, exchanged
):
    page = browser_page
    _sign_in_as(sign_in, page, Role.PLATFORM_ADMIN, world["revenue"], "root")
    page.goto("/exchange/messages/")
    expect(page.get_by_role("heading", name="Filter the log")).to_be_visible()
    axe_check(page)
    screenshot(page, "exchange-message-log")
    # a filter that is not an id is an error beside the field
    page.goto("/exchange/messages/?exchange_id=not-an-id")
    expect(page.locator("#id_exchange_id_error")).to_be_visible()
    axe_check(page)
    # verifying: intact, then broken
    page.goto("/exchange/messages/")
    page.get_by_role("button", name="Verify the log").click()
    expect(page.get_by_text("The log is intact.")).to_be_visible()
    axe_check(page)
    Message.objects.filter(seq=2).update(purpose="something-else")
    page.get_by_role("button", name="Verify the log").click()
    expect(page.get_by_role("heading", name="The log is broken")).to_be_visible()
    axe_check(page)


def test_a_message_and_its_opened_body_have_no_axe_violations(
    browser_page, axe_check, sign_in, world, exchanged
):
    response = Message.objects.filter(kind="response").order_by("seq").first()
    page = browser_page
    _sign_in_as(sign_in, page, Role.PLATFORM_ADMIN, world["revenue"], "root")
    page.goto(f"/exchange/messages/{response.seq}/")
    expect(page.get_by_text("The stored body matches its hash.")).to_be_visible()
    axe_check(page)
    page.get_by_role("button", name="Open the body").click()
    expect(page.get_by_text("your reading is recorded in the access log")).to_be_visible()
    axe_check(page)
    screenshot(page, "exchange-message-detail")
