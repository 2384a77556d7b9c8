"""Running a workflow one task at a time, so that the caller can save after each step.

`run_engine` does what SpiffWorkflow's `do_engine_steps` does (subprocesses first, deepest
first) but hands each task to `step`, which runs it, and after the ready work is done it
refreshes timers and goes on while a timer has become due. It stops when only user tasks
or future timers are left, or the workflow is complete.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from cases.engine.bpmn import CaseTask
from decisions.spiff import Connector, FeelScriptEngine

MAX_STEPS = 10_000


class EngineRunaway(RuntimeError):
    """The process kept running without waiting (a loop in the model)."""


class CaseTaskHost(Protocol):
    def run_case_task(self, task: Any) -> bool: ...


class CaseScriptEngine(FeelScriptEngine):
    """FEEL for expressions and scripts; decisions and connectors through the host."""

    def __init__(self, *, host: CaseTaskHost, services: Mapping[str, Connector]) -> None:
        super().__init__(services=services)
        self.host = host

    def run_case_task(self, task: Any) -> bool:
        return self.host.run_case_task(task)


def _workflows(workflow: BpmnWorkflow) -> list[Any]:
    active = sorted(workflow.get_active_subprocesses(), key=lambda w: w.depth, reverse=True)
    return [*active, workflow]


def _round(workflow: BpmnWorkflow, step: Callable[[Any], None], budget: list[int]) -> bool:
    """One pass over the ready engine tasks, as SpiffWorkflow's `_do_engine_steps`."""

    def update(wf: Any) -> int:
        count = 0
        for task in wf.get_tasks(state=TaskState.READY):
            # Each ready task is followed by the engine tasks it made ready, depth first,
            # before the tree is scanned again: scanning every task of the tree is what
            # costs, and the order between parallel branches is the model's to leave open.
            pending = [task]
            while pending:
                current = pending.pop()
                if current.state != TaskState.READY or current.task_spec.manual:
                    continue  # run already as a child of another, or waiting for a person
                budget[0] -= 1
                if budget[0] < 0:
                    raise EngineRunaway(f"more than {MAX_STEPS} steps without waiting")
                step(current)
                count += 1
                pending.extend(reversed(current.children))
        return count

    before = workflow.get_active_subprocesses()
    for sub in sorted(before, key=lambda w: w.depth, reverse=True):
        count = None
        while count is None or count > 0:
            count = update(sub)
        if sub.parent_task_id is not None:
            parent = workflow.get_task_from_id(sub.parent_task_id)
            parent.task_spec._update(parent)
    count = update(workflow)
    return count > 0 or len(workflow.get_active_subprocesses()) > len(before)


def _has_ready_engine_task(workflow: BpmnWorkflow) -> bool:
    return any(
        not task.task_spec.manual
        for wf in _workflows(workflow)
        for task in wf.get_tasks(state=TaskState.READY)
    )


def run_engine(workflow: BpmnWorkflow, step: Callable[[Any], None]) -> None:
    """Rounds of ready work, each followed by a refresh of the timers, until no engine task
    is ready. One scan of the tree per round says whether to go on (a round follows the
    tasks it made ready itself, so a second round is rarely needed); a timer that became
    due joins the next round."""
    budget = [MAX_STEPS]
    while True:
        _round(workflow, step, budget)
        workflow.refresh_timers()
        if not _has_ready_engine_task(workflow):
            return


def is_checkpoint(task: Any) -> bool:
    """Tasks with effects outside the workflow: state is saved together with their effects."""
    return isinstance(task.task_spec, CaseTask)


def ready_user_tasks(workflow: BpmnWorkflow) -> list[Any]:
    return [
        task
        for wf in _workflows(workflow)
        for task in wf.get_tasks(state=TaskState.READY)
        if task.task_spec.manual
    ]


def next_timer(workflow: BpmnWorkflow) -> datetime | None:
    """When the earliest waiting timer is due (None if no timer waits)."""
    due: list[datetime] = []
    for event in workflow.waiting_events():
        if "Timer" not in str(getattr(event, "event_type", "")):
            continue
        value = getattr(event, "value", None)
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            continue
        if moment.tzinfo is not None:
            due.append(moment)
    return min(due) if due else None
