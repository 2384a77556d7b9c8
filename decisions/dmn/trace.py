"""The evaluation trace: what was used, which rules matched and why, and what came out.

A `Trace` is plain data (`to_dict()` is JSON-serialisable). `explain_text` renders it as a
paragraph for the person the decision is about; `explain_rows` as rows for a caseworker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from decisions import feel
from decisions.dmn.itemtypes import render


def to_json(value: Any) -> Any:
    """A FEEL value as JSON data: numbers as strings (exact), temporals in ISO form."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Decimal):
        return feel.to_string(value)
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (dt.date, feel.FeelTime, feel.DayTimeDuration, feel.YearMonthDuration)):
        return feel.to_string(value)
    return render(value)


@dataclass
class EntryTrace:
    input: str  # the input clause's label or expression
    test: str  # the input entry's unary tests
    outcome: bool | None  # True matched, False did not, None not evaluated / error

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "test": self.test, "outcome": self.outcome}


@dataclass(slots=True)
class RuleTrace:
    """One rule: its entries were tested in order until one was not satisfied (`stop`)."""

    number: int  # 1-based, as shown in the table
    id: str | None
    matched: bool
    labels: list[str] = field(default_factory=list, repr=False)
    tests: list[str] = field(default_factory=list, repr=False)
    stop: int = 0  # index of the first entry not satisfied (len(tests) when all were)
    stop_outcome: bool | None = None  # False: not satisfied; None: the test gave null/error
    output: Any = None
    annotation: str | None = None

    @property
    def entries(self) -> list[EntryTrace]:
        found = []
        for index, (label, test) in enumerate(zip(self.labels, self.tests, strict=False)):
            if index < self.stop:
                outcome: bool | None = True
            elif index == self.stop:
                outcome = self.stop_outcome
            else:
                outcome = None
            found.append(EntryTrace(label, test, outcome))
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "id": self.id,
            "matched": self.matched,
            "entries": [e.to_dict() for e in self.entries],
            "output": to_json(self.output),
            "annotation": self.annotation,
        }


@dataclass
class TableTrace:
    """One decision table evaluated. `rules` (one `RuleTrace` per rule) is built when read."""

    id: str | None
    name: str
    hit_policy: str
    aggregation: str | None
    inputs: list[tuple[str, Any]] = field(default_factory=list)  # (label, value)
    matched: list[int] = field(default_factory=list)
    selected: list[int] = field(default_factory=list)  # the rules the hit policy kept
    used_default: bool = False
    result: Any = None
    error: str | None = None
    outputs: dict[int, Any] = field(default_factory=dict)  # rule number -> its output
    # builds the rule traces on first use (the evaluator records outcomes compactly)
    rule_source: Callable[[TableTrace], list[RuleTrace]] | None = field(
        default=None, repr=False, compare=False
    )
    _rules: list[RuleTrace] | None = field(default=None, repr=False, compare=False)

    @property
    def rules(self) -> list[RuleTrace]:
        if self._rules is None:
            self._rules = self.rule_source(self) if self.rule_source is not None else []
        return self._rules

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "hit_policy": self.hit_policy,
            "aggregation": self.aggregation,
            "inputs": [{"label": label, "value": to_json(v)} for label, v in self.inputs],
            "rules": [r.to_dict() for r in self.rules],
            "matched": self.matched,
            "selected": self.selected,
            "used_default": self.used_default,
            "result": to_json(self.result),
            "error": self.error,
        }


@dataclass
class NodeTrace:
    """One evaluated DRG node: a decision, a business knowledge model call or a service call."""

    kind: str  # "decision", "bkm", "decision service"
    name: str
    id: str | None
    inputs: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    tables: list[TableTrace] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "id": self.id,
            "inputs": {k: to_json(v) for k, v in self.inputs.items()},
            "result": to_json(self.result),
            "tables": [t.to_dict() for t in self.tables],
            "messages": list(self.messages),
        }


MAX_NODES = 2000


