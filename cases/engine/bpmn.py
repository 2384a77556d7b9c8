"""Reading a service's BPMN: checked element by element, then parsed once by SpiffWorkflow.

Processes are drawn in Camunda Modeler (or bpmn-js). Both of Camunda's extension dialects
are read, the FEEL-native Camunda 8 one first:

- business rule task: ``<zeebe:calledDecision decisionId="..." resultVariable="..."/>``
  (or ``camunda:decisionRef`` / ``camunda:resultVariable``): evaluated by the decisions app;
- service task (and send task): ``<zeebe:taskDefinition type="notify"/>`` (or
  ``camunda:topic``) names a platform connector; ``<zeebe:input source="=expr" target="x"/>``
  are its parameters; a ``resultVariable`` task header stores its answer;
- user task: ``<zeebe:assignmentDefinition candidateGroups="queue"/>`` (or
  ``camunda:candidateGroups``) names the queue, ``<zeebe:formDefinition formKey="..."/>``
  the form, ``<zeebe:priorityDefinition priority="70"/>`` the priority.

Every expression is FEEL, checked here when the service is deployed, so that a typo is an
error naming its element at deploy time rather than a case stuck at run time. Camunda 8
writes FEEL with a leading ``=``, which is dropped; a timer written as a plain ISO 8601 text
(``PT15M``, ``2030-01-01T09:00:00Z``, ``R3/PT1H``), as Camunda Modeler writes it, is read as
that text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator, full_tag
from SpiffWorkflow.bpmn.parser.TaskParser import TaskParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask

from decisions import feel

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "zeebe": ZEEBE_NS, "camunda": CAMUNDA_NS}

MAX_BPMN_BYTES = 2 * 1024 * 1024
_ISO_TIMER = re.compile(
    r"^(R\d*/.*|-?P(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"
    r"|\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:?\d{2})?)$"
)


class CaseTask(ServiceTask):
    """A task whose work happens outside the workflow (a decision, a connector): the engine
    saves the case state in the same transaction as that work."""

    def _execute(self, task: Any) -> Any:
        return task.workflow.script_engine.run_case_task(task)


class CaseBusinessRuleTask(CaseTask):
    pass


class CaseServiceTask(CaseTask):
    pass


class CaseBpmnParser(BpmnParser):
    OVERRIDE_PARSER_CLASSES = {
        full_tag("businessRuleTask"): (TaskParser, CaseBusinessRuleTask),
        full_tag("serviceTask"): (TaskParser, CaseServiceTask),
        full_tag("sendTask"): (TaskParser, CaseServiceTask),
    }


@dataclass(frozen=True)
class DecisionCall:
    element_id: str
    name: str
    decision_ref: str
    result_variable: str


@dataclass(frozen=True)
class ConnectorCall:
    element_id: str
    name: str
    connector: str
    inputs: tuple[tuple[str, str], ...]  # (target, FEEL expression)
    result_variable: str | None


@dataclass(frozen=True)
class HumanTask:
    element_id: str
    name: str
    queue: str | None
    form_key: str | None
    priority: int | None


@dataclass
class ProcessModel:
    """What the engine needs to know about a process beside SpiffWorkflow's spec."""

    process_id: str
    decisions: dict[str, DecisionCall] = field(default_factory=dict)
    connectors: dict[str, ConnectorCall] = field(default_factory=dict)
    human_tasks: dict[str, HumanTask] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)


@dataclass
class ParsedProcess:
    model: ProcessModel
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]


class BpmnProblems(ValueError):
    """Every problem found in a BPMN document, each naming its element id and line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _where(node: Any) -> str:
    element = node
    while element is not None and not element.get("id"):
        element = element.getparent()
    ident = element.get("id") if element is not None else None
    parts = [f"element '{ident}'"] if ident else []
    if node.sourceline:
        parts.append(f"line {node.sourceline}")
    return ", ".join(parts)


def feel_literal(text: str) -> str:
    """A FEEL string literal holding `text`."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _feel(text: str) -> str:
    text = text.strip()
    return text[1:].strip() if text.startswith("=") else text


