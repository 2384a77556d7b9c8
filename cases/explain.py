"""A decision's stored trace as people read it: every rule for a caseworker, the rule that
decided and why for the person the decision is about.

Both read the trace the decisions app stored with the evaluation (`DecisionEvaluation.trace`,
the JSON of `decisions.dmn.trace.Trace`), so the caseworker's table and the citizen's letter
can never tell two different stories.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _


def value_text(value: Any) -> str:
    """A trace or case value as text: strings as they are, anything else as JSON."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def decision_rows(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """The rules of every table the decision evaluated, as rows for a caseworker (from the
    trace the decisions app stored; the same content as `decisions.dmn.explain_rows`)."""
    rows = []
    for node in trace.get("nodes", []):
        for table in node.get("tables", []):
            values = [i.get("value") for i in table.get("inputs", [])]
            selected = set(table.get("selected", []))
            for rule in table.get("rules", []):
                conditions = [
                    {
                        "input": entry.get("input", ""),
                        "value": value_text(value),
                        "test": entry.get("test", ""),
                        "outcome": entry.get("outcome"),
                    }
                    for entry, value in zip(rule.get("entries", []), values, strict=False)
                    if entry.get("test", "").strip() not in ("", "-")
                ]
                rows.append(
                    {
                        "decision": node.get("name", ""),
                        "table": table.get("name", ""),
                        "rule": rule.get("number"),
                        "matched": bool(rule.get("matched")),
                        "selected": rule.get("number") in selected,
                        "conditions": conditions,
                        "output": value_text(rule.get("output")) if rule.get("matched") else "",
                        "annotation": rule.get("annotation") or "",
                    }
                )
    return rows


def phrase_test(test: str) -> str:
    """A unary test in words: `< 20000` is "less than 20000", `[1..5]` "from 1 to 5"."""
    text = test.strip()
    if len(text) > 4 and text[0] in "[(]" and text[-1] in "])[" and ".." in text:
        low, _sep, high = text[1:-1].partition("..")
        ends = {"low": low.strip(), "high": high.strip()}
        low_in, high_in = text[0] == "[", text[-1] == "]"
        if low_in and high_in:
            return _("from %(low)s to %(high)s") % ends
        if low_in:
            return _("from %(low)s up to but not including %(high)s") % ends
        if high_in:
            return _("more than %(low)s and at most %(high)s") % ends
        return _("more than %(low)s and less than %(high)s") % ends
    for operator, words in (
        (">=", _("at least %(value)s")),
        ("<=", _("at most %(value)s")),
        (">", _("more than %(value)s")),
        ("<", _("less than %(value)s")),
    ):
        if text.startswith(operator):
            return words % {"value": text[len(operator) :].strip()}
    if text.startswith("not(") and text.endswith(")"):
        return _("not %(value)s") % {"value": text[4:-1].strip()}
    return text


@dataclass(frozen=True)
class Reason:
    """One condition of the rule that decided: "<input> is <value>, which is <test>"."""

    input: str
    value: str
    test: str


@dataclass(frozen=True)
class RuleFired:
    decision: str
    rule: int | None
    output: str
    reasons: list[Reason]
    annotation: str


def rules_fired(trace: dict[str, Any]) -> list[RuleFired]:
    """Only the rules the hit policy kept, each with the inputs it tested: why it decided."""
    return [
        RuleFired(
            decision=row["decision"],
            rule=row["rule"],
            output=row["output"],
            reasons=[
                Reason(input=c["input"], value=c["value"], test=phrase_test(c["test"]))
                for c in row["conditions"]
            ],
            annotation=row["annotation"],
        )
        for row in decision_rows(trace)
        if row["selected"]
    ]
