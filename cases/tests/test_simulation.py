"""Simulating a candidate rule version on the recorded decisions of a service's past cases."""

import pytest

from cases.models import CaseDecision
from cases.services import engine, overrides, simulation
from core.errors import PermissionDenied, ValidationFailed
from core.models import AuditEntry
from decisions import services as decision_services
from decisions.models import DecisionModel
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff, verified

from .conftest import TEST_SERVICE

pytestmark = pytest.mark.django_db


def _submit(service, citizen, income, age=30):
    return engine.case_submit(
        service=service, data={"age": age, "income": income}, applicant=citizen, actor=citizen
    )


def _candidate(analyst, *, low_below):
    model = DecisionModel.objects.get(key="test-benefit-eligibility")
    xml = (TEST_SERVICE / "eligibility.dmn").read_text()
    xml = xml.replace("&lt; 20000", f"&lt; {low_below}").replace(
        "[20000..30000)", f"[{low_below}..30000)"
    )
    return decision_services.decision_model_version_upload(actor=analyst, model=model, dmn_xml=xml)


def test_a_candidate_version_shows_how_many_outcomes_change_and_which(
    service, citizen, analyst, caseworker
):
    # given past cases: approved at 10,000 and 21,000 (review band), rejected as a minor
    approved = _submit(service, citizen, 10_000)
    in_band = _submit(service, citizen, 21_000)
    minor = _submit(service, citizen, 21_500, age=16)
    high = _submit(service, citizen, 50_000)
    overrides.case_decision_override(
        decision=CaseDecision.objects.select_related("case__agency").get(case=high),
        outcome="approve",
        reason="Exceptional hardship.",
        actor=caseworker,
    )
    # when an analyst simulates a candidate that approves incomes below 22,000 (draft)
    candidate = _candidate(analyst, low_below=22_000)
    report = simulation.case_decisions_reevaluate(
        service=service, candidate_version=candidate, actor=analyst
    )
    # then only the case in the old review band changes, and it is named
    assert (report.total, report.changed, report.unchanged, report.errors) == (4, 1, 3, 0)
    assert [(c.case_reference, c.recorded, c.candidate) for c in report.changes] == [
        (in_band.reference, "review", "approve")
    ]
    assert report.transitions == {'"review" -> "approve"': 1}
    assert approved.reference not in {c.case_reference for c in report.changes}
    assert minor.reference not in {c.case_reference for c in report.changes}
    # and nothing was decided again: the simulation is only audited
    assert CaseDecision.objects.count() == 4
    entry = AuditEntry.objects.get(action="case.decisions_simulate")
    assert entry.data["changed"] == 1
    assert entry.actor == "ana"


def test_the_same_rules_change_nothing(service, citizen, analyst):
    for income in (5_000, 25_000, 45_000):
        _submit(service, citizen, income)
    same = _candidate(analyst, low_below=20_000)
    report = simulation.case_decisions_reevaluate(
        service=service, candidate_version=same, actor=analyst
    )
    assert (report.total, report.changed, report.changes) == (3, 0, [])


def test_a_caseworker_may_not_simulate(service, citizen, analyst, caseworker):
    _submit(service, citizen, 10_000)
    candidate = _candidate(analyst, low_below=22_000)
    with pytest.raises(PermissionDenied):
        simulation.case_decisions_reevaluate(
            service=service, candidate_version=candidate, actor=caseworker
        )


def test_a_model_the_service_does_not_call_is_refused(service, analyst):
    other = decision_services.decision_model_create(
        actor=analyst, agency=service.agency, key="unrelated", name="Unrelated"
    )
    version = decision_services.decision_model_version_upload(
        actor=analyst, model=other, dmn_xml=(TEST_SERVICE / "eligibility.dmn").read_text()
    )
    with pytest.raises(ValidationFailed) as refused:
        simulation.case_decisions_reevaluate(
            service=service, candidate_version=version, actor=analyst
        )
    assert "candidate_version" in refused.value.errors


def test_an_analyst_of_another_agency_is_refused(service, analyst):
    outsider = verified(staff(Role.POLICY_ANALYST, AgencyFactory(code="revenue"), username="o"))
    candidate = _candidate(analyst, low_below=22_000)
    with pytest.raises(PermissionDenied):
        simulation.case_decisions_reevaluate(
            service=service, candidate_version=candidate, actor=outsider
        )


def test_the_api_simulates_a_candidate_on_past_cases(service, citizen, analyst, caseworker):
    from cases.tests.test_api import BASE, _client, _post

    # given a past case in the review band and a candidate that approves it
    in_band = _submit(service, citizen, 21_000)
    candidate = _candidate(analyst, low_below=22_000)
    body = {"model": "test-benefit-eligibility", "version": candidate.version}
    # when the analyst asks the API
    answer = _post(_client(analyst), f"{BASE}/services/test-benefit/simulate", body)
    # then the change is named, and nothing was decided again
    assert answer.status_code == 200
    report = answer.json()
    assert (report["total"], report["changed"]) == (1, 1)
    assert report["changes"][0]["case_reference"] == in_band.reference
    assert (report["changes"][0]["recorded"], report["changes"][0]["candidate"]) == (
        "review",
        "approve",
    )
    # and a caseworker is refused, an unknown version is a clear 404
    refused = _post(_client(caseworker), f"{BASE}/services/test-benefit/simulate", body)
    assert refused.status_code == 403
    missing = _post(
        _client(analyst), f"{BASE}/services/test-benefit/simulate", {**body, "version": 99}
    )
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("application/problem+json")