def _check(problems: list[str], node: Any, text: str, what: str) -> None:
    try:
        feel.parse_expression(text)
    except feel.FeelSyntaxError as exc:
        problems.append(f"{_where(node)}: the {what} {text!r} is not valid FEEL: {exc}")


def _attr(node: Any, ns: str, name: str) -> str | None:
    value = node.get(f"{{{ns}}}{name}")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _ext(node: Any, path: str) -> Any:
    found = node.xpath(f"./bpmn:extensionElements/{path}", namespaces=NS)
    return found[0] if found else None


def _normalise_and_check(root: Any, problems: list[str]) -> None:
    """Rewrite every expression into plain FEEL in place and check that it parses."""
    for node in root.xpath("//bpmn:conditionExpression", namespaces=NS):
        text = _feel(node.text or "")
        if not text:
            problems.append(f"{_where(node)}: the condition is empty")
            continue
        node.text = text
        _check(problems, node, text, "condition")
    for tag in ("timeDuration", "timeDate", "timeCycle"):
        for node in root.xpath(f"//bpmn:timerEventDefinition/bpmn:{tag}", namespaces=NS):
            raw = (node.text or "").strip()
            if raw.startswith("="):
                text = _feel(raw)
            elif _ISO_TIMER.match(raw):
                text = feel_literal(raw)
            else:
                text = raw
            if not text:
                problems.append(f"{_where(node)}: the timer has no {tag}")
                continue
            node.text = text
            _check(problems, node, text, "timer expression")
    for node in root.xpath("//bpmn:scriptTask/bpmn:script", namespaces=NS):
        text = _feel(node.text or "")
        node.text = text
        if text:
            _check(problems, node, text, "script")
    for tag in ("completionCondition", "loopCardinality", "loopCondition"):
        for node in root.xpath(f"//bpmn:{tag}", namespaces=NS):
            text = _feel(node.text or "")
            node.text = text
            _check(problems, node, text, tag)


def _decision_call(node: Any, problems: list[str]) -> DecisionCall | None:
    ident, name = str(node.get("id")), str(node.get("name") or node.get("id"))
    called = _ext(node, "zeebe:calledDecision")
    ref = called.get("decisionId") if called is not None else None
    result = called.get("resultVariable") if called is not None else None
    ref = (ref or "").strip().lstrip("=").strip() or _attr(node, CAMUNDA_NS, "decisionRef")
    result = (result or "").strip() or _attr(node, CAMUNDA_NS, "resultVariable")
    if not ref:
        problems.append(
            f"{_where(node)}: the business rule task names no decision "
            '(zeebe:calledDecision decisionId="...")'
        )
        return None
    return DecisionCall(ident, name, ref, result or ref)


def _connector_call(node: Any, problems: list[str], connectors: set[str]) -> ConnectorCall | None:
    ident, name = str(node.get("id")), str(node.get("name") or node.get("id"))
    definition = _ext(node, "zeebe:taskDefinition")
    connector = (definition.get("type") or "").strip() if definition is not None else ""
    connector = connector or _attr(node, CAMUNDA_NS, "topic") or ""
    if not connector:
        problems.append(
            f'{_where(node)}: the service task names no connector (zeebe:taskDefinition type="")'
        )
        return None
    if connector not in connectors:
        known = ", ".join(sorted(connectors))
        problems.append(f"{_where(node)}: no connector named {connector!r}; known: {known}")
    inputs: list[tuple[str, str]] = []
    for item in node.xpath("./bpmn:extensionElements/zeebe:ioMapping/zeebe:input", namespaces=NS):
        target = (item.get("target") or "").strip()
        source = item.get("source") or ""
        if not target:
            problems.append(f"{_where(item)}: an input mapping has no target")
            continue
        text = _feel(source) if source.strip().startswith("=") else feel_literal(source)
        _check(problems, item, text, f"input {target!r}")
        inputs.append((target, text))
    for item in node.xpath(
        "./bpmn:extensionElements/camunda:inputOutput/camunda:inputParameter", namespaces=NS
    ):
        target = (item.get("name") or "").strip()
        text = _feel(item.text or "")
        if target and text:
            _check(problems, item, text, f"input {target!r}")
            inputs.append((target, text))
    result = None
    for header in node.xpath(
        "./bpmn:extensionElements/zeebe:taskHeaders/zeebe:header", namespaces=NS
    ):
        if header.get("key") == "resultVariable":
            result = (header.get("value") or "").strip() or None
    result = result or _attr(node, CAMUNDA_NS, "resultVariable")
    return ConnectorCall(ident, name, connector, tuple(inputs), result)


