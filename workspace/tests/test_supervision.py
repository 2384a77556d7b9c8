"""The supervisor dashboard: backlog, SLA, throughput, automation, override and satisfaction
rates."""

import pytest
from django.test import Client

from cases.models import CaseDecision, WorkItem
from cases.services import engine, overrides, work_items
from core.errors import PermissionDenied
from identity import policy
from portal import services as portal_services
from workspace import dashboard

pytestmark = pytest.mark.django_db


def _submit(service, citizen, income):
    return engine.case_submit(
        service=service, data={"age": 30, "income": income}, applicant=citizen, actor=citizen
    )


@pytest.fixture
def work(service, citizen, caseworker):
    """Three applications decided automatically, one decided by a caseworker, one waiting,
    one automated decision overridden, and two applicants who said how satisfied they were
    (one very satisfied, one dissatisfied)."""
    automated = [_submit(service, citizen, 10_000) for _ in range(3)]
    reviewed = _submit(service, citizen, 25_000)
    waiting = _submit(service, citizen, 26_000)
    item = WorkItem.objects.get(case=reviewed)
    work_items.work_item_claim(item=item, actor=caseworker)
    work_items.work_item_complete(item=item, data={"decision": "approve"}, actor=caseworker)
    decision = CaseDecision.objects.get(case=automated[0])
    overrides.case_decision_override(
        decision=decision, outcome="reject", reason="Income proof forged.", actor=caseworker
    )
    portal_services.satisfaction_give(actor=citizen, case=automated[1], rating=5)
    portal_services.satisfaction_give(
        actor=citizen, case=reviewed, rating=2, comment="It took too long."
    )
    return {"automated": automated, "reviewed": reviewed, "waiting": waiting}


def test_figures_count_automation_overrides_sla_and_backlog(work, supervisor, health):
    # when the supervisor reads the figures
    (row,) = dashboard.service_figures(viewer=supervisor, agency=health)
    # then four cases completed, three of them without a person
    assert (row.completed, row.automated) == (4, 3)
    assert row.automation_percent == 75.0
    # and one is waiting for a caseworker: the backlog
    assert (row.open_cases, row.open_items, row.breached_items) == (1, 1, 0)
    # and the work item done was done by its due date
    assert (row.items_completed, row.items_on_time, row.sla_percent) == (1, 1, 100.0)
    # and one of the five automated decisions was overridden
    assert (row.decisions, row.overridden) == (5, 1)
    assert row.override_percent == 20.0
    # and of the two applicants who answered, one was satisfied or very satisfied
    assert (row.responses, row.satisfied, row.satisfaction_percent) == (2, 1, 50.0)


def test_satisfaction_counts_only_answers_in_the_period(work, supervisor, health):
    # given one of the answers was given long ago
    from portal.models import SatisfactionResponse

    old = SatisfactionResponse.objects.get(rating=2)
    old.created_at = old.created_at.replace(year=old.created_at.year - 1)
    old.save()
    # when the supervisor reads the last 30 days
    (row,) = dashboard.service_figures(viewer=supervisor, agency=health, days=30)
    # then only the recent, very satisfied answer counts
    assert (row.responses, row.satisfied, row.satisfaction_percent) == (1, 1, 100.0)


def test_only_a_supervisor_of_the_agency_reads_the_figures(work, caseworker, health):
    with pytest.raises(PermissionDenied):
        dashboard.service_figures(viewer=caseworker, agency=health)


def test_the_page_shows_the_figures_as_charts_and_a_table(work, supervisor, monkeypatch):
    monkeypatch.setattr(policy, "mfa_satisfied", lambda user: True)
    client = Client()
    client.force_login(supervisor)
    response = client.get("/workspace/supervision/")
    assert response.status_code == 200
    text = response.text
    assert "How the work is going" in text
    assert text.count('class="bar-row"') == 5  # one bar per chart for the one service
    assert '<span class="bar-value">75%</span>' in text
    assert '<span class="bar-value">20%</span>' in text
    assert '<span class="bar-value">50%</span>' in text  # satisfied or very satisfied
    assert "Applicants satisfied or very satisfied" in text
    assert "3 / 4" in text and "1 / 5" in text and "1 / 2" in text


def test_a_caseworker_is_refused_the_page(work, caseworker, monkeypatch):
    monkeypatch.setattr(policy, "mfa_satisfied", lambda user: True)
    client = Client()
    client.force_login(caseworker)
    assert client.get("/workspace/supervision/").status_code == 403
