"""Every page of the citizen portal and the staff workspace at 320 px: no sideways
scrolling (WCAG 1.4.10 reflow) and no axe-core violation, on the demo government."""

import pytest
from django.core.management import call_command

from cases.models import Case, Service, WorkItem
from cases.services import engine
from core.testing.browser import overflows_horizontally
from demo.services import DEMO_CITIZEN_PASSWORD, DEMO_STAFF_PASSWORD, staff_username
from identity.choices import Role
from identity.models import User
from portal.tests.test_journey import _journey_citizen, government  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _check(page, axe_check, path):
    page.goto(path)
    assert not overflows_horizontally(page), f"{path} scrolls sideways at 320 px"
    axe_check(page)


def _narrow_page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 320, "height": 700}, bypass_csp=True
    )
    return context.new_page()


def test_every_page_reflows_at_320_pixels(
    government,  # noqa: F811
    browser_page,
    live_server,
    axe_check,
    sign_in,
):
    citizen, person = _journey_citizen()
    benefit = Service.objects.get(code="child-benefit")
    case = engine.case_submit(
        service=benefit,
        data={
            "child_given_name": "Ada",
            "child_family_name": citizen.last_name or "Doe",
            "child_date_of_birth": "2026-03-01",
            "relationship": "parent",
        },
        applicant=citizen,
        actor=citizen,
    )
    page = browser_page
    page.set_viewport_size({"width": 320, "height": 700})
    sign_in(page, citizen, DEMO_CITIZEN_PASSWORD)
    for path in (
        "/portal/",
        f"/portal/cases/{case.reference}/",
        "/portal/services/",
        "/portal/life-events/",
        "/portal/life-events/having-a-child/",
        "/portal/services/child-benefit/apply/",
        "/portal/your-data/",
        "/portal/your-data/family_name/report-a-mistake/",
        "/portal/tell-us-once/",
        "/portal/verify/",
        "/consent/mine/",
        "/consent/mine/access/",
        "/no-such-page/",
    ):
        _check(page, axe_check, path)
    call_command("deliver_events", "--once", verbosity=0)

    caseworker = User.objects.get(username=staff_username(Role.CASEWORKER, "social-services"))
    item = WorkItem.objects.filter(case=case).first()
    staff_page = _narrow_page(page.context.browser, live_server)
    sign_in(staff_page, caseworker, DEMO_STAFF_PASSWORD)
    paths = [
        "/cases/work/",
        f"/workspace/people/{person.pk}/",
        f"/workspace/people/{person.pk}/?purpose=checking+reflow",
    ]
    if item is not None:
        paths.append(f"/cases/work/{item.pk}/")
    for path in paths:
        _check(staff_page, axe_check, path)
    supervisor = User.objects.get(username=staff_username(Role.SUPERVISOR, "social-services"))
    boss = _narrow_page(page.context.browser, live_server)
    sign_in(boss, supervisor, DEMO_STAFF_PASSWORD)
    for path in (
        "/workspace/supervision/",
        "/cases/supervision/",
        "/cases/services/child-benefit/analytics/",
    ):
        _check(boss, axe_check, path)
    assert Case.objects.filter(pk=case.pk).exists()


def test_the_staff_pages_reflow_at_320_pixels(
    government,  # noqa: F811
    browser_page,
    axe_check,
    sign_in,
):
    """The platform admin's and data steward's pages, on the same demo government."""
    from exchange.models import Message
    from registries.models import RegistryDefinition

    call_command("seed_demo_registries", verbosity=0)
    admin = User.objects.get(username="platform-admin")
    page = browser_page
    page.set_viewport_size({"width": 320, "height": 700})
    sign_in(page, admin, DEMO_STAFF_PASSWORD)
    registry = RegistryDefinition.objects.order_by("pk").first()
    paths = [
        "/",
        "/registry/persons/",
        "/registry/review/",
        "/registry/feeds/revenue/",
        "/registries/",
        "/consent/agreements/",
        "/consent/purposes/",
        "/consent/audit/access/",
        "/exchange/services/",
        "/exchange/messages/",
        "/cases/services/",
    ]
    if registry is not None:
        paths.append(f"/registries/{registry.name}/v{registry.version}/")
    message = Message.objects.order_by("seq").first()
    if message is not None:
        paths.append(f"/exchange/messages/{message.seq}/")
    for path in paths:
        _check(page, axe_check, path)