def _human_task(node: Any, problems: list[str]) -> HumanTask:
    ident, name = str(node.get("id")), str(node.get("name") or node.get("id"))
    assignment = _ext(node, "zeebe:assignmentDefinition")
    queue = assignment.get("candidateGroups") if assignment is not None else None
    queue = (queue or "").split(",")[0].strip() or _attr(node, CAMUNDA_NS, "candidateGroups")
    form = _ext(node, "zeebe:formDefinition")
    form_key = form.get("formKey") if form is not None else None
    form_key = (form_key or "").strip() or _attr(node, CAMUNDA_NS, "formKey")
    priority_node = _ext(node, "zeebe:priorityDefinition")
    priority: int | None = None
    if priority_node is not None:
        try:
            priority = int(priority_node.get("priority", ""))
        except ValueError:
            problems.append(f"{_where(priority_node)}: the priority must be a whole number")
    return HumanTask(ident, name, queue, form_key, priority)


def read_process(
    bpmn_xml: str, *, connectors: set[str], filename: str = "process.bpmn"
) -> ParsedProcess:
    """Check and parse a BPMN document; raise BpmnProblems listing every problem found."""
    if len(bpmn_xml.encode("utf-8", "replace")) > MAX_BPMN_BYTES:
        raise BpmnProblems([f"{filename} is larger than {MAX_BPMN_BYTES // 2**20} MB"])
    parser_options = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(bpmn_xml.encode("utf-8"), parser=parser_options)
    except etree.XMLSyntaxError as exc:
        raise BpmnProblems([f"{filename} is not well-formed XML: {exc}"]) from None
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise BpmnProblems([f"{filename} is not BPMN 2.0: its root is {root.tag}"])
    processes = root.xpath("./bpmn:process", namespaces=NS)
    executable = [p for p in processes if p.get("isExecutable") == "true"] or processes
    if len(executable) != 1:
        raise BpmnProblems(
            [f"{filename} must have exactly one executable process; it has {len(executable)}"]
        )
    process_id = str(executable[0].get("id"))
    problems: list[str] = []
    _normalise_and_check(root, problems)
    model = ProcessModel(process_id=process_id)
    for node in root.xpath("//bpmn:*[@id]", namespaces=NS):
        model.names[str(node.get("id"))] = str(node.get("name") or node.get("id"))
    for node in root.xpath("//bpmn:businessRuleTask", namespaces=NS):
        call = _decision_call(node, problems)
        if call:
            model.decisions[call.element_id] = call
    for node in root.xpath("//bpmn:serviceTask | //bpmn:sendTask", namespaces=NS):
        connector = _connector_call(node, problems, connectors)
        if connector:
            model.connectors[connector.element_id] = connector
    for node in root.xpath("//bpmn:userTask", namespaces=NS):
        human = _human_task(node, problems)
        model.human_tasks[human.element_id] = human
    if problems:
        raise BpmnProblems(problems)
    try:
        parser = CaseBpmnParser(validator=BpmnValidator())
        parser.add_bpmn_xml(root, filename=filename)
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        where = f"element '{exc.id}'" if getattr(exc, "id", "") else filename
        line = getattr(exc, "line_number", "")
        raise BpmnProblems([f"{where}{f', line {line}' if line else ''}: {exc}"]) from None
    except etree.DocumentInvalid as exc:
        raise BpmnProblems([f"{filename} does not follow the BPMN 2.0 schema: {exc}"]) from None
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise BpmnProblems([f"{filename} could not be parsed as a process: {exc}"]) from None
    return ParsedProcess(model=model, spec=spec, subprocess_specs=subprocess_specs)
