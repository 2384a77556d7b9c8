"""The case engine against the database: decisions, notifications, work items, timers."""

import datetime as dt
import zlib

import pytest
import time_machine
from django.utils import timezone

from cases import connectors, selectors, tasks
from cases.choices import CaseStatus, WorkItemStatus
from cases.connectors import CONNECTORS
from cases.errors import CaseDataInvalid, CaseNotFound, ConnectorFailed, WorkItemConflict
from cases.models import (
    Case,
    CaseDecision,
    CaseEvent,
    EmittedEvent,
    Notification,
    WorkItem,
)
from cases.services import definitions, engine, overrides, work_items
from core import audit
from core.errors import PermissionDenied, ValidationFailed
from core.models import AuditEntry
from decisions import services as decision_services
from decisions.models import DecisionEvaluation, DecisionModel
from identity.choices import Role
from identity.services import system_actor
from identity.tests.factories import AgencyFactory, staff, verified

pytestmark = pytest.mark.django_db


def _submit(service, citizen, **data):
    return engine.case_submit(
        service=service,
        data={"age": 30, "income": 10_000, **data},
        applicant=citizen,
        actor=citizen,
    )


def test_submit_decides_automatically_and_notifies_the_applicant(service, citizen):
    # given a citizen with a low income
    # when they apply
    case = _submit(service, citizen)
    # then the decision table approved, the applicant was told, and the case completed
    assert case.status == CaseStatus.COMPLETED, case.error
    decision = CaseDecision.objects.get(case=case)
    assert decision.outputs == "approve"
    assert "Yearly income is 10000" in decision.explanation
    assert "rule 2" in decision.explanation
    note = Notification.objects.get(case=case)
    assert note.subject == f"Your application {case.reference}"
    assert note.body == "The outcome: approve."
    assert note.recipient == citizen
    assert case.result["outcome"] == "approve"
    activities = list(CaseEvent.objects.filter(case=case).values_list("element_id", flat=True))
    assert activities == ["submitted", "decide", "cooling_off", "notify_applicant", "done"]


def test_the_saved_state_holds_no_process_definition_and_stays_small(service, citizen):
    # when a case completes
    case = _submit(service, citizen)
    # then its stored state is the task states and data only, compressed
    text = zlib.decompress(case.state).decode()
    assert "Decide eligibility" not in text  # names live in the cached spec, not per case
    assert '"spec"' not in text
    assert len(case.state) < 2000
    # and it loads back onto the cached spec
    run = engine._open(case, actor=system_actor())
    assert run.workflow.is_completed()
    assert run.workflow.last_task.data["outcome"] == "approve"


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({"age": "thirty", "income": 1}, {"age": ["'thirty' is not of type 'integer'"]}),
        ({"age": 30}, {"income": ["This field is required."]}),
        ({"age": 30, "income": -1}, {"income": ["-1 is less than the minimum of 0"]}),
        ({"age": 30, "income": 1, "pet": "cat"}, {"pet": ["This field is not part of the form."]}),
    ],
)
def test_form_data_failing_the_schema_is_refused_per_field_and_nothing_stored(
    service, citizen, data, errors
):
    with pytest.raises(CaseDataInvalid) as refused:
        engine.case_submit(service=service, data=data, applicant=citizen, actor=citizen)
    assert refused.value.errors == errors
    assert refused.value.status == 422
    assert not Case.objects.exists()


def test_a_citizen_applies_for_themself_only(service, citizen, other_citizen):
    with pytest.raises(PermissionDenied):
        engine.case_submit(
            service=service, data={"age": 30, "income": 1}, applicant=other_citizen, actor=citizen
        )


def test_review_band_becomes_a_work_item_that_a_caseworker_claims_and_completes(
    service, citizen, caseworker
):
    # given an income in the review band
    case = _submit(service, citizen, income=25_000)
    # then the case waits for a person in the review queue, with the queue's SLA
    assert case.status == CaseStatus.WAITING
    item = WorkItem.objects.get(case=case)
    assert (item.queue, item.role, item.element_id, item.form_key) == (
        "benefit-review",
        "caseworker",
        "review",
        "review",
    )
    assert item.due_at - item.created_at == dt.timedelta(days=5)
    assert item.at_risk_at - item.created_at == dt.timedelta(days=4)
    assert not Notification.objects.exists()
    # when the caseworker claims it and completes it with a rejection
    item = selectors.work_item_get(viewer=caseworker, item_id=item.pk)
    work_items.work_item_claim(item=item, actor=caseworker)
    case = work_items.work_item_complete(item=item, data={"decision": "reject"}, actor=caseworker)
    # then the workflow went on from the review: the applicant is told and the case is done
    assert case.status == CaseStatus.COMPLETED, case.error
    assert Notification.objects.get(case=case).body == "The outcome: reject."
    item.refresh_from_db()
    assert (item.status, item.completed_by) == (WorkItemStatus.COMPLETED, caseworker)
    review = CaseEvent.objects.get(case=case, element_id="review")
    assert review.resource == "cas"
    assert review.started_at == item.created_at


