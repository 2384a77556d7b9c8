"""FEEL as SpiffWorkflow's expression engine: real BPMN processes, no Python eval."""

import builtins
import datetime as dt
from pathlib import Path

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from decisions.spiff import FeelEnvironment, FeelScriptEngine, FeelScriptError

BPMN = (Path(__file__).parent / "fixtures" / "benefit.bpmn").read_text()


def _workflow(data, *, engine=None, bpmn=BPMN):
    parser = BpmnParser()
    parser.add_bpmn_xml(etree.fromstring(bpmn.encode()), filename="benefit.bpmn")
    workflow = BpmnWorkflow(parser.get_spec("benefit"), script_engine=engine or FeelScriptEngine())
    workflow.get_tasks(state=TaskState.READY)[0].data.update(data)
    workflow.do_engine_steps()
    return workflow


def _waiting(workflow):
    workflow.refresh_timers()
    workflow.do_engine_steps()
    return [
        t.task_spec.name for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual
    ]


def test_feel_script_maps_data_and_the_gateway_condition_routes_the_case():
    # given a low-income household on the mainland
    workflow = _workflow({"incomes": [300, 500.5], "region": "north", "applied": "2026-03-01"})
    # then the script's entries are in the task data (later ones using earlier ones), the
    # FEEL condition chose approval after the timer, and values are JSON-ready
    assert _waiting(workflow) == ["approve"]
    data = workflow.get_tasks(state=TaskState.READY)[0].data
    assert data["total"] == 800.5
    assert data["members"] == 2
    assert data["per head"] == 400.25
    assert data["review by"] == "2026-03-11"


@pytest.mark.parametrize(
    ("data", "route"),
    [
        ({"incomes": [3000, 500], "region": "north"}, "reject"),  # too much income
        ({"incomes": [300], "region": "islands"}, "reject"),  # excluded region
    ],
)
def test_the_default_flow_is_taken_when_the_condition_is_false(data, route):
    workflow = _workflow({**data, "applied": "2026-03-01"})
    assert _waiting(workflow) == [route]


def test_an_undefined_name_stops_the_case_visibly_instead_of_taking_a_branch():
    # given data without the region the condition needs
    with pytest.raises(SpiffWorkflowException, match="region"):
        _workflow({"incomes": [300], "applied": "2026-03-01"})


def test_python_in_a_condition_is_a_feel_error_and_never_runs(tmp_path):
    # given a process whose condition is Python that would write a file if it ran
    marker = tmp_path / "pwned"
    hostile = BPMN.replace(
        'per head &lt; 1000 and not(region in ["islands"])',
        f"__import__('pathlib').Path('{marker}').touch()",
    )
    # when the case reaches the gateway, then it fails with a FEEL error and nothing ran
    with pytest.raises(SpiffWorkflowException) as failure:
        _workflow({"incomes": [1], "region": "x", "applied": "2026-03-01"}, bpmn=hostile)
    assert failure.value.error_type == "FeelScriptError"
    assert "FEEL syntax error" in str(failure.value.__context__)
    assert not marker.exists()


def test_no_python_eval_or_exec_runs_during_a_whole_case(monkeypatch):
    # given eval and exec that fail loudly if anything calls them
    def forbidden(*args, **kwargs):
        raise AssertionError("Python eval/exec was called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    # when a case runs through script, gateway, timer and user task
    workflow = _workflow({"incomes": [100], "region": "south", "applied": "2026-01-31"})
    task = workflow.get_tasks(state=TaskState.READY)
    _waiting(workflow)
    ready = [t for t in workflow.get_tasks(state=TaskState.READY) if t.task_spec.name == "approve"]
    ready[0].run()
    workflow.do_engine_steps()
    # then it completed without them
    assert workflow.is_completed()
    assert task


def test_a_script_must_be_a_context_and_results_must_be_storable():
    env = FeelEnvironment()
    data: dict = {}
    with pytest.raises(FeelScriptError, match="must be a FEEL context"):
        env.execute("1 + 1", data)
    with pytest.raises(FeelScriptError, match="range"):
        env.execute("{r: [1..5]}", data)
    assert data == {}


def test_timer_expressions_give_iso_text_that_spiffworkflow_reads():
    env = FeelEnvironment()
    assert env.evaluate('duration("P2DT3H")', {}) == "P2DT3H"
    assert env.evaluate('date and time(d) + duration("PT1H")', {"d": "2026-01-01T10:00:00Z"}) == (
        dt.datetime(2026, 1, 1, 11, tzinfo=dt.UTC).isoformat()
    )


def test_a_hostile_expression_is_bounded():
    env = FeelEnvironment()
    with pytest.raises(FeelScriptError):
        env.evaluate("count(for i in 1..100000000 return i)", {})


def test_service_tasks_call_only_the_named_connectors():
    env = FeelEnvironment(services={"income": lambda params, data: {"monthly": params["id"]}})
    assert (
        env.call_service({}, operation_name="income", operation_params={"id": {"value": 7}})
        == '{"monthly": 7}'
    )
    with pytest.raises(FeelScriptError, match="no connector"):
        env.call_service({}, operation_name="os.system", operation_params={})