@dataclass
class Trace:
    nodes: list[NodeTrace] = field(default_factory=list)
    truncated: bool = False

    def add(self, node: NodeTrace) -> NodeTrace:
        if len(self.nodes) < MAX_NODES:
            self.nodes.append(node)
        else:
            self.truncated = True
        return node

    @property
    def messages(self) -> list[str]:
        return [f"{n.name}: {msg}" for n in self.nodes for msg in n.messages]

    def decision(self, name: str) -> NodeTrace | None:
        for node in self.nodes:
            if node.kind == "decision" and node.name == name:
                return node
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": [n.to_dict() for n in self.nodes], "truncated": self.truncated}


# --- explanations --------------------------------------------------------------------------------

_WORDS = {
    "en": {
        "because": "{decision} is {result} because:",
        "reason": "{input} is {value}, which matches {test}",
        "rule": "(rule {number})",
        "no_rule": "{decision} is {result}: no rule applied",
        "default": "so the default applies",
        "error": "{decision} could not be decided: {error}",
        "result": "{decision} is {result}.",
        "any": "any value",
    }
}


def _phrase_test(test: str) -> str:
    text = test.strip()
    if text.startswith("[") and ".." in text and text.endswith("]"):
        low, _, high = text[1:-1].partition("..")
        return f"between {low.strip()} and {high.strip()}"
    for op, words in (
        (">=", "at least"),
        ("<=", "at most"),
        (">", "more than"),
        ("<", "less than"),
    ):
        if text.startswith(op):
            return f"{words} {text[len(op) :].strip()}"
    if text.startswith("not("):
        return f"not {text[4:-1]}"
    return text


def explain_text(trace: Trace, *, decision: str | None = None, lang: str = "en") -> str:
    """A plain-language paragraph: for each decision, the rule that decided it and why."""
    words = _WORDS.get(lang, _WORDS["en"])
    sentences = []
    for node in trace.nodes:
        if node.kind != "decision" or (decision is not None and node.name != decision):
            continue
        result = render(node.result)
        if not node.tables:
            sentences.append(words["result"].format(decision=node.name, result=result))
            continue
        for table in node.tables:
            if table.error:
                sentences.append(words["error"].format(decision=node.name, error=table.error))
                continue
            if not table.selected:
                text = words["no_rule"].format(decision=node.name, result=result)
                if table.used_default:
                    text += ", " + words["default"]
                sentences.append(text + ".")
                continue
            parts = []
            for number in table.selected:
                rule = table.rules[number - 1]
                reasons = []
                for entry, (label, value) in zip(rule.entries, table.inputs, strict=False):
                    if entry.test.strip() in ("", "-"):
                        continue
                    reasons.append(
                        words["reason"].format(
                            input=label, value=render(value), test=_phrase_test(entry.test)
                        )
                    )
                reason = "; ".join(reasons) if reasons else words["any"]
                parts.append(f"{reason} {words['rule'].format(number=number)}")
            sentences.append(
                words["because"].format(decision=node.name, result=result)
                + " "
                + "; ".join(parts)
                + "."
            )
    return " ".join(sentences)


def explain_rows(trace: Trace) -> list[dict[str, Any]]:
    """One row per rule of every table evaluated: for a caseworker's view of the decision."""
    rows: list[dict[str, Any]] = []
    for node in trace.nodes:
        for table in node.tables:
            for rule in table.rules:
                rows.append(
                    {
                        "decision": node.name,
                        "table": table.name,
                        "rule": rule.number,
                        "matched": rule.matched,
                        "selected": rule.number in table.selected,
                        "conditions": [
                            {
                                "input": entry.input,
                                "value": render(value),
                                "test": entry.test,
                                "outcome": entry.outcome,
                            }
                            for entry, (_label, value) in zip(
                                rule.entries, table.inputs, strict=False
                            )
                        ],
                        "output": render(rule.output) if rule.matched else None,
                        "annotation": rule.annotation,
                    }
                )
    return rows