def test_a_work_item_completed_twice_is_a_conflict(service, citizen, caseworker):
    case = _submit(service, citizen, income=25_000)
    item = selectors.work_item_get(viewer=caseworker, item_id=WorkItem.objects.get(case=case).pk)
    work_items.work_item_complete(item=item, data={"decision": "approve"}, actor=caseworker)
    with pytest.raises(WorkItemConflict) as conflict:
        work_items.work_item_complete(item=item, data={"decision": "reject"}, actor=caseworker)
    assert conflict.value.status == 409
    assert Notification.objects.get(case=case).body == "The outcome: approve."


def test_task_form_data_is_checked_and_a_refusal_leaves_the_item_open(service, citizen, caseworker):
    case = _submit(service, citizen, income=25_000)
    item = selectors.work_item_get(viewer=caseworker, item_id=WorkItem.objects.get(case=case).pk)
    with pytest.raises(CaseDataInvalid) as refused:
        work_items.work_item_complete(item=item, data={"decision": "maybe"}, actor=caseworker)
    assert list(refused.value.errors) == ["decision"]
    item.refresh_from_db()
    assert item.status == WorkItemStatus.OPEN


@pytest.mark.parametrize("who", ["other_agency_caseworker", "analyst", "citizen"])
def test_the_wrong_role_or_agency_may_not_work_an_item(service, citizen, analyst, who):
    case = _submit(service, citizen, income=25_000)
    item = WorkItem.objects.select_related("case", "agency").get(case=case)
    actor = {
        "other_agency_caseworker": verified(staff(Role.CASEWORKER, AgencyFactory(code="revenue"))),
        "analyst": analyst,
        "citizen": citizen,
    }[who]
    with pytest.raises(PermissionDenied):
        work_items.work_item_claim(item=item, actor=actor)
    with pytest.raises(PermissionDenied):
        work_items.work_item_complete(item=item, data={"decision": "approve"}, actor=actor)
    item.refresh_from_db()
    assert item.status == WorkItemStatus.OPEN


def test_a_supervisor_queue_refuses_caseworkers(
    health, service_files, citizen, caseworker, supervisor
):
    # given a version whose review queue is worked by supervisors
    service_files["service.yaml"] = service_files["service.yaml"].replace(
        "role: caseworker", "role: supervisor"
    )
    version = definitions.service_deploy(actor=system_actor(), files=service_files)
    case = _submit(version.service, citizen, income=25_000)
    item = WorkItem.objects.select_related("case", "agency").get(case=case)
    # then a caseworker is refused and a supervisor may complete it
    with pytest.raises(PermissionDenied):
        work_items.work_item_claim(item=item, actor=caseworker)
    case = work_items.work_item_complete(item=item, data={"decision": "approve"}, actor=supervisor)
    assert case.status == CaseStatus.COMPLETED


def test_claim_release_and_reassign(service, citizen, caseworker, supervisor, health):
    case = _submit(service, citizen, income=25_000)
    item = WorkItem.objects.select_related("case", "agency").get(case=case)
    colleague = verified(staff(Role.CASEWORKER, health, username="col"))
    work_items.work_item_claim(item=item, actor=caseworker)
    # someone else cannot claim it, nor complete it
    with pytest.raises(WorkItemConflict):
        work_items.work_item_claim(item=item, actor=colleague)
    with pytest.raises(WorkItemConflict):
        work_items.work_item_complete(item=item, data={"decision": "approve"}, actor=colleague)
    # only a supervisor reassigns
    with pytest.raises(PermissionDenied):
        work_items.work_item_reassign(item=item, assignee=colleague, actor=caseworker)
    work_items.work_item_reassign(item=item, assignee=colleague, actor=supervisor)
    assert selectors.work_item_list(viewer=colleague, assignee=colleague).get().pk == item.pk
    work_items.work_item_release(item=item, actor=colleague)
    item.refresh_from_db()
    assert (item.status, item.assignee) == (WorkItemStatus.OPEN, None)


