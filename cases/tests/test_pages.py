"""The cases staff pages: analytics, work queue, work item, supervision — roles and flows."""

import re

import pytest
from django.test import Client

from cases.models import Case, WorkItem
from cases.services import engine
from core.models import AuditEntry
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff
from registry.tests.factories_review import signed_in

# this module is also the URLconf: the project's URLs with the cases pages at /cases/

pytestmark = pytest.mark.django_db


def _text(response):
    return re.sub(r"\s+", " ", response.content.decode())


def _submit(service, citizen, income):
    return engine.case_submit(
        service=service, data={"age": 40, "income": income}, applicant=citizen, actor=citizen
    )


@pytest.fixture
def review_item(service, citizen):
    """A case in the human-review band: one open work item."""
    _submit(service, citizen, 25000)
    return WorkItem.objects.get()


@pytest.fixture
def outsider():
    return staff(Role.SUPERVISOR, AgencyFactory(code="revenue", name="Revenue"), username="rev")


def _client(user):
    return signed_in(Client(), user)


# --- who may open which page -------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "url", "expected"),
    [
        ("caseworker", "/cases/work/", 200),
        ("supervisor", "/cases/work/", 200),
        ("analyst", "/cases/work/", 403),
        ("citizen", "/cases/work/", 403),
        ("supervisor", "/cases/supervision/", 200),
        ("caseworker", "/cases/supervision/", 403),
        ("analyst", "/cases/services/", 200),
        ("analyst", "/cases/services/test-benefit/analytics/", 200),
        ("supervisor", "/cases/services/test-benefit/analytics/", 200),
        ("citizen", "/cases/services/test-benefit/analytics/", 403),
        ("outsider", "/cases/services/test-benefit/analytics/", 403),
        ("outsider", "/cases/services/test-benefit/event-log.csv", 403),
    ],
)
def test_pages_answer_the_right_roles(request, service, who, url, expected):
    user = request.getfixturevalue(who)
    assert _client(user).get(url).status_code == expected


def test_anonymous_visitors_are_sent_to_sign_in(service):
    answer = Client().get("/cases/work/")
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]


def test_another_agencys_caseworker_cannot_open_or_claim_an_item(review_item, outsider):
    client = _client(outsider)
    assert client.get(f"/cases/work/{review_item.pk}/").status_code == 404
    client.post(f"/cases/work/{review_item.pk}/claim/")
    review_item.refresh_from_db()
    assert review_item.status == "open" and review_item.assignee is None
    # and their queue does not list it
    assert f"/cases/work/{review_item.pk}/" not in _text(client.get("/cases/work/"))


# --- the work queue ----------------------------------------------------------------------


def test_queue_lists_open_items_with_sla_and_filters(service, citizen, review_item, caseworker):
    client = _client(caseworker)
    text = _text(client.get("/cases/work/"))
    assert f'href="/cases/work/{review_item.pk}/"' in text
    assert "benefit-review" in text and "On time" in text
    # filtering on breached items hides it; on its queue shows it
    assert f"/cases/work/{review_item.pk}/" not in _text(
        client.get("/cases/work/", {"sla_status": "breached"})
    )
    assert f"/cases/work/{review_item.pk}/" in _text(
        client.get("/cases/work/", {"queue": "benefit-review", "min_priority": 10})
    )
    # a bad filter is shown beside its field
    bad = client.get("/cases/work/", {"min_priority": 500})
    assert bad.status_code == 400
    assert 'id="id_min_priority_error"' in _text(bad)


def test_claim_and_release_from_the_queue(review_item, caseworker):
    client = _client(caseworker)
    # when the caseworker claims the item from the queue page
    answer = client.post(f"/cases/work/{review_item.pk}/claim/", {"next": "/cases/work/"})
    # then it is theirs and they are back on the queue with a message
    assert answer.status_code == 302 and answer["Location"] == "/cases/work/"
    review_item.refresh_from_db()
    assert review_item.status == "claimed" and review_item.assignee == caseworker
    text = _text(client.get("/cases/work/"))
    assert "You have claimed" in text and "Release" in text
    # when they release it, it is back in the queue
    client.post(f"/cases/work/{review_item.pk}/release/")
    review_item.refresh_from_db()
    assert review_item.status == "open" and review_item.assignee is None


