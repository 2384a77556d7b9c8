"""Applying through the pages: one question per page, check your answers, errors beside the
fields, pre-filled values with their source, drafts that survive the session, documents."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from cases.management.commands.deploy_demo_services import DEMO_SERVICES
from cases.models import Case
from cases.services import definitions
from identity.choices import Role
from identity.services import system_actor
from identity.tests.factories import AgencyFactory, CitizenFactory, staff, verified
from portal.models import ApplicationDraft
from portal.tests import factories
from portal.tests.factories import SMALL_PNG

pytestmark = pytest.mark.django_db


@pytest.fixture
def maria():
    return factories.linked_citizen(address_line="4 Mill Lane", postcode="NT9 9ZZ")


@pytest.fixture
def long_service():
    return factories.deploy(form=factories.LONG_FORM).service


@pytest.fixture
def short_service():
    return factories.deploy(code="short-benefit", name="Short benefit").service


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _start(client, code):
    response = client.post(f"/portal/services/{code}/apply/")
    assert response.status_code == 302
    return response["Location"]


def _step(first_url, step):
    return re.sub(r"/question/[^/]+/$", f"/question/{step}/", first_url)


def _answer(client, first_url, step, value, **extra):
    return client.post(_step(first_url, step), {step: value, "action": "continue", **extra})


def test_a_long_form_is_asked_one_question_per_page_and_the_prefill_shows_its_source(
    maria,
    long_service,
):
    client = _client(maria)
    # when the citizen starts: the first question is their address, already filled in
    first = _start(client, long_service.code)
    assert first.endswith("/question/address_line/")
    page = client.get(first).content.decode()
    assert "Question 1 of 8" in page
    assert 'value="4 Mill Lane"' in page
    assert "From Health Service records, updated 3 May 2025." in page
    # and only that question is on the page
    assert 'name="age"' not in page


def test_an_answer_with_an_error_is_shown_beside_the_field_and_kept_as_typed(
    maria,
    long_service,
):
    client = _client(maria)
    first = _start(client, long_service.code)
    # when the citizen types words for their age
    response = _answer(client, first, "age", "forty")
    # then the page says what is wrong, beside the field and in the summary, and keeps it
    page = response.content.decode()
    assert response.status_code == 400
    assert "govuk-error-summary" in page and 'id="id_age_error"' in page
    assert 'value="forty"' in page
    # and the draft holds it on the server already
    assert ApplicationDraft.objects.get(applicant=maria).data["age"] == "forty"


def test_an_expired_session_does_not_lose_the_draft(maria, long_service):
    client = _client(maria)
    first = _start(client, long_service.code)
    _answer(client, first, "age", "41")
    # when the session ends (signed out, or expired) and the citizen signs in again
    client.logout()
    assert client.get(first).status_code == 302  # to the sign-in page
    client = _client(maria)
    # then the catalogue offers to continue, and the answer is still there
    catalogue = client.get("/portal/services/").content.decode()
    assert "Continue your application" in catalogue
    assert 'value="41"' in client.get(_step(first, "age")).content.decode()


def test_save_and_come_back_later_keeps_the_answer_and_leaves(maria, long_service):
    client = _client(maria)
    first = _start(client, long_service.code)
    response = client.post(_step(first, "income"), {"income": "12x", "action": "save"})
    assert response.status_code == 302 and response["Location"] == "/portal/services/"
    assert ApplicationDraft.objects.get(applicant=maria).data["income"] == "12x"


def test_a_citizen_completes_a_long_form_checks_the_answers_and_the_case_is_made(
    maria,
    long_service,
):
    client = _client(maria)
    first = _start(client, long_service.code)
    # when the citizen keeps the pre-filled address, changes the postcode, answers the rest
    assert _answer(client, first, "address_line", "4 Mill Lane")["Location"].endswith(
        "/question/postcode/"
    )
    _answer(client, first, "postcode", "NT1 1AA")
    _answer(client, first, "age", "41")
    _answer(client, first, "income", "12000.50")
    _answer(client, first, "has_partner", "false")
    _answer(client, first, "housing", "rent")
    _answer(client, first, "moved_in", "2024-02-29")
    upload = SimpleUploadedFile("payslip.png", SMALL_PNG, content_type="image/png")
    done = client.post(_step(first, "evidence"), {"evidence": upload, "action": "continue"})
    assert done.status_code == 302 and done["Location"].endswith("/check/")
    # then "check your answers" lists every answer as the citizen reads it, with Change links
    check = client.get(done["Location"]).content.decode()
    for shown in ("4 Mill Lane", "NT1 1AA", "Rented", "No", "29 February 2024", "payslip.png"):
        assert shown in check
    assert check.count(">Change<") == 8
    # the unchanged address still names its source; the changed postcode does not
    assert check.count("From Health Service records") == 1
    # when they send it
    sent = client.post(done["Location"])
    # then the case holds exactly what they submitted, and they go to its page
    case = Case.objects.get(applicant=maria)
    assert sent.status_code == 302 and sent["Location"] == f"/portal/cases/{case.reference}/"
    draft = ApplicationDraft.objects.get(applicant=maria)
    assert case.data == {
        "address_line": "4 Mill Lane",
        "postcode": "NT1 1AA",
        "age": 41,
        "income": 12000.5,
        "has_partner": False,
        "housing": "rent",
        "moved_in": "2024-02-29",
        "evidence": str(draft.documents.get().pk),
    }
    # and the finished application is no longer a draft to continue
    assert "Continue your application" not in client.get("/portal/services/").content.decode()
    assert client.get(first)["Location"] == f"/portal/cases/{case.reference}/"


def test_a_change_link_returns_to_check_your_answers(maria, long_service):
    client = _client(maria)
    first = _start(client, long_service.code)
    response = client.post(_step(first, "age") + "?change=1", {"age": "50"})
    assert response.status_code == 302 and response["Location"].endswith("/check/")


def test_sending_with_unanswered_questions_shows_each_problem_with_a_link_to_it(
    maria,
    long_service,
):
    client = _client(maria)
    first = _start(client, long_service.code)
    check_url = first.replace("/question/address_line/", "/check/")
    response = client.post(check_url)
    page = response.content.decode()
    assert response.status_code == 400 and "There is a problem" in page
    assert "Your age: This field is required." in page
    assert _step(first, "age") + "?change=1" in page
    assert Case.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("payslip.exe", b"MZ" + b"\x00" * 30, "The selected file must be a PDF or PNG"),
        ("fake.png", b"not really a png", "The selected file must be a PDF or PNG"),
        ("big.png", SMALL_PNG + b"\x00" * 2000, "The selected file must be smaller than"),
    ],
)
def test_a_document_of_the_wrong_type_or_size_is_refused_beside_the_field(
    maria,
    long_service,
    name,
    content,
    message,
):
    client = _client(maria)
    first = _start(client, long_service.code)
    upload = SimpleUploadedFile(name, content)
    response = client.post(_step(first, "evidence"), {"evidence": upload, "action": "continue"})
    page = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_evidence_error"' in page and message in page
    assert not ApplicationDraft.objects.get(applicant=maria).documents.exists()


def test_a_short_form_is_one_page_then_check_your_answers(maria, short_service):
    client = _client(maria)
    first = _start(client, short_service.code)
    page = client.get(first).content.decode()
    assert 'name="age"' in page and 'name="income"' in page and "Question 1" not in page
    response = client.post(first, {"age": "40", "income": "0", "email": "", "action": "continue"})
    assert response["Location"].endswith("/check/")
    sent = client.post(response["Location"])
    case = Case.objects.get(applicant=maria)
    assert case.data == {"age": 40, "income": 0}
    assert sent["Location"] == f"/portal/cases/{case.reference}/"


def test_another_citizens_draft_is_not_found(maria, long_service):
    first = _start(_client(maria), long_service.code)
    stranger = _client(CitizenFactory(username="stranger"))
    assert stranger.get(first).status_code == 404
    assert stranger.post(first, {"address_line": "x", "action": "continue"}).status_code == 404
    check_url = first.replace("/question/address_line/", "/check/")
    assert stranger.post(check_url).status_code == 404
    delete_url = first.replace("/question/address_line/", "/delete/")
    assert stranger.post(delete_url).status_code == 404
    assert ApplicationDraft.objects.filter(applicant=maria).count() == 1


def test_a_citizen_deletes_their_draft(maria, long_service):
    client = _client(maria)
    first = _start(client, long_service.code)
    delete_url = first.replace("/question/address_line/", "/delete/")
    assert "Are you sure" in client.get(delete_url).content.decode()
    assert client.post(delete_url)["Location"] == "/portal/services/"
    assert not ApplicationDraft.objects.exists()


def test_staff_cannot_apply_in_the_portal(long_service):
    worker = verified(staff(Role.CASEWORKER))
    client = Client()
    client.force_login(worker)
    assert client.post(f"/portal/services/{long_service.code}/apply/").status_code == 403


def test_the_demo_child_benefit_prefills_the_family_name_and_names_its_source():
    # given the demo child benefit and a citizen Health knows as Garcia (the account agrees)
    AgencyFactory(code="social-services", name="Social Services")
    definitions.service_deploy(actor=system_actor(), directory=DEMO_SERVICES / "child-benefit")
    user = factories.linked_citizen(username="garcia", family_name="Doe")
    client = _client(user)
    # when they start an application (four questions: one page)
    page = client.get(_start(client, "child-benefit")).content.decode()
    # then the child's family name is filled in with theirs, and says where it came from
    assert 'name="child_family_name"' in page and 'value="Doe"' in page
    assert "We filled in your own family name." in page
    assert re.search(r"From (Health Service|Citizen portal) records, updated", page)


def test_the_demo_business_permit_takes_a_supporting_document():
    AgencyFactory(code="revenue", name="Revenue")
    definitions.service_deploy(actor=system_actor(), directory=DEMO_SERVICES / "business-permit")
    client = _client(CitizenFactory(username="trader"))
    page = client.get(_start(client, "business-permit")).content.decode()
    assert 'type="file"' in page and 'accept=".pdf,.jpg,.jpeg,.png"' in page
    assert "The file must be a PDF, JPG or PNG and smaller than 5 MB." in page