def test_a_supervisor_gives_an_item_to_a_colleague_who_is_not_signed_in(
    service, citizen, supervisor, health
):
    # given a review item and a caseworker with no session (no second factor passed now)
    case = _submit(service, citizen, income=25_000)
    item = WorkItem.objects.select_related("case", "agency").get(case=case)
    colleague = staff(Role.CASEWORKER, health, username="away")
    # when the supervisor gives it to them
    work_items.work_item_reassign(item=item, assignee=colleague, actor=supervisor)
    # then it is theirs; someone without a role in the agency cannot be given it
    item.refresh_from_db()
    assert (item.status, item.assignee) == (WorkItemStatus.CLAIMED, colleague)
    outsider = staff(Role.CASEWORKER, AgencyFactory(code="revenue"), username="outsider")
    with pytest.raises(ValidationFailed):
        work_items.work_item_reassign(item=item, assignee=outsider, actor=supervisor)


def test_queues_show_sla_status_as_time_passes(service, citizen, caseworker, supervisor, health):
    start = timezone.now()
    _submit(service, citizen, income=25_000)

    def statuses(at):
        with time_machine.travel(at, tick=False):
            return [i.sla_status for i in selectors.work_item_list(viewer=caseworker)]

    assert statuses(start + dt.timedelta(days=1)) == ["on_time"]
    assert statuses(start + dt.timedelta(days=4, hours=1)) == ["at_risk"]
    assert statuses(start + dt.timedelta(days=5, hours=1)) == ["breached"]
    with time_machine.travel(start + dt.timedelta(days=4, hours=1), tick=False):
        assert selectors.work_item_list(viewer=caseworker, sla_status="breached").count() == 0
        load = selectors.queue_load(viewer=supervisor, agency=health)
    assert [(q.queue, q.open, q.at_risk) for q in load] == [("benefit-review", 1, 1)]


def test_a_boundary_timer_is_fired_by_the_worker_task(service, citizen):
    # given a case waiting for review, whose escalation timer (P2D) is due in two days
    case = _submit(service, citizen, income=25_000)
    assert case.timer_due_at is not None
    assert case.timer_due_at - timezone.now() > dt.timedelta(days=1, hours=23)
    # when the worker's task runs before and after the timer is due
    tasks.cases_fire_timers.enqueue()
    assert not EmittedEvent.objects.exists()
    with time_machine.travel(timezone.now() + dt.timedelta(days=3)):
        tasks.cases_fire_timers.enqueue()
    # then the escalation ran once, and the review is still waiting
    event = EmittedEvent.objects.get()
    assert (event.name, event.payload) == ("review overdue", {"reference": case.reference})
    case.refresh_from_db()
    assert case.status == CaseStatus.WAITING
    assert WorkItem.objects.get(case=case).status == WorkItemStatus.OPEN


def test_a_failing_connector_puts_the_case_in_needs_attention_and_retry_resumes(
    service, citizen, caseworker, monkeypatch
):
    # given a notification service that is down
    def down(ctx, params):
        raise ConnectorFailed("the mail relay refused the connection")

    monkeypatch.setitem(CONNECTORS, "notify", down)
    # when a case reaches the notification
    case = _submit(service, citizen)
    # then the case needs attention, naming the element and the error; the decision is kept
    assert case.status == CaseStatus.NEEDS_ATTENTION
    assert case.error_element == "notify_applicant"
    assert "mail relay refused" in case.error
    assert CaseDecision.objects.filter(case=case).count() == 1
    # when the service is back and a caseworker retries
    monkeypatch.setitem(CONNECTORS, "notify", connectors.notify)
    case = engine.case_retry(case=case, actor=caseworker)
    # then it continued from the saved step: decided once, notified once
    assert case.status == CaseStatus.COMPLETED, case.error
    assert CaseDecision.objects.filter(case=case).count() == 1
    assert DecisionEvaluation.objects.filter(case_ref=case.reference).count() == 1
    assert Notification.objects.filter(case=case).count() == 1
    # and the audit trail tells it in order, the decision once
    assert _trail() == [
        "case.submit",
        "decision.evaluate",
        "case.needs_attention",
        "case.retry",
    ]