def test_claiming_an_item_someone_else_holds_is_refused_with_a_message(
    review_item, caseworker, supervisor
):
    _client(supervisor).post(f"/cases/work/{review_item.pk}/claim/")
    client = _client(caseworker)
    answer = client.post(f"/cases/work/{review_item.pk}/claim/", follow=True)
    assert "Someone else has claimed" in _text(answer)
    review_item.refresh_from_db()
    assert review_item.assignee == supervisor


def test_claim_does_not_redirect_off_site(review_item, caseworker):
    answer = _client(caseworker).post(
        f"/cases/work/{review_item.pk}/claim/", {"next": "https://evil.example/"}
    )
    assert answer["Location"] == f"/cases/work/{review_item.pk}/"


# --- a work item -------------------------------------------------------------------------


def test_item_page_shows_the_case_and_the_decision_explanation(review_item, caseworker):
    text = _text(_client(caseworker).get(f"/cases/work/{review_item.pk}/"))
    # the application with the form's titles
    assert "Household income last year" in text and "25000" in text
    # the automated decision, its explanation and the rule that decided
    assert "Eligibility: review" in text
    assert "Yes: this rule decided" in text
    assert "[20000..30000)" in text
    # the completion form from the task's JSON Schema
    assert 'name="decision"' in text and 'value="approve"' in text
    assert "Note for the file" in text
    # reading the case is audited with its purpose
    assert AuditEntry.objects.filter(action="case.view", purpose="work item").exists()


def test_completing_with_errors_shows_them_beside_the_fields(review_item, caseworker):
    client = _client(caseworker)
    # when the caseworker sends the form without a decision and with an over-long note
    answer = client.post(f"/cases/work/{review_item.pk}/", {"note": "x" * 2001})
    # then the page says what is wrong, in a summary and beside each field
    assert answer.status_code == 400
    text = _text(answer)
    assert "There is a problem" in text
    assert 'id="id_decision_error"' in text and 'id="id_note_error"' in text
    assert 'href="#id_decision"' in text
    review_item.refresh_from_db()
    assert review_item.status == "open"


def test_completing_the_item_runs_the_case_on(review_item, caseworker):
    client = _client(caseworker)
    client.post(f"/cases/work/{review_item.pk}/claim/")
    answer = client.post(
        f"/cases/work/{review_item.pk}/", {"decision": "reject", "note": "Income too high"}
    )
    assert answer.status_code == 302 and answer["Location"] == "/cases/work/"
    review_item.refresh_from_db()
    assert review_item.status == "completed" and review_item.completed_by == caseworker
    assert review_item.data == {"decision": "reject", "note": "Income too high"}
    case = Case.objects.get(pk=review_item.case_id)
    assert case.status == "completed" and case.result["outcome"] == "reject"
    # and a second completion is refused on the page
    again = client.post(f"/cases/work/{review_item.pk}/", {"decision": "approve"})
    assert "Completed by cas" in _text(again) or again.status_code == 409


def test_an_item_claimed_by_someone_else_cannot_be_completed(review_item, caseworker, supervisor):
    _client(supervisor).post(f"/cases/work/{review_item.pk}/claim/")
    client = _client(caseworker)
    assert "Someone else has claimed this task" in _text(
        client.get(f"/cases/work/{review_item.pk}/")
    )
    answer = client.post(f"/cases/work/{review_item.pk}/", {"decision": "approve"})
    assert answer.status_code == 409
    review_item.refresh_from_db()
    assert review_item.status == "claimed"


# --- supervision -------------------------------------------------------------------------


