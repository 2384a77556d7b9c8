"""The citizen's own pages: the dashboard, a case with its decision letter, "your data" with
its sources and "report a mistake", and tell us once."""

import re

import pytest
from django.test import Client

from cases.choices import CaseStatus, WorkItemStatus
from cases.models import Case, CaseDecision, Notification, Service, WorkItem
from cases.services import definitions, engine, overrides, work_items
from consent.tests.factories import linked_citizen
from core.models import AuditEntry
from identity.choices import Role
from identity.services import system_actor
from identity.tests.factories import AgencyFactory, CitizenFactory, staff, verified
from portal.corrections import correction_services_deploy
from registry.services.persons import person_golden_refresh
from registry.tests.factories import SourceRecordFactory
from registry.tests.factories_review import signed_in

pytestmark = pytest.mark.django_db


def _text(response):
    return re.sub(r"\s+", " ", response.content.decode())


def _submit(service, citizen, income):
    return engine.case_submit(
        service=service, data={"age": 40, "income": income}, applicant=citizen, actor=citizen
    )


def linked_with_records():
    """A citizen linked to a person whose golden record comes from Revenue and Health."""
    revenue = AgencyFactory(code="revenue", name="Revenue")
    user, person = linked_citizen(username="maria")
    hospital = AgencyFactory(code="health", name="Health")
    SourceRecordFactory(
        agency=revenue,
        agency_record_id="REV-0042",
        person=person,
        given_name="Maria",
        family_name="Lopez",
        address_line="12 High Street",
        locality="Northtown",
        postcode="NT1 2AB",
        national_id="123456789",
    )
    SourceRecordFactory(
        agency=hospital,
        agency_record_id="NHS-7",
        person=person,
        given_name="Maria",
        family_name="Lopez",
        address_line="",
        locality="",
        postcode="",
        national_id="123456789",
    )
    person_golden_refresh(person_ids=[person.pk])
    return user, person


@pytest.fixture
def other_citizen():
    return CitizenFactory(username="other")


@pytest.fixture
def caseworker(health):
    return verified(staff(Role.CASEWORKER, health, username="cas"))


@pytest.fixture
def revenue():
    return AgencyFactory(code="revenue", name="Revenue")


@pytest.fixture
def linked():
    return linked_with_records()


# --- the dashboard ---------------------------------------------------------------------------


def test_dashboard_lists_only_the_citizens_own_cases_open_ones_first(
    service,
    citizen,
    other_citizen,
):
    # given a decided case and a case waiting for a caseworker, and someone else's case
    decided = _submit(service, citizen, 10_000)
    waiting = _submit(service, citizen, 25_000)
    theirs = _submit(service, other_citizen, 10_000)
    assert decided.status == CaseStatus.COMPLETED
    # when the citizen opens their dashboard
    response = signed_in(Client(), citizen).get("/portal/")
    # then both of theirs are listed with status words, agency and next step, open one first
    text = _text(response)
    assert response.status_code == 200
    assert decided.reference in text and waiting.reference in text
    assert theirs.reference not in text
    assert text.index(waiting.reference) < text.index(decided.reference)
    assert "With a caseworker" in text and "Completed" in text
    assert "A caseworker at Health: “Review the application”" in text
    assert "Applicant told" in text  # the latest step of the decided case


def test_the_home_page_sends_a_citizen_to_their_dashboard_and_keeps_staffs(citizen, caseworker):
    # a citizen opening / lands on their dashboard
    response = signed_in(Client(), citizen).get("/")
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    # staff keep their own home page
    response = signed_in(Client(), caseworker).get("/")
    assert response.status_code == 200
    assert "Your roles" in _text(response)


# --- a case -----------------------------------------------------------------------------------


def test_case_page_shows_the_decision_the_rule_that_fired_and_the_message(service, citizen):
    # given an application decided automatically
    case = _submit(service, citizen, 10_000)
    # when the citizen opens it
    response = signed_in(Client(), citizen).get(f"/portal/cases/{case.reference}/")
    # then the decision letter gives the outcome and why: the rule and the inputs it tested
    text = _text(response)
    assert response.status_code == 200
    assert "Eligibility: approve" in text
    assert "Rule 2" in text
    assert "Yearly income is 10000, which is less than 20000" in text
    # and the timeline, the message sent and the application as submitted
    assert "You applied" in text and "Decided automatically" in text
    assert f"Your application {case.reference}" in text
    assert "The outcome: approve." in text
    assert "Household income last year" in text
    assert "Tell the applicant" not in text  # the message stands for that step
    # and the read went through case_get: authorised and audited
    assert AuditEntry.objects.filter(
        action="case.view", actor_id=citizen.pk, target__endswith=str(case.pk)
    ).exists()