_CASE_ACTIONS = ["case.submit", "decision.evaluate", "case.needs_attention", "case.retry"]


def _trail() -> list[str]:
    return list(
        AuditEntry.objects.filter(action__in=_CASE_ACTIONS)
        .order_by("seq")
        .values_list("action", flat=True)
    )


def test_a_failing_decision_step_leaves_no_decision_on_record_or_in_the_trail(
    service, citizen, monkeypatch
):
    # given a decision step that fails after the evaluation was written (say, its result
    # cannot be used)
    real = decision_services.decision_evaluate

    def unusable(**kwargs):
        real(**kwargs)
        raise ValueError("the result has no usable form")

    monkeypatch.setattr(decision_services, "decision_evaluate", unusable)
    # when a case reaches the decision
    case = _submit(service, citizen)
    # then the case needs attention at the decision, and neither the evaluation nor its
    # audit entry survived: the trail has the submission and the failure only
    assert case.status == CaseStatus.NEEDS_ATTENTION
    assert "no usable form" in case.error
    assert not DecisionEvaluation.objects.exists()
    assert _trail() == ["case.submit", "case.needs_attention"]
    # and every entry is chained: the trail verifies
    assert audit.verify().ok


class WorkerKilled(BaseException):
    """What a killed worker looks like from inside: nothing catches it."""


def test_a_worker_killed_during_a_submission_stores_nothing(service, citizen, monkeypatch):
    # given a process that dies while notifying, after the decision
    def killed(ctx, params):
        raise WorkerKilled

    monkeypatch.setitem(CONNECTORS, "notify", killed)
    # when a citizen submits
    with pytest.raises(WorkerKilled):
        _submit(service, citizen)
    # then the submission failed whole: no half-run case, no decision recorded
    assert not Case.objects.exists()
    assert not DecisionEvaluation.objects.exists()
    assert not AuditEntry.objects.filter(action="case.submit").exists()


def test_a_worker_killed_mid_case_resumes_from_the_last_saved_step(
    service, citizen, caseworker, monkeypatch
):
    # given a case waiting for review, and a worker that dies notifying after the review
    case = _submit(service, citizen, income=25_000)
    item = WorkItem.objects.select_related("case", "agency").get(case=case)

    def killed(ctx, params):
        raise WorkerKilled

    monkeypatch.setitem(CONNECTORS, "notify", killed)
    with pytest.raises(WorkerKilled):
        work_items.work_item_complete(item=item, data={"decision": "approve"}, actor=caseworker)
    # then the review is saved and the case is left running at that step
    case.refresh_from_db()
    assert case.status == CaseStatus.RUNNING
    assert WorkItem.objects.get(pk=item.pk).status == WorkItemStatus.COMPLETED
    assert not Notification.objects.exists()
    # when a live worker sweeps for stalled cases later
    monkeypatch.setitem(CONNECTORS, "notify", connectors.notify)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=10)):
        tasks.cases_fire_timers.enqueue()
    # then the case finished from its last saved step: decided once, notified once
    case.refresh_from_db()
    assert case.status == CaseStatus.COMPLETED, case.error
    assert DecisionEvaluation.objects.filter(case_ref=case.reference).count() == 1
    assert Notification.objects.get(case=case).body == "The outcome: approve."


def test_a_feel_error_at_run_time_names_the_element(health, service_files, citizen):
    # given a version whose gateway condition uses a name the data does not have
    service_files["process.bpmn"] = service_files["process.bpmn"].replace(
        '=outcome = "review"', '=outcom = "review"'
    )
    version = definitions.service_deploy(actor=system_actor(), files=service_files)
    case = _submit(version.service, citizen)
    assert case.status == CaseStatus.NEEDS_ATTENTION
    assert case.error_element == "route"
    assert "outcom" in case.error


def test_running_cases_stay_on_their_version_and_new_ones_take_the_active_one(
    health, service, service_files, citizen, caseworker
):
    # given a case waiting for review on version 1
    first = _submit(service, citizen, income=25_000)
    # when version 2 changes the notification and is active now, and 3 activates next year
    service_files["process.bpmn"] = service_files["process.bpmn"].replace(
        "The outcome: ", "Decision: "
    )
    definitions.service_deploy(actor=system_actor(), files=service_files)
    definitions.service_deploy(
        actor=system_actor(),
        files={
            **service_files,
            "process.bpmn": service_files["process.bpmn"].replace("Decision: ", "Later: "),
        },
        activate_at=timezone.now() + dt.timedelta(days=365),
    )
    second = _submit(service, citizen)
    item = WorkItem.objects.select_related("case", "agency").get(case=first)
    first = work_items.work_item_complete(item=item, data={"decision": "approve"}, actor=caseworker)
    # then each case ran its own version to the end
    assert first.service_version.version == 1
    assert Notification.objects.get(case=first).body == "The outcome: approve."
    assert second.service_version.version == 2
    assert Notification.objects.get(case=second).body == "Decision: approve."


