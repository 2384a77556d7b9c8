"""Runner for DMN TCK test cases (`*-test-*.xml` beside their `.dmn` models).

Counting follows the TCK: one test case passes when every one of its result nodes matches.
Numbers compare as decimals, equal when they differ by less than 1e-8 (as the TCK's reference
runners do: several expected values were computed in binary floating point, e.g. 15 significant
digits for a loan payment our 34-digit arithmetic gives exactly). Dates, times, durations,
lists and contexts compare by value, recursively. A result node with `errorResult="true"`
expects null.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from decisions import feel
from decisions.dmn.errors import DmnError
from decisions.dmn.evaluator import DmnModel
from decisions.dmn.itemtypes import render
from decisions.dmn.parser import parse_dmn
from decisions.dmn.xmltree import parse_xml

TC = "http://www.omg.org/spec/DMN/20160719/testcase"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


@dataclass
class Expected:
    value: Any
    is_double: bool = False


@dataclass
class ResultNode:
    name: str
    expected: Any
    error_result: bool = False


@dataclass
class TestCase:
    id: str
    inputs: dict[str, Any]
    results: list[ResultNode]
    invocable: str | None = None
    kind: str = "decision"
    description: str = ""


@dataclass
class TestFile:
    path: Path
    model_name: str | None
    cases: list[TestCase]


@dataclass
class Failure:
    case: str
    test_id: str
    node: str
    expected: str
    got: str

    def line(self) -> str:
        where = f"{self.case} #{self.test_id} {self.node}"
        return f"FAIL {where}: expected {self.expected}, got {self.got}"


@dataclass
class Report:
    passed: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)


# --- parsing the test files ----------------------------------------------------------------------


def _tag(element: ET.Element) -> str:
    return element.tag.rpartition("}")[2]


def _kids(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element if _tag(c) == name]


def parse_value(element: ET.Element) -> Any:
    """A TCK value element (<value>, <expected>, <item>, <component>, <inputNode>)."""
    if element.get(f"{{{XSI}}}nil") == "true":
        return None
    lists = _kids(element, "list")
    if lists:
        return [parse_value(item) for item in _kids(lists[0], "item")]
    components = _kids(element, "component")
    if components:
        return {c.get("name") or "": parse_value(c) for c in components}
    values = _kids(element, "value")
    if values:
        return parse_value(values[0])
    if _tag(element) != "value":
        return None
    return _scalar(element)


def _scalar(element: ET.Element) -> Any:
    text = element.text or ""
    kind = (element.get(f"{{{XSI}}}type") or "").rpartition(":")[2]
    if kind in ("decimal", "integer", "int", "long", "short"):
        return Decimal(text.strip())
    if kind in ("double", "float"):
        value = text.strip()
        try:
            return Expected(Decimal(value), is_double=True)
        except InvalidOperation:
            return Expected(None, is_double=True)  # NaN / INF have no FEEL number
    if kind == "boolean":
        return text.strip() == "true"
    if kind == "date":
        return feel.evaluate("date(x)", {"x": text.strip()})
    if kind == "time":
        return feel.evaluate("time(x)", {"x": text.strip()})
    if kind == "dateTime":
        return feel.evaluate("date and time(x)", {"x": text.strip()})
    if kind in ("duration", "dayTimeDuration", "yearMonthDuration"):
        return feel.evaluate("duration(x)", {"x": text.strip()})
    return text


def _plain(value: Any) -> Any:
    """Expected values as model inputs: doubles become plain decimals."""
    if isinstance(value, Expected):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def parse_test_file(path: Path) -> TestFile:
    doc = parse_xml(path.read_bytes(), source=path.name)
    root = doc.root
    model_name = None
    for child in _kids(root, "modelName"):
        model_name = (child.text or "").strip()
    cases = []
    for case in _kids(root, "testCase"):
        inputs: dict[str, Any] = {}
        for node in _kids(case, "inputNode"):
            name = node.get("name") or ""
            if node.get("namespace"):
                name = "{" + (node.get("namespace") or "") + "}" + name
            inputs[name] = _plain(parse_value(node))
        results = []
        for node in _kids(case, "resultNode"):
            expected = _kids(node, "expected")
            results.append(
                ResultNode(
                    name=node.get("name") or "",
                    expected=parse_value(expected[0]) if expected else None,
                    error_result=node.get("errorResult") == "true",
                )
            )
        description = _kids(case, "description")
        cases.append(
            TestCase(
                id=case.get("id") or "?",
                inputs=inputs,
                results=results,
                invocable=case.get("invocableName"),
                kind=case.get("type") or "decision",
                description=(description[0].text or "").strip() if description else "",
            )
        )
    return TestFile(path=path, model_name=model_name, cases=cases)


# --- comparing -----------------------------------------------------------------------------------


def matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Expected):
        if expected.value is None or not isinstance(actual, Decimal):
            return expected.value is None and actual is None
        return _numbers_equal(expected.value, actual)
    if isinstance(expected, Decimal) and isinstance(actual, Decimal):
        return _numbers_equal(expected, actual)
    if expected is None:
        return actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and set(expected) == set(actual)
            and all(matches(v, actual[k]) for k, v in expected.items())
        )
    if isinstance(expected, dt.datetime):
        if not isinstance(actual, dt.datetime):
            return False
        if (expected.tzinfo is None) != (actual.tzinfo is None):
            return False
        return bool(expected == actual)
    if isinstance(expected, feel.FeelTime):
        return isinstance(actual, feel.FeelTime) and feel.feel_equal(expected, actual) is True
    return type(expected) is type(actual) and bool(expected == actual)


NUMBER_TOLERANCE = Decimal("1e-8")


def _numbers_equal(expected: Decimal, actual: Decimal) -> bool:
    return expected == actual or abs(expected - actual) < NUMBER_TOLERANCE


def show(value: Any) -> str:
    if isinstance(value, Expected):
        return render(value.value)
    if isinstance(value, list):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v)}" for k, v in value.items()) + "}"
    return render(value)


# --- running -------------------------------------------------------------------------------------


def find_test_files(directory: Path) -> Iterator[Path]:
    yield from sorted(directory.rglob("*-test-*.xml"))


def _load(test_file: TestFile) -> DmnModel:
    folder = test_file.path.parent
    paths = sorted(folder.glob("*.dmn"))
    main = folder / test_file.model_name if test_file.model_name else None
    if main is not None and main in paths:
        paths.remove(main)
        paths.insert(0, main)
    return DmnModel([parse_dmn(p.read_bytes(), source=p.name) for p in paths])


def run_directory(directory: Path) -> Report:
    report = Report()
    for path in find_test_files(directory):
        case_name = path.parent.name
        test_file = parse_test_file(path)
        try:
            model: DmnModel | None = _load(test_file)
            load_error = ""
        except DmnError as exc:
            model, load_error = None, f"model error: {exc.detail}"
        for case in test_file.cases:
            failures = run_case(model, load_error, case_name, case)
            ok = not failures
            report.passed += ok
            report.failed += not ok
            report.failures.extend(failures)
            report.results.append(
                {
                    "case": case_name,
                    "file": path.name,
                    "id": case.id,
                    "passed": ok,
                    "failures": [f.__dict__ for f in failures],
                }
            )
    return report


def run_case(
    model: DmnModel | None, load_error: str, case_name: str, case: TestCase
) -> list[Failure]:
    def failed_all(got: str) -> list[Failure]:
        return [
            Failure(case_name, case.id, node.name, show(node.expected), got)
            for node in case.results
        ] or [Failure(case_name, case.id, "-", "-", got)]

    if model is None:
        return failed_all(load_error)
    outputs: dict[str, Any] | None = None
    if case.kind == "decisionService" and case.invocable:
        try:
            outputs = dict(model.evaluate_service(case.invocable, case.inputs).outputs)
        except Exception as exc:  # a bug or limit must not stop the run
            return failed_all(_describe(exc))

    def evaluate(name: str) -> Any:
        if outputs is not None:
            return outputs.get(name)
        assert model is not None
        return model.evaluate(name, case.inputs).result

    failures = []
    for node in case.results:
        try:
            got = evaluate(node.name)
        except Exception as exc:  # reported as this node's failure; the run goes on
            failures.append(
                Failure(case_name, case.id, node.name, show(node.expected), _describe(exc))
            )
            continue
        expected = None if node.error_result else node.expected
        if not matches(expected, got):
            failures.append(Failure(case_name, case.id, node.name, show(expected), show(got)))
    return failures


def _describe(exc: Exception) -> str:
    if isinstance(exc, DmnError):
        return f"error: {exc.detail}"
    return f"crash: {type(exc).__name__}: {exc}"
