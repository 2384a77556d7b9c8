"""Overriding an automated decision from the work item page, with a reason."""

import re

import pytest
from django.test import Client

from cases.models import CaseDecision, CaseDecisionOverride, WorkItem
from cases.services import engine
from core.models import AuditEntry
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff
from registry.tests.factories_review import signed_in

pytestmark = pytest.mark.django_db


def _text(response):
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def item(service, citizen):
    """A case in the review band: an automated "review" decision and an open work item."""
    engine.case_submit(
        service=service, data={"age": 40, "income": 25000}, applicant=citizen, actor=citizen
    )
    return WorkItem.objects.get()


def _url(item):
    decision = CaseDecision.objects.get(case=item.case)
    return decision, f"/cases/work/{item.pk}/decisions/{decision.pk}/override/"


def test_the_work_item_page_offers_to_override_each_automated_decision(item, caseworker):
    page = _text(signed_in(Client(), caseworker).get(f"/cases/work/{item.pk}/"))
    _decision, url = _url(item)
    assert f'action="{url}"' in page
    assert "Override the decision" in page


def test_an_override_needs_a_reason_shown_beside_the_field_and_keeps_the_outcome(item, caseworker):
    decision, url = _url(item)
    prefix = f"override{decision.pk}"
    response = signed_in(Client(), caseworker).post(
        url, {f"{prefix}-outcome": "approve", f"{prefix}-reason": "  "}
    )
    assert response.status_code == 400
    text = _text(response)
    assert f'id="id_{prefix}-reason_error"' in text
    assert 'value="approve"' in text  # what was typed is kept
    assert " open>" in text or "open>" in text  # the form stays open
    assert not CaseDecisionOverride.objects.exists()


def test_a_caseworker_overrides_with_a_reason_and_it_is_recorded(item, caseworker):
    decision, url = _url(item)
    prefix = f"override{decision.pk}"
    client = signed_in(Client(), caseworker)
    response = client.post(
        url, {f"{prefix}-outcome": "approve", f"{prefix}-reason": "Payslips seen in person."}
    )
    assert response.status_code == 302
    override = CaseDecisionOverride.objects.get()
    assert (override.outcome, override.reason) == ("approve", "Payslips seen in person.")
    assert CaseDecision.objects.get(pk=decision.pk).overridden
    assert AuditEntry.objects.filter(action="case.decision_override").exists()
    assert "overridden" in _text(client.get(f"/cases/work/{item.pk}/"))


def test_staff_of_another_agency_cannot_override(item):
    outsider = staff(Role.CASEWORKER, AgencyFactory(code="revenue", name="Revenue"))
    decision, url = _url(item)
    prefix = f"override{decision.pk}"
    response = signed_in(Client(), outsider).post(
        url, {f"{prefix}-outcome": "approve", f"{prefix}-reason": "Because."}
    )
    assert response.status_code in (403, 404)
    assert not CaseDecisionOverride.objects.exists()


def test_the_work_item_page_shows_what_has_happened_on_the_case(item, caseworker):
    page = _text(signed_in(Client(), caseworker).get(f"/cases/work/{item.pk}/"))
    assert "What has happened" in page
    timeline = page.split("What has happened", 1)[1].split("Automated decisions", 1)[0]
    # the steps the engine recorded, in order, before the decision's table
    steps = [e.activity for e in item.case.events.order_by("ended_at", "id")]
    assert steps and all(step in timeline for step in steps)
    positions = [timeline.index(step) for step in steps]
    assert positions == sorted(positions)
