"""The case engine: submit, advance step by step with the state saved, fail visibly, retry.

A case advances in steps. A task with an effect outside the workflow (a business rule task
calling the decisions app, a service task calling a connector) runs in its own transaction
together with the saving of the workflow state, so the two commit or roll back together:
after a crash the case resumes from its last saved step and nothing done is done twice.
Tasks inside the workflow (gateways, scripts, events) are re-run after a crash, which is
harmless because they only compute. When the engine stops (waiting for a person or a
timer, or completed) the state is saved with the status, the next timer and the new work
items. A failing step rolls back and marks the case "needs attention" with the error and the
element; `case_retry` continues from the last saved step.

The engine acts as the platform (`identity.services.system_actor`): the decisions it
evaluates and the connectors it calls were authorised when the case was submitted.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import DatabaseError, transaction
from django.utils import timezone
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from cases import forms, selectors
from cases.choices import CaseStatus, WorkItemStatus
from cases.compiled import CompiledService, compiled
from cases.connectors import CONNECTORS, ConnectorContext
from cases.engine import state
from cases.engine.bpmn import ConnectorCall, DecisionCall
from cases.engine.runner import (
    CaseScriptEngine,
    is_checkpoint,
    next_timer,
    ready_user_tasks,
    run_engine,
)
from cases.errors import CaseDataInvalid, CaseStateConflict
from cases.models import Case, CaseDecision, CaseEvent, Service, WorkItem
from core import audit
from core.errors import ApplicationError, PermissionDenied, ValidationFailed
from decisions import services as decision_services
from decisions.spiff import to_task_value
from identity import policy
from identity.choices import UserKind
from identity.models import User

logger = logging.getLogger(__name__)

SYSTEM_RESOURCE = "system"
STALLED_AFTER = timedelta(minutes=5)
FIRE_BATCH = 500
MAX_ERROR = 4000
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U


def _reference(now: datetime) -> str:
    code = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"{now:%Y}-{code[:4]}-{code[4:]}"


def engine_actor() -> User:
    from identity.services import system_actor

    return system_actor()


# --- one run of a case's workflow ---------------------------------------------------------


@dataclass
class _Run:
    case: Case
    compiled: CompiledService
    actor: User
    workflow: BpmnWorkflow = field(init=False)
    events: list[CaseEvent] = field(default_factory=list)
    current: Any = None
    group: Any = None  # the open transaction of the current step group

    def run_case_task(self, task: Any) -> bool:
        element = task.task_spec.bpmn_id
        model = self.compiled.process.model
        if element in model.decisions:
            self._decide(task, model.decisions[element])
        elif element in model.connectors:
            self._connect(task, model.connectors[element])
        else:  # the parser makes every such task one of the two
            raise RuntimeError(f"element {element!r} has neither a decision nor a connector")
        return True

    def _decide(self, task: Any, call: DecisionCall) -> None:
        target = self.compiled.decisions[call.decision_ref]
        names = target.input_names
        inputs = {k: v for k, v in task.data.items() if not names or k in names}
        outcome = decision_services.decision_evaluate(
            actor=self.actor,
            model=target.model,
            decision=target.decision,
            inputs=inputs,
            purpose=f"case {self.case.reference}",
            case_ref=self.case.reference,
        )
        task.data[call.result_variable] = to_task_value(outcome.result, path=call.result_variable)
        CaseDecision.objects.create(
            case=self.case,
            element_id=call.element_id,
            evaluation=outcome.evaluation,
            model_version=outcome.version,
            decision=outcome.decision,
            outputs=outcome.evaluation.outputs,
            explanation=outcome.explanation,
        )

    def _connect(self, task: Any, call: ConnectorCall) -> None:
        engine = task.workflow.script_engine
        params = {target: engine.evaluate(task, text) for target, text in call.inputs}
        answer = engine.call_service(
            task,
            operation_name=call.connector,
            operation_params={k: {"value": v} for k, v in params.items()},
        )
        if call.result_variable:
            task.data[call.result_variable] = json.loads(answer)

    def connector(self, name: str) -> Any:
        def call(params: dict[str, Any], data: Mapping[str, Any]) -> Any:
            found = CONNECTORS.get(name)
            if found is None:
                raise LookupError(f"no connector named {name!r}")
            element = self.current.task_spec.bpmn_id if self.current is not None else ""
            return found(
                ConnectorContext(case=self.case, element_id=element, actor=self.actor), params
            )

        return call

    def log(self, task: Any, started: datetime, *, resource: str = SYSTEM_RESOURCE) -> None:
        spec = task.task_spec
        kind = type(spec).__name__
        if not spec.bpmn_id or "Gateway" in kind:
            return
        self.events.append(
            CaseEvent(
                case=self.case,
                activity=spec.bpmn_name or spec.bpmn_id,
                element_id=spec.bpmn_id,
                kind=kind.removeprefix("Case"),
                started_at=started,
                ended_at=timezone.now(),
                resource=resource,
            )
        )


def _open(case: Case, *, actor: User) -> _Run:
    comp = compiled(case.service_version)
    run = _Run(case=case, compiled=comp, actor=actor)
    engine = CaseScriptEngine(host=run, services={n: run.connector(n) for n in CONNECTORS})
    spec, subs = comp.process.spec, comp.process.subprocess_specs
    if case.state:
        workflow = state.load(case.state, spec=spec, subprocess_specs=subs)
        workflow.script_engine = engine
    else:
        workflow = BpmnWorkflow(spec, subs, script_engine=engine)
        start = workflow.get_tasks(state=TaskState.READY)
        start[0].data.update({**case.data, "case_reference": case.reference})
    run.workflow = workflow
    return run


def _save(run: _Run, **fields: Any) -> None:
    """Save the workflow state (and the pending event log) if nobody saved meanwhile."""
    case = run.case
    values = {
        "state": state.dump(run.workflow),
        "revision": case.revision + 1,
        "updated_at": timezone.now(),
        **fields,
    }
    if Case.objects.filter(pk=case.pk, revision=case.revision).update(**values) != 1:
        raise CaseStateConflict(f"Case {case.reference} was changed by another worker.")
    for name, value in values.items():
        setattr(case, name, value)
    if run.events:
        CaseEvent.objects.bulk_create(run.events)
        run.events = []


def _close_group(run: _Run, exc: BaseException | None = None) -> None:
    """Commit (after saving the state) or roll back the open step group."""
    group, run.group = run.group, None
    if group is None:
        return
    if exc is None:
        try:
            _save(run)
        except BaseException as error:
            group.__exit__(type(error), error, error.__traceback__)
            raise
        group.__exit__(None, None, None)
    else:
        group.__exit__(type(exc), exc, exc.__traceback__)


def _step(run: _Run, task: Any) -> None:
    """Run one task. A task with an outside effect starts a new step group: the previous
    group's state is saved and committed first, and this task's effect commits together
    with the state saved after it (and after the computing tasks that follow it)."""
    run.current = task
    started = timezone.now()
    if is_checkpoint(task):
        _close_group(run)
        group = transaction.atomic()
        group.__enter__()
        run.group = group
    task.run()
    run.log(task, started)
    run.current = None


def _sync_work_items(run: _Run, now: datetime, *, had_items: bool) -> None:
    """Open a work item for every user task now ready; cancel those whose task went away."""
    ready = {task.id: task for task in ready_user_tasks(run.workflow)}
    if not ready and not had_items:
        return
    case = run.case
    existing = {
        item.task_id: item
        for item in WorkItem.objects.filter(
            case=case, status__in=[WorkItemStatus.OPEN, WorkItemStatus.CLAIMED]
        )
    }
    gone = [item.pk for task_id, item in existing.items() if task_id not in ready]
    if gone:
        WorkItem.objects.filter(pk__in=gone).update(status=WorkItemStatus.CANCELLED)
    new = []
    for task_id, task in ready.items():
        if task_id in existing:
            continue
        human = run.compiled.process.model.human_tasks[task.task_spec.bpmn_id]
        queue = run.compiled.queues[str(human.queue)]
        new.append(
            WorkItem(
                case=case,
                agency_id=case.agency_id,
                task_id=task_id,
                element_id=human.element_id,
                name=human.name,
                queue=queue.name,
                role=queue.role,
                priority=human.priority if human.priority is not None else queue.priority,
                form_key=human.form_key or "",
                created_at=now,
                at_risk_at=now + queue.at_risk,
                due_at=now + queue.sla,
            )
        )
    WorkItem.objects.bulk_create(new)


def _describe(exc: BaseException) -> str:
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        text = str(current).strip()
        if text and all(text not in p for p in parts):
            parts.append(text)
        current = current.__cause__ or current.__context__
    return " — ".join(parts)[:MAX_ERROR] or type(exc).__name__


def _failing_element(run: _Run, exc: BaseException) -> str:
    task = getattr(exc, "task", None) or run.current
    spec = getattr(task, "task_spec", None)
    return str(getattr(spec, "bpmn_id", "") or "")


def _fail(run: _Run, exc: Exception) -> None:
    case = run.case
    element = _failing_element(run, exc)
    message = _describe(exc)
    logger.warning(
        "case needs attention",
        extra={"case": case.reference, "element": element, "error": type(exc).__name__},
    )
    with transaction.atomic():
        updated = Case.objects.filter(pk=case.pk, revision=case.revision).update(
            status=CaseStatus.NEEDS_ATTENTION,
            error=message,
            error_element=element,
            revision=case.revision + 1,
            updated_at=timezone.now(),
        )
        if updated:
            audit.record(
                actor=run.actor,
                action="case.needs_attention",
                target=case,
                agency=case.agency.code,
                data={"reference": case.reference, "element": element, "error": message[:500]},
            )
    if updated:
        case.status, case.error, case.error_element = CaseStatus.NEEDS_ATTENTION, message, element
        case.revision += 1


def _finish(run: _Run) -> None:
    workflow, case = run.workflow, run.case
    now = timezone.now()
    had_items = case.status in (CaseStatus.WAITING, CaseStatus.NEEDS_ATTENTION)
    group, run.group = run.group, None
    if group is None:
        group = transaction.atomic()
        group.__enter__()
    try:
        _sync_work_items(run, now, had_items=had_items)
        if workflow.is_completed():
            last = workflow.last_task
            _save(
                run,
                status=CaseStatus.COMPLETED,
                completed_at=now,
                timer_due_at=None,
                error="",
                error_element="",
                result=dict(last.data) if last is not None else {},
            )
        else:
            due = next_timer(workflow)
            _save(run, status=CaseStatus.WAITING, timer_due_at=due, error="", error_element="")
            if due is not None:
                _schedule_timers(due)
    except BaseException as error:
        group.__exit__(type(error), error, error.__traceback__)
        raise
    group.__exit__(None, None, None)


def _schedule_timers(due: datetime) -> None:
    from cases.tasks import cases_fire_timers as fire

    if fire.get_backend().supports_defer:
        transaction.on_commit(lambda: fire.using(run_after=due).enqueue())


def _advance(run: _Run) -> Case:
    try:
        run_engine(run.workflow, partial(_step, run))
        _finish(run)
    except BaseException as exc:
        _close_group(run, exc)  # roll back the unfinished step group
        if isinstance(exc, DatabaseError | CaseStateConflict) or not isinstance(exc, Exception):
            raise  # the worker retries; the case stays at its last saved step
        _fail(run, exc)
    return run.case


# --- commands -----------------------------------------------------------------------------


def case_submit(*, service: Service, data: Mapping[str, Any], applicant: User, actor: User) -> Case:
    """Apply for `service` on behalf of `applicant`; the case runs until it waits."""
    policy.authorize(actor, "case.submit", service)
    if actor.kind == UserKind.CITIZEN and applicant.pk != actor.pk:
        raise PermissionDenied("A citizen applies for themself only.", action="case.submit")
    if applicant.kind != UserKind.CITIZEN:
        raise ValidationFailed(errors={"applicant": ["The applicant must be a citizen account."]})
    now = timezone.now()
    version = selectors.service_version_active_at(service=service, at=now)
    comp = compiled(version)
    if not isinstance(data, Mapping):
        raise CaseDataInvalid(errors={"(form)": ["The application must be a JSON object."]})
    errors = forms.data_errors(comp.form, dict(data))
    if errors:
        raise CaseDataInvalid(
            f"{len(errors)} field(s) of the application are not valid.", errors=errors
        )
    with transaction.atomic():
        case = Case.objects.create(
            reference=_reference(now),
            service=service,
            service_version=version,
            agency_id=service.agency_id,
            applicant=applicant,
            submitted_by=actor,
            status=CaseStatus.RUNNING,
            data=dict(data),
            submitted_at=now,
            updated_at=now,
        )
        audit.record(
            actor=actor,
            action="case.submit",
            target=case,
            agency=service.agency.code,
            data={"service": service.code, "version": version.version, "reference": case.reference},
        )
    case.service_version = version
    return _advance(_open(case, actor=engine_actor()))


def case_retry(*, case: Case, actor: User) -> Case:
    """Run a case that needs attention again from its last saved step."""
    policy.authorize(actor, "work_item.work", case)
    case.refresh_from_db()
    if case.status != CaseStatus.NEEDS_ATTENTION:
        raise CaseStateConflict(f"Case {case.reference} does not need attention.")
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="case.retry",
            target=case,
            agency=case.agency.code,
            data={"reference": case.reference, "element": case.error_element},
        )
    return _advance(_open(case, actor=engine_actor()))


def case_resume(*, case: Case, actor: User) -> Case:
    """Advance a case from its saved state (a due timer, or a worker that died mid-case)."""
    if not policy.is_platform_system(actor):
        raise PermissionDenied("Only the platform advances cases.", action="case.resume")
    return _advance(_open(case, actor=actor))


def case_user_task_complete(
    *,
    case: Case,
    task_id: Any,
    data: Mapping[str, Any],
    actor: User,
    waiting_since: datetime,
    on_complete: Any,
) -> Case:
    """Complete a ready user task with `data` and advance (called by work_item_complete).

    `on_complete()` runs in the transaction that saves the step (it marks the work item).
    """
    run = _open(case, actor=engine_actor())
    task = run.workflow.get_task_from_id(task_id)
    if task is None or task.state != TaskState.READY:
        raise CaseStateConflict(f"The task is no longer waiting on case {case.reference}.")
    try:
        with transaction.atomic():
            on_complete()
            run.current = task
            task.data.update(dict(data))
            task.run()
            run.current = None
            run.log(task, waiting_since, resource=actor.username)
            _save(run, status=CaseStatus.RUNNING)
    except (DatabaseError, ApplicationError):
        raise
    except Exception as exc:  # a failing post-script: the case needs attention, item stays
        _fail(run, exc)
        return run.case
    return _advance(run)


@dataclass
class FireReport:
    advanced: int = 0
    needs_attention: int = 0
    references: list[str] = field(default_factory=list)


def cases_fire_timers(*, actor: User, now: datetime | None = None) -> FireReport:
    """Advance cases whose timer is due, and cases a dead worker left running."""
    if not policy.is_platform_system(actor):
        raise PermissionDenied("Only the platform fires timers.", action="case.resume")
    moment = now or timezone.now()
    due = Case.objects.filter(status=CaseStatus.WAITING, timer_due_at__lte=moment)
    stalled = Case.objects.filter(status=CaseStatus.RUNNING, updated_at__lt=moment - STALLED_AFTER)
    report = FireReport()
    for query in (due.order_by("timer_due_at"), stalled.order_by("updated_at")):
        for case in query.select_related("service_version", "agency")[:FIRE_BATCH]:
            try:
                advanced = _advance(_open(case, actor=actor))
            except CaseStateConflict:
                continue  # another worker has it
            report.advanced += 1
            report.references.append(advanced.reference)
            if advanced.status == CaseStatus.NEEDS_ATTENTION:
                report.needs_attention += 1
    return report
