"""Messages with the caseworker, on the citizen's case page and the staff work item page,
and "New message" on the citizen's dashboard."""

import re

import pytest
from django.test import Client

from cases.models import CaseMessage, WorkItem
from cases.services import engine
from identity.choices import Role
from identity.tests.factories import CitizenFactory, staff, verified
from registry.tests.factories_review import signed_in

pytestmark = pytest.mark.django_db


def _text(response):
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def caseworker(health):
    return verified(staff(Role.CASEWORKER, health, username="cas"))


@pytest.fixture
def case(service, citizen):
    # in the review band: it waits for a caseworker
    return engine.case_submit(
        service=service, data={"age": 40, "income": 25_000}, applicant=citizen, actor=citizen
    )


def test_a_citizen_writes_to_the_caseworker_from_the_case_page(case, citizen):
    client = signed_in(Client(), citizen)
    # given the case page offers the conversation
    page = _text(client.get(f"/portal/cases/{case.reference}/"))
    assert "Messages with the caseworker" in page
    assert 'action="/portal/cases/' + case.reference + '/messages/"' in page
    # when the citizen sends a message
    response = client.post(
        f"/portal/cases/{case.reference}/messages/", {"body": "I moved house last week."}
    )
    # then they are back on the conversation, which shows it as theirs, with a confirmation
    assert response.status_code == 302
    assert response["Location"] == f"/portal/cases/{case.reference}/#messages"
    page = _text(client.get(response["Location"]))
    assert "Your message has been sent to Health." in page
    assert "You wrote" in page and "I moved house last week." in page


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("   ", "Write your message."),
        ("a" * 5_001, "Your message is 5,001 characters long: it can be at most 5,000."),
    ],
)
def test_a_bad_message_is_refused_beside_the_field_and_what_was_typed_is_kept(
    case, citizen, typed, problem
):
    client = signed_in(Client(), citizen)
    # when the citizen sends an empty or too long message
    response = client.post(f"/portal/cases/{case.reference}/messages/", {"body": typed})
    # then the page comes back with the problem in the summary and beside the field
    assert response.status_code == 400
    text = _text(response)
    assert "There is a problem" in text
    assert re.search(r'id="id_body_error">.*?' + re.escape(problem), text)
    assert 'class="govuk-textarea govuk-textarea--error"' in text
    # and what they typed is still in the box, and nothing was sent
    assert f">\n{typed}</textarea>" in response.content.decode()
    assert not CaseMessage.objects.exists()


def test_another_citizen_cannot_write_on_a_case_that_is_not_theirs(case):
    intruder = CitizenFactory(username="eve")
    response = signed_in(Client(), intruder).post(
        f"/portal/cases/{case.reference}/messages/", {"body": "Hello"}
    )
    assert response.status_code == 404
    assert not CaseMessage.objects.exists()


def test_staff_reply_from_the_work_item_and_the_citizen_sees_a_new_message(
    case, citizen, caseworker
):
    # given the citizen asked something
    citizen_client = signed_in(Client(), citizen)
    citizen_client.post(f"/portal/cases/{case.reference}/messages/", {"body": "Any news?"})
    item = WorkItem.objects.get(case=case)
    staff_client = signed_in(Client(), caseworker)
    # when the caseworker opens the work item
    page = _text(staff_client.get(f"/cases/work/{item.pk}/"))
    # then they see the question, marked new
    assert "Messages with the applicant" in page
    assert "The applicant wrote" in page and "Any news?" in page
    assert "New" in page
    # and opening it marked it read
    assert CaseMessage.objects.get(body="Any news?").read_at is not None
    # when they reply
    response = staff_client.post(
        f"/cases/work/{item.pk}/messages/", {"message-body": "We decide by Friday."}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/cases/work/{item.pk}/#messages"
    page = _text(staff_client.get(response["Location"]))
    assert "We decide by Friday." in page and "not read yet" in page
    # then the citizen's dashboard says there is a new message on that case
    dashboard = _text(citizen_client.get("/portal/"))
    assert "New message" in dashboard
    assert f'href="/portal/cases/{case.reference}/#messages"' in dashboard
    # and the case page shows it, newest last
    page = _text(citizen_client.get(f"/portal/cases/{case.reference}/"))
    assert page.index("Any news?") < page.index("We decide by Friday.")
    assert "Health wrote" in page
    # and once read, the dashboard no longer says so, and staff see it read
    assert "New message" not in _text(citizen_client.get("/portal/"))
    assert "read by the applicant" in _text(staff_client.get(f"/cases/work/{item.pk}/"))


def test_an_empty_staff_reply_is_refused_beside_the_field(case, caseworker):
    item = WorkItem.objects.get(case=case)
    client = signed_in(Client(), caseworker)
    response = client.post(f"/cases/work/{item.pk}/messages/", {"message-body": ""})
    assert response.status_code == 400
    text = _text(response)
    assert re.search(r'id="id_message-body_error">.*?Write your message\.', text)
    assert not CaseMessage.objects.exists()