def test_load_page_shows_items_per_queue_and_per_person(review_item, caseworker, supervisor):
    client = _client(supervisor)
    client.post(f"/cases/work/{review_item.pk}/claim/")
    text = _text(client.get("/cases/supervision/"))
    # the queue with one claimed item, the supervisor holding it, and a reassign form
    assert re.search(
        r'<th scope="row" class="govuk-table__header">benefit-review</th>'
        r'<td class="govuk-table__cell govuk-table__cell--numeric">0</td>'
        r'<td class="govuk-table__cell govuk-table__cell--numeric">1</td>',
        text,
    )
    assert (
        '(sup)</span></th><td class="govuk-table__cell govuk-table__cell--numeric">1</td>' in text
    )
    assert f'action="/cases/supervision/{review_item.pk}/reassign/"' in text
    assert '<option value="cas">' in text


def test_reassign_gives_the_item_to_another_person(review_item, caseworker, supervisor):
    client = _client(supervisor)
    # when the supervisor gives the item to the caseworker
    answer = client.post(
        f"/cases/supervision/{review_item.pk}/reassign/",
        {f"item{review_item.pk}-assignee": "cas"},
    )
    # then it is the caseworker's, and the change is audited
    assert answer.status_code == 302
    review_item.refresh_from_db()
    assert review_item.assignee == caseworker
    assert AuditEntry.objects.filter(action="work_item.reassign").exists()


def test_reassign_without_a_person_shows_the_error_beside_the_field(review_item, supervisor):
    answer = _client(supervisor).post(
        f"/cases/supervision/{review_item.pk}/reassign/", {f"item{review_item.pk}-assignee": ""}
    )
    assert answer.status_code == 400
    assert f'id="id_item{review_item.pk}-assignee_error"' in _text(answer)
    review_item.refresh_from_db()
    assert review_item.assignee is None


def test_a_caseworker_cannot_reassign(review_item, caseworker):
    answer = _client(caseworker).post(
        f"/cases/supervision/{review_item.pk}/reassign/",
        {f"item{review_item.pk}-assignee": "cas"},
    )
    assert answer.status_code == 403


# --- analytics ---------------------------------------------------------------------------


def test_analytics_page_draws_the_graph_and_lists_every_edge(
    service, citizen, review_item, caseworker, analyst
):
    # given an automatic case and a reviewed one
    _submit(service, citizen, 5)
    reviewer = _client(caseworker)
    reviewer.post(f"/cases/work/{review_item.pk}/", {"decision": "approve"})
    # when the analyst opens the analytics page
    answer = _client(analyst).get("/cases/services/test-benefit/analytics/")
    text = _text(answer)
    # then the graph is an accessible SVG without inline styles
    assert answer.status_code == 200
    assert 'role="img"' in text and '<title id="dfg-title">' in text
    assert "style=" not in text
    # and the table lists each transition with its count
    assert re.search(
        r'<th scope="row" class="govuk-table__header">Application submitted</th> '
        r'<td class="govuk-table__cell">Decide eligibility</td> '
        r'<td class="govuk-table__cell govuk-table__cell--numeric">2</td>',
        text,
    )
    assert "Review the application" in text
    # and throughput, SLA and the download links are there
    assert "Version 1: 2 completed cases" in text
    assert "100% by the due date" in text
    assert 'href="/cases/services/test-benefit/event-log.xes"' in text


def test_analytics_filters_by_version_and_rejects_a_backwards_period(service, citizen, analyst):
    _submit(service, citizen, 5)
    client = _client(analyst)
    text = _text(client.get("/cases/services/test-benefit/analytics/", {"version": "1"}))
    assert "event-log.csv?version=1" in text
    bad = client.get(
        "/cases/services/test-benefit/analytics/",
        {"date_from": "2025-02-01", "date_to": "2025-01-01"},
    )
    assert bad.status_code == 400
    assert 'id="id_date_to_error"' in _text(bad)


def test_event_log_downloads_from_the_page_and_is_audited(service, citizen, analyst):
    _submit(service, citizen, 5)
    answer = _client(analyst).get("/cases/services/test-benefit/event-log.xes")
    assert answer.status_code == 200
    body = b"".join(answer.streaming_content).decode()
    assert body.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "<trace>" in body
    assert AuditEntry.objects.filter(action="case_event_log.export", actor="ana").exists()
    # an unknown format is a clear error page
    bad = _client(analyst).get("/cases/services/test-benefit/event-log.pdf")
    assert bad.status_code == 400