def test_an_override_needs_a_reason_and_override_rates_are_reported(
    service, citizen, caseworker, supervisor, health
):
    cases = [_submit(service, citizen) for _ in range(3)]
    decision = CaseDecision.objects.select_related("case__agency").get(case=cases[0])
    with pytest.raises(ValidationFailed) as refused:
        overrides.case_decision_override(
            decision=decision, outcome="reject", reason="  ", actor=caseworker
        )
    assert "reason" in refused.value.errors
    overrides.case_decision_override(
        decision=decision, outcome="reject", reason="Income proof is forged.", actor=caseworker
    )
    rates = selectors.decision_override_rates(viewer=supervisor, agency=health)
    assert [(r.model, r.version, r.decisions, r.overridden) for r in rates] == [
        ("test-benefit-eligibility", 1, 3, 1)
    ]
    assert rates[0].rate == pytest.approx(1 / 3)


def test_a_citizen_sees_only_their_own_cases(service, citizen, other_citizen, caseworker):
    mine = _submit(service, citizen)
    theirs = _submit(service, other_citizen)
    assert [c.reference for c in selectors.case_list(viewer=citizen)] == [mine.reference]
    with pytest.raises(CaseNotFound):
        selectors.case_get(viewer=citizen, reference=theirs.reference)
    assert selectors.case_get(viewer=caseworker, reference=theirs.reference) == theirs
    assert AuditEntry.objects.filter(action="case.view", actor="cas").count() == 1


def test_a_decision_version_activated_now_decides_the_next_case(service, citizen, analyst):
    # given a case in the review band under version 1 of the table
    first = _submit(service, citizen, income=21_000)
    assert CaseDecision.objects.get(case=first).outputs == "review"
    # when an analyst activates a version approving incomes below 22,000 now
    model = DecisionModel.objects.get(key="test-benefit-eligibility")
    xml = model.versions.get(version=1).dmn_xml.replace("&lt; 20000", "&lt; 22000")
    xml = xml.replace("[20000..30000)", "[22000..30000)")
    version = decision_services.decision_model_version_upload(
        actor=analyst, model=model, dmn_xml=xml
    )
    decision_services.decision_model_version_schedule(
        actor=analyst, version=version, activates_at=timezone.now()
    )
    # then the very next case is decided by it
    second = _submit(service, citizen, income=21_000)
    decision = CaseDecision.objects.select_related("model_version").get(case=second)
    assert (decision.outputs, decision.model_version.version) == ("approve", 2)
    assert second.status == CaseStatus.COMPLETED, second.error


def test_a_step_failing_after_a_review_keeps_the_review_and_retry_finishes(
    service, citizen, caseworker, monkeypatch
):
    # given a case waiting for review and a notification service that is down
    case = _submit(service, citizen, income=25_000)
    item = WorkItem.objects.select_related("case", "agency").get(case=case)

    def down(ctx, params):
        raise ConnectorFailed("the mail relay refused the connection")

    monkeypatch.setitem(CONNECTORS, "notify", down)
    # when the caseworker completes the review
    case = work_items.work_item_complete(item=item, data={"decision": "reject"}, actor=caseworker)
    # then the review is kept and the case needs attention at the notification
    assert case.status == CaseStatus.NEEDS_ATTENTION
    assert case.error_element == "notify_applicant"
    assert WorkItem.objects.get(pk=item.pk).status == WorkItemStatus.COMPLETED
    # and a retry once the service is back tells the reviewer's decision, once
    monkeypatch.setitem(CONNECTORS, "notify", connectors.notify)
    case = engine.case_retry(case=case, actor=caseworker)
    assert case.status == CaseStatus.COMPLETED, case.error
    assert Notification.objects.get(case=case).body == "The outcome: reject."
    assert CaseEvent.objects.filter(case=case, element_id="review").count() == 1