def test_an_override_is_shown_with_its_reason(service, citizen, caseworker):
    # given a case in the review band whose automated decision a caseworker overrode
    case = _submit(service, citizen, 25_000)
    decision = CaseDecision.objects.get(case=case)
    overrides.case_decision_override(
        decision=decision,
        outcome="approve",
        reason="The payslips show the income fell this year.",
        actor=caseworker,
    )
    # when the citizen opens the case
    text = _text(signed_in(Client(), citizen).get(f"/portal/cases/{case.reference}/"))
    # then they see both outcomes and the caseworker's reason
    assert "changed the automated decision “review” to “approve”" in text
    assert "The payslips show the income fell this year." in text
    assert "A caseworker changed the decision" in text  # on the timeline too


def test_another_citizens_case_is_not_found(service, citizen, other_citizen):
    # given someone else's case
    theirs = _submit(service, other_citizen, 10_000)
    # when the citizen asks for it by its reference
    response = signed_in(Client(), citizen).get(f"/portal/cases/{theirs.reference}/")
    # then it does not exist for them, and nothing of it is shown
    assert response.status_code == 404
    assert "Page not found" in _text(response)
    assert theirs.service.name not in _text(response)
    assert "10000" not in _text(response)
    assert not AuditEntry.objects.filter(action="case.view", actor_id=citizen.pk).exists()


def test_a_change_of_address_case_shows_the_agencies_it_reached(
    django_capture_on_commit_callbacks,
):
    # given agencies subscribed to address changes and the change-of-address service
    from cases.management.commands.deploy_demo_services import DEMO_SERVICES
    from exchange.events import services as events
    from exchange.events.testing import NEW_ADDRESS, events_world

    world = events_world()
    AgencyFactory(code="social-services", name="Social Services")
    events.subscription_create(
        actor=system_actor(),
        agency=world["health"],
        event_type="address",
        agreement=world["to_health"].agreement,
        handler="registry.address",
    )
    moving = definitions.service_deploy(
        actor=system_actor(), directory=DEMO_SERVICES / "change-of-address"
    ).service
    # when the citizen tells us their new address once
    with django_capture_on_commit_callbacks(execute=True):
        case = engine.case_submit(
            service=moving, data=NEW_ADDRESS, applicant=world["citizen"], actor=world["citizen"]
        )
    assert case.status == CaseStatus.COMPLETED, case.error
    # then the case page names the agency it reached, as delivered
    text = _text(signed_in(Client(), world["citizen"]).get(f"/portal/cases/{case.reference}/"))
    assert "Who we told" in text
    assert re.search(r"Health</dt> <dd [^>]*>Delivered", text)
    # and tell us once lists the change with the same evidence
    text = _text(signed_in(Client(), world["citizen"]).get("/portal/tell-us-once/"))
    assert "2 New Street, Newtown, NT2 2BB" in text
    assert re.search(r"Health</dt> <dd [^>]*>Delivered", text)


# --- your data --------------------------------------------------------------------------------


def test_your_data_shows_each_field_with_its_source_and_is_audited(linked):
    # given a citizen whose golden record comes from agency records
    user, person = linked
    # when they open "your data"
    response = signed_in(Client(), user).get("/portal/your-data/")
    # then each detail names the agency record it came from
    text = _text(response)
    assert response.status_code == 200
    assert "12 High Street" in text
    assert "From Revenue, record REV-0042" in text
    assert "14 March 1985" in text and "Female" in text
    assert "Report a mistake" in text
    # the national ID is masked even here
    assert "123456789" not in text and "789" in text
    # and every agency record is listed per agency
    assert "NHS-7" in text and "Health" in text
    # and the read is in the person's access log
    reads = AuditEntry.objects.filter(subject_person=person.pk, actor_id=user.pk)
    assert set(reads.values_list("action", flat=True)) == {"person.read", "source_record.read"}


def test_an_unlinked_account_is_told_why_no_data_is_shown(citizen):
    # given a citizen whose account is linked to no person yet
    client = signed_in(Client(), citizen)
    # when they open "your data" and tell us once
    for url in ("/portal/your-data/", "/portal/tell-us-once/"):
        response = client.get(url)
        # then the page explains why there is nothing to show
        assert response.status_code == 200
        assert "not linked to your record in government yet" in _text(response)
    assert not AuditEntry.objects.filter(action="person.read").exists()


def test_staff_cannot_open_your_data(caseworker):
    response = signed_in(Client(), caseworker).get("/portal/your-data/")
    assert response.status_code == 403


