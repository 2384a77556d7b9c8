"""SpiffWorkflow's expression engine, made of our FEEL evaluator: no Python `eval` anywhere.

SpiffWorkflow evaluates every expression of a BPMN process through a script engine:
gateway conditions, timer expressions, multi-instance cardinalities and conditions,
conditional events, message correlation, service-task parameters, and it `exec`s script
tasks. Its default engine does that with Python's `eval`/`exec`; this one does it with
`decisions.feel`, sandboxed and bounded like every DMN expression:

- an expression is FEEL over the task data (and the workflow's data objects);
- a script (script task, pre- and post-scripts) is a FEEL *context*,
  `{total: sum(incomes), eligible: total < 1000}`: each entry is set in the task data, in
  order, so later entries see earlier ones — data mapping without code;
- a result goes back into task data as JSON-ready values: integral numbers as int, others
  as float, dates and times and durations as ISO 8601 text (which is what SpiffWorkflow's
  timers read), contexts and lists converted item by item; a range or function cannot be
  stored and is an error;
- an expression that FEEL warns about (an undefined name, a type mismatch) raises instead
  of quietly taking a branch on a null: a case stops visibly at the step;
- service tasks call the named connector given to the engine, never anything else.

The cases app builds its workflows with `FeelScriptEngine(services=...)`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from decisions import feel
from decisions.feel import DEFAULT_LIMITS, Limits

Connector = Callable[[dict[str, Any], Mapping[str, Any]], Any]


class FeelScriptError(ValueError):
    """An expression or script of a process failed; the message says which and why."""


@lru_cache(maxsize=4096)
def _expression(text: str, names: tuple[str, ...]) -> feel.Expression:
    try:
        return feel.parse_expression(text, names=names)
    except feel.FeelSyntaxError as exc:
        raise FeelScriptError(f"FEEL syntax error in {text!r}: {exc}") from None


def _names(*scopes: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Names with spaces in scope (only they need telling to the parser)."""
    return tuple(sorted({k for s in scopes if s for k in s if isinstance(k, str) and " " in k}))


def to_task_value(value: Any, *, path: str = "result") -> Any:
    """A FEEL value as JSON-ready task data."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date):  # dates and dates with times: what timers read
        return value.isoformat()
    if isinstance(value, feel.FeelTime):
        return feel.to_string(value)
    if isinstance(value, feel.DayTimeDuration | feel.YearMonthDuration):
        return feel.to_string(value)
    if isinstance(value, list):
        return [to_task_value(v, path=f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): to_task_value(v, path=f"{path}.{k}") for k, v in value.items()}
    raise FeelScriptError(f"{path} is a {feel.type_name(value)}, which task data cannot hold")


class FeelEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates and executes with FEEL; the SpiffWorkflow environment interface."""

    def __init__(
        self,
        *,
        services: Mapping[str, Connector] | None = None,
        limits: Limits | None = None,
    ) -> None:
        super().__init__({})
        self.services = dict(services or {})
        self.limits = limits or DEFAULT_LIMITS

    def _value(self, text: str, scope: Mapping[str, Any]) -> Any:
        """The FEEL value; any warning (an undefined name, a type error) raises instead."""
        expression = _expression(text.strip(), _names(scope))
        warnings: list[str] = []
        variables = {k: feel.to_feel(v) for k, v in scope.items()}
        try:
            value = expression.evaluate(variables, limits=self.limits, warnings=warnings)
        except feel.FeelLimitExceeded as exc:
            raise FeelScriptError(f"{text!r}: {exc}") from None
        if warnings:
            raise FeelScriptError(f"{text!r} could not be evaluated: {'; '.join(warnings)}")
        return value

    def evaluate(
        self,
        expression: str,
        context: Mapping[str, Any],
        external_context: Mapping[str, Any] | None = None,
    ) -> Any:
        scope = {**(external_context or {}), **context}
        return to_task_value(self._value(expression, scope))

    def execute(
        self,
        script: str,
        context: dict[str, Any],
        external_context: Mapping[str, Any] | None = None,
    ) -> bool:
        """Run a script: a FEEL context whose entries are set in the task data."""
        if not script or not script.strip():
            return True
        scope = {**(external_context or {}), **context}
        value = self._value(script, scope)
        if not isinstance(value, dict):
            raise FeelScriptError(
                "a script must be a FEEL context such as {total: a + b}; "
                f"this one gives a {feel.type_name(value)}"
            )
        for name, item in value.items():
            context[str(name)] = to_task_value(item, path=str(name))
        return True

    def call_service(self, context: Mapping[str, Any], **kwargs: Any) -> str:
        name = kwargs.get("operation_name")
        connector = self.services.get(str(name))
        if connector is None:
            raise FeelScriptError(f"no connector named {name!r}")
        params = {k: v.get("value") for k, v in (kwargs.get("operation_params") or {}).items()}
        return json.dumps(connector(params, context))


class FeelScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine with FEEL in place of Python."""

    def __init__(
        self,
        *,
        services: Mapping[str, Connector] | None = None,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(environment=FeelEnvironment(services=services, limits=limits))

    def validate(self, expression: str) -> None:
        """Check an expression parses as FEEL (called when a process is parsed)."""
        _expression(expression.strip(), ())

    def call_service(self, task: Any, **kwargs: Any) -> str:
        from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException

        try:
            return self.environment.call_service(task.data, **kwargs)
        except Exception as exc:
            raise WorkflowTaskException(str(exc), task=task, exception=exc) from exc
