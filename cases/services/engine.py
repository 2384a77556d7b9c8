"""The case engine: submit, advance step by step with the state saved, fail visibly, retry.

A case advances in runs: from its saved state until it waits (for a person or a timer) or
completes. A run is one transaction, and a submission's first run shares the transaction
that stores the case: a submission either returns a case or stores nothing. Inside a run,
a task with an effect outside the workflow (a business rule task calling the decisions app,
a service task calling a connector) opens a step group, a savepoint: its effect is kept
only together with the state saved after it, so after a crash the case resumes from its
last committed state and nothing done is done twice. Tasks inside the workflow (gateways,
scripts, events) only compute. A failing step rolls back its own group, and the case is
saved "needs attention" with the error and the element at the state the groups before it
left; `case_retry` continues from there. A database error, a conflict with another worker
or a killed worker rolls back the whole run; the worker's retry or the sweep for stalled
cases (`cases_fire_timers`) runs it again.

The engine's hot writes (case, decision, notification, event log, state) go through
`core.sql`, statements built once instead of per case; see bench/cases.py.

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

from cases import forms
from cases.choices import CaseStatus, WorkItemStatus
from cases.compiled import CompiledService, active_version, compiled
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
from core import audit, sql
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


_engine_actor: tuple[tuple[Any, ...], User] | None = None
_SYSTEM_ROW = "SELECT id, date_joined FROM {table} WHERE username = %s"


def engine_actor() -> User:
    """The platform account the engine acts as, kept between cases with its roles (asked
    once); one light query checks it is still the same account (a test database rolled
    back creates another)."""
    global _engine_actor
    from identity.services import system_actor

    row = sql.select_one(User, _SYSTEM_ROW, ["system"])
    cached = _engine_actor
    if cached is not None and row is not None and row == cached[0]:
        return cached[1]
    user = system_actor()
    _engine_actor = (sql.select_one(User, _SYSTEM_ROW, ["system"]) or (), user)
    return user


def _insert_one(obj: Any) -> None:
    sql.insert([obj])


# --- one run of a case's workflow ---------------------------------------------------------


@dataclass
class _Run:
    case: Case
    compiled: CompiledService
    actor: User
    workflow: BpmnWorkflow = field(init=False)
    events: list[CaseEvent] = field(default_factory=list)
    current: Any = None
    group: Any = None  # the savepoint of the open step group
    groups: int = 0  # step groups opened in this run
    snapshot: Any = None  # the state the closed step groups left (see `_open_group`)
    snapshot_events: int = 0  # how many of `events` belong to that state
    # Audit entries of the run, written together when it ends (`_write_audit`); those before
    # `audits_kept` stay if the open step group fails, the rest are rolled back with it.
    audits: list[dict[str, Any]] = field(default_factory=list)
    audits_kept: int = 0

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
            insert=_insert_one,
            audit_into=self.audits,
        )
        task.data[call.result_variable] = to_task_value(outcome.result, path=call.result_variable)
        sql.insert(
            [
                CaseDecision(  # ids, not instances: cheaper to build, nothing reads them back
                    case_id=self.case.pk,
                    element_id=call.element_id,
                    evaluation_id=outcome.evaluation.pk,
                    model_version_id=outcome.version.pk,
                    decision=outcome.decision,
                    outputs=outcome.evaluation.outputs,
                    explanation=outcome.explanation,
                )
            ]
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
                case_id=self.case.pk,
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
    if sql.update(Case, where={"pk": case.pk, "revision": case.revision}, values=values) != 1:
        raise CaseStateConflict(f"Case {case.reference} was changed by another worker.")
    for name, value in values.items():
        setattr(case, name, value)
    if run.events:
        sql.insert(run.events)
        run.events = []


def _open_group(run: _Run) -> None:
    """Start a step group: keep what the previous groups did (their savepoint is released)
    and remember the state they left, which a failure of this group falls back to."""
    _release_group(run)
    run.audits_kept = len(run.audits)
    if run.groups:
        run.snapshot = state.snapshot(run.workflow)
        run.snapshot_events = len(run.events)
    run.group = transaction.savepoint_create()
    run.groups += 1


def _release_group(run: _Run) -> None:
    group, run.group = run.group, None
    if group is not None:
        transaction.savepoint_commit(group)


def _step(run: _Run, task: Any) -> None:
    """Run one task. A task with an outside effect starts a new step group (a savepoint of
    the run's transaction): its effect stays only together with the state saved after it
    and after the computing tasks that follow it, and a failure rolls back that group only."""
    run.current = task
    started = timezone.now()
    if is_checkpoint(task):
        _open_group(run)
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
    """Mark the case "needs attention" with the error, keeping the last good step: the
    state the step groups before the failing one left (or the saved state, if none)."""
    case = run.case
    element = _failing_element(run, exc)
    message = _describe(exc)
    logger.warning(
        "case needs attention",
        extra={"case": case.reference, "element": element, "error": type(exc).__name__},
    )
    values: dict[str, Any] = {
        "status": CaseStatus.NEEDS_ATTENTION,
        "error": message,
        "error_element": element,
        "revision": case.revision + 1,
        "updated_at": timezone.now(),
    }
    if run.snapshot is not None:
        values["state"] = state.dump_snapshot(run.snapshot)
    with transaction.atomic():
        updated = Case.objects.filter(pk=case.pk, revision=case.revision).update(**values)
        if updated:
            if run.snapshot is not None and run.snapshot_events:
                CaseEvent.objects.bulk_create(run.events[: run.snapshot_events])
            run.audits.append(
                {
                    "actor": run.actor,
                    "action": "case.needs_attention",
                    "target": case,
                    "agency": run.compiled.agency_code,
                    "data": {
                        "reference": case.reference,
                        "element": element,
                        "error": message[:500],
                    },
                }
            )
        _write_audit(run)
    run.events = []
    if updated:
        for name, value in values.items():
            setattr(case, name, value)


def _write_audit(run: _Run) -> None:
    """Write the run's audit entries, in order, in one go (one read of the chain's head)."""
    entries, run.audits, run.audits_kept = run.audits, [], 0
    audit.record_many(entries)


def _finish(run: _Run) -> None:
    workflow, case = run.workflow, run.case
    now = timezone.now()
    had_items = case.status in (CaseStatus.WAITING, CaseStatus.NEEDS_ATTENTION)
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
    _write_audit(run)


def _schedule_timers(due: datetime) -> None:
    from cases.tasks import cases_fire_timers as fire

    if fire.get_backend().supports_defer:
        transaction.on_commit(lambda: fire.using(run_after=due).enqueue())


def _advance(run: _Run) -> Case:
    """Run the case until it waits or completes, in one transaction.

    Each step group is a savepoint of it. A failing step rolls its group back and the case
    is marked "needs attention" at the last good step, in the same transaction. A database
    error, a conflict with another worker or a killed worker rolls the whole run back: the
    case stays at its last committed step, and the worker (or the stalled-case sweep) runs
    it again from there, so nothing done is done twice.
    """
    with transaction.atomic():
        return _run_in_transaction(run)


def _run_in_transaction(run: _Run) -> Case:
    try:
        run_engine(run.workflow, partial(_step, run))
    except Exception as exc:
        if isinstance(exc, DatabaseError | CaseStateConflict):
            raise
        if run.group is not None:  # else a computing task before any group: nothing to undo
            transaction.savepoint_rollback(run.group)
            run.group = None
            del run.audits[run.audits_kept :]  # their records went with the group
        _fail(run, exc)
        return run.case
    _release_group(run)
    _finish(run)
    return run.case


# --- commands -----------------------------------------------------------------------------


def case_submit(*, service: Service, data: Mapping[str, Any], applicant: User, actor: User) -> Case:
    """Apply for `service` on behalf of `applicant`; the case runs until it waits.

    The case and its first run commit together: a submission either returns a case (which
    may be waiting, completed or needing attention) or stores nothing.
    """
    policy.authorize(actor, "case.submit", service)
    if actor.kind == UserKind.CITIZEN and applicant.pk != actor.pk:
        raise PermissionDenied("A citizen applies for themself only.", action="case.submit")
    if applicant.kind != UserKind.CITIZEN:
        raise ValidationFailed(errors={"applicant": ["The applicant must be a citizen account."]})
    now = timezone.now()
    version = active_version(service=service, at=now)
    comp = compiled(version)
    if not isinstance(data, Mapping):
        raise CaseDataInvalid(errors={"(form)": ["The application must be a JSON object."]})
    errors = forms.data_errors(comp.form, dict(data))
    if errors:
        raise CaseDataInvalid(
            f"{len(errors)} field(s) of the application are not valid.", errors=errors
        )
    system = engine_actor()
    with transaction.atomic():
        case = Case(
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
        sql.insert([case])
        run = _open(case, actor=system)
        run.audits.append(
            {
                "actor": actor,
                "action": "case.submit",
                "target": case,
                "agency": comp.agency_code,
                "data": {
                    "service": service.code,
                    "version": version.version,
                    "reference": case.reference,
                },
            }
        )
        return _run_in_transaction(run)


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