def test_a_correction_request_becomes_a_case_at_the_owning_agency(linked, revenue):
    # given Revenue takes correction requests and holds the citizen's address
    user, _person = linked
    correction_services_deploy(actor=system_actor(), agencies=[revenue])
    client = signed_in(Client(), user)
    # when the citizen reports a mistake in their address
    response = client.post(
        "/portal/your-data/address_line/report-a-mistake/",
        {"correct_value": "14 High Street", "note": "The house number is 14."},
    )
    # then a case waits in Revenue's correction queue, and they land on it
    case = Case.objects.get(applicant=user)
    assert response.status_code == 302
    assert response["Location"] == f"/portal/cases/{case.reference}/"
    assert case.agency == revenue
    assert case.service.code == "data-correction-revenue"
    assert case.data["record"] == "REV-0042"
    assert case.data["current_value"] == "12 High Street"
    assert case.data["correct_value"] == "14 High Street"
    item = WorkItem.objects.get(case=case)
    assert (item.agency, item.queue, item.status) == (revenue, "data-correction", "open")
    text = _text(client.get(response["Location"]))
    assert "With a caseworker" in text and "Revenue" in text
    # and when Revenue's caseworker corrects the record, the citizen is told
    worker = verified(staff(Role.CASEWORKER, revenue, username="rev-cas"))
    work_items.work_item_complete(
        item=item, data={"outcome": "corrected", "reply": "Fixed."}, actor=worker
    )
    note = Notification.objects.get(case=case)
    assert note.body == "We have corrected our record. Fixed."
    assert WorkItem.objects.get(case=case).status == WorkItemStatus.COMPLETED


def test_a_correction_without_a_value_keeps_the_note_and_shows_the_error(linked, revenue):
    user, _person = linked
    correction_services_deploy(actor=system_actor(), agencies=[revenue])
    # when the citizen sends the form without the correct value
    response = signed_in(Client(), user).post(
        "/portal/your-data/address_line/report-a-mistake/", {"note": "Moved in May."}
    )
    # then nothing is submitted, the error is beside the field, and the note is kept
    text = _text(response)
    assert response.status_code == 400
    assert 'id="id_correct_value_error"' in text
    assert "Moved in May." in text
    assert not Case.objects.exists()


def test_a_correction_to_an_agency_without_the_service_says_so(linked):
    # given no agency takes correction requests online
    user, _person = linked
    # when the citizen reports a mistake
    response = signed_in(Client(), user).post(
        "/portal/your-data/address_line/report-a-mistake/", {"correct_value": "14 High Street"}
    )
    # then they are told who to contact, and nothing is stored
    assert response.status_code == 409
    assert "Revenue does not take correction requests online yet" in _text(response)
    assert not Case.objects.exists()


# --- tell us once -----------------------------------------------------------------------------


def test_tell_us_once_shows_the_address_the_agencies_and_the_way_to_start(linked):
    user, _person = linked
    # when the citizen opens tell us once
    response = signed_in(Client(), user).get("/portal/tell-us-once/")
    # then it shows their address now, which agencies hold one, and a start button
    text = _text(response)
    assert response.status_code == 200
    assert "12 High Street, Northtown, NT1 2AB" in text
    assert re.search(r"Revenue</dt> <dd [^>]*>12 High Street", text)
    assert "Health</dt>" not in text  # Health holds no address for them
    assert 'href="/portal/services/change-of-address/apply/"' in text
    assert "You have not told us of a new address here yet." in text


def test_every_agency_holding_records_gets_its_correction_service_once(linked):
    from io import StringIO

    from django.core.management import call_command

    # when the command runs twice after the agencies' records are loaded
    first, second = StringIO(), StringIO()
    call_command("deploy_correction_services", stdout=first)
    call_command("deploy_correction_services", stdout=second)
    # then each agency holding records has one, the citizen portal none, deployed once
    codes = set(
        Service.objects.filter(code__startswith="data-correction-").values_list("code", flat=True)
    )
    assert codes == {"data-correction-health", "data-correction-revenue"}
    assert first.getvalue().count("(deployed)") == 2
    assert second.getvalue().count("(unchanged)") == 2
    assert Service.objects.get(code="data-correction-health").agency.code == "health"


@pytest.mark.parametrize(
    ("test", "words"),
    [
        ("< 20000", "less than 20000"),
        (">= 18", "at least 18"),
        ("[20000..30000)", "from 20000 up to but not including 30000"),
        ("[1..5]", "from 1 to 5"),
        ("(1..5]", "more than 1 and at most 5"),
        ('"retail"', '"retail"'),
    ],
)
def test_the_letter_says_a_rules_test_in_words(test, words):
    from cases.explain import phrase_test

    assert phrase_test(test) == words
