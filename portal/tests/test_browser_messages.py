"""Messages with the caseworker and the satisfaction question in a real browser: no axe-core
violations, and a citizen writes and answers by keyboard alone."""

import pytest
from playwright.sync_api import expect

from cases.models import CaseMessage, WorkItem
from cases.services import definitions, engine, messages
from cases.tests.conftest import TEST_SERVICE
from core.testing.browser import overflows_horizontally, screenshot
from identity.choices import Role
from identity.services import system_actor
from identity.tests.factories import PASSWORD, AgencyFactory, CitizenFactory, staff, verified
from portal.models import SatisfactionResponse

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world():
    """A citizen with a completed case, and a case with a caseworker where each side wrote."""
    user = CitizenFactory(username="maria")
    health = AgencyFactory(code="health", name="Health")
    service = definitions.service_deploy(actor=system_actor(), directory=TEST_SERVICE).service
    completed = engine.case_submit(
        service=service, data={"age": 40, "income": 10_000}, applicant=user, actor=user
    )
    waiting = engine.case_submit(
        service=service, data={"age": 40, "income": 25_000}, applicant=user, actor=user
    )
    worker = verified(staff(Role.CASEWORKER, health, username="cas"))
    messages.case_message_send(actor=user, case=waiting, body="Do you need my payslips?")
    messages.case_message_send(
        actor=worker, case=waiting, body="Yes, please send the last three.\nThank you."
    )
    return {"user": user, "worker": worker, "completed": completed, "waiting": waiting}


def test_a_citizen_reads_and_writes_messages_by_keyboard(browser_page, axe_check, sign_in, world):
    page = browser_page
    sign_in(page, world["user"], PASSWORD)
    # the dashboard says there is a new message
    expect(page.get_by_text("New message", exact=True)).to_be_visible()
    page.goto(f"/portal/cases/{world['waiting'].reference}/")
    section = page.locator("#messages")
    expect(section.get_by_role("heading", name="Messages with the caseworker")).to_be_visible()
    expect(section.get_by_text("Yes, please send the last three.")).to_be_visible()
    axe_check(page)
    screenshot(page, "portal-case-messages")
    # an empty message, sent by keyboard, is refused beside the field
    page.get_by_label("Your message").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send message")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    expect(page.locator("#id_body_error")).to_contain_text("Write your message.")
    axe_check(page)
    # a message typed and sent by keyboard alone joins the conversation, newest last
    page.get_by_label("Your message").focus()
    page.keyboard.type("I will post them today.")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_text("Your message has been sent to Health.")).to_be_visible()
    expect(section.locator("li").last).to_contain_text("I will post them today.")
    assert CaseMessage.objects.filter(body="I will post them today.", from_citizen=True).exists()
    page.set_viewport_size({"width": 320, "height": 640})
    page.reload()
    assert not overflows_horizontally(page)


def test_the_staff_work_item_shows_the_conversation(browser_page, axe_check, sign_in, world):
    page = browser_page
    sign_in(page, world["worker"], PASSWORD)
    item = WorkItem.objects.get(case=world["waiting"])
    page.goto(f"/cases/work/{item.pk}/")
    expect(page.get_by_role("heading", name="Messages with the applicant")).to_be_visible()
    expect(page.get_by_text("Do you need my payslips?")).to_be_visible()
    axe_check(page)
    page.get_by_label("Your reply to the applicant").fill("Received, thank you.")
    page.get_by_role("button", name="Send the reply").click()
    expect(page.get_by_text("Received, thank you.")).to_be_visible()
    axe_check(page)


def test_the_satisfaction_question_is_answered_by_keyboard(browser_page, axe_check, sign_in, world):
    page = browser_page
    sign_in(page, world["user"], PASSWORD)
    page.goto(f"/portal/cases/{world['completed'].reference}/")
    question = page.get_by_role("group", name="How satisfied were you with this service?")
    expect(question).to_be_visible()
    axe_check(page)
    screenshot(page, "portal-case-satisfaction")
    # the first choice by keyboard: focus it, then arrow down to "Satisfied" (checks it)
    page.get_by_label("Very satisfied").focus()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("Satisfied", exact=True)).to_be_checked()
    page.get_by_label("How could we improve this service?").focus()
    page.keyboard.type("Letters could be shorter.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send your answer")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("You told us you were: satisfied. Thank you.")).to_be_visible()
    axe_check(page)
    answer = SatisfactionResponse.objects.get()
    assert (answer.rating, answer.comment) == (4, "Letters could be shorter.")
