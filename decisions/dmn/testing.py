"""Builders of small DMN documents, for tests and examples."""

from __future__ import annotations

from decisions.dmn import DmnModel

DMN15 = "https://www.omg.org/spec/DMN/20230324/MODEL/"
DMN11 = "http://www.omg.org/spec/DMN/20151101/dmn.xsd"


def definitions(body: str, *, ns: str = DMN15, name: str = "test", namespace: str = "urn:t") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<definitions xmlns="{ns}" '
        f'xmlns:feel="https://www.omg.org/spec/DMN/20230324/FEEL/" id="defs" name="{name}" '
        f'namespace="{namespace}">\n{body}\n</definitions>'
    )


def input_data(name: str, type_ref: str = "number") -> str:
    return (
        f'<inputData id="i_{_id(name)}" name="{name}">'
        f'<variable name="{name}" typeRef="{type_ref}"/></inputData>'
    )


def table(
    *,
    inputs: list[str],
    rules: list[tuple[list[str], list[str]]],
    outputs: list[str] | None = None,
    hit_policy: str = "UNIQUE",
    aggregation: str | None = None,
    output_values: list[str | None] | None = None,
    defaults: list[str | None] | None = None,
    input_values: list[str | None] | None = None,
    output_types: list[str | None] | None = None,
) -> str:
    outputs = outputs or [""]
    agg = f' aggregation="{aggregation}"' if aggregation else ""
    parts = [f'<decisionTable id="dt" hitPolicy="{hit_policy}"{agg}>']
    for i, expression in enumerate(inputs):
        allowed = (input_values or [None] * len(inputs))[i]
        values = f"<inputValues><text>{allowed}</text></inputValues>" if allowed else ""
        parts.append(
            f'<input id="in{i}" label="{expression}"><inputExpression>'
            f"<text>{expression}</text></inputExpression>{values}</input>"
        )
    for i, name in enumerate(outputs):
        allowed = (output_values or [None] * len(outputs))[i]
        default = (defaults or [None] * len(outputs))[i]
        name_attr = f' name="{name}"' if name else ""
        output_type = (output_types or [None] * len(outputs))[i]
        if output_type:
            name_attr += f' typeRef="{output_type}"'
        inner = f"<outputValues><text>{allowed}</text></outputValues>" if allowed else ""
        if default:
            inner += f"<defaultOutputEntry><text>{default}</text></defaultOutputEntry>"
        parts.append(f'<output id="out{i}"{name_attr}>{inner}</output>')
    for r, (tests, outs) in enumerate(rules, start=1):
        parts.append(f'<rule id="r{r}">')
        parts += [f"<inputEntry><text>{t}</text></inputEntry>" for t in tests]
        parts += [f"<outputEntry><text>{o}</text></outputEntry>" for o in outs]
        parts.append("</rule>")
    parts.append("</decisionTable>")
    return "".join(parts)


def decision(
    name: str,
    expression: str,
    *,
    inputs: tuple[str, ...] = (),
    decisions: tuple[str, ...] = (),
    knowledge: tuple[str, ...] = (),
    type_ref: str | None = None,
) -> str:
    type_attr = f' typeRef="{type_ref}"' if type_ref else ""
    reqs = "".join(
        f'<informationRequirement><requiredInput href="#i_{_id(n)}"/></informationRequirement>'
        for n in inputs
    )
    reqs += "".join(
        f'<informationRequirement><requiredDecision href="#d_{_id(n)}"/></informationRequirement>'
        for n in decisions
    )
    reqs += "".join(
        f'<knowledgeRequirement><requiredKnowledge href="#k_{_id(n)}"/></knowledgeRequirement>'
        for n in knowledge
    )
    return (
        f'<decision id="d_{_id(name)}" name="{name}"><variable name="{name}"{type_attr}/>'
        f"{reqs}{expression}</decision>"
    )


def literal(text: str) -> str:
    return f"<literalExpression><text>{text}</text></literalExpression>"


def model(*parts: str, ns: str = DMN15) -> DmnModel:
    return DmnModel.from_xml(definitions("\n".join(parts), ns=ns), source="test.dmn")


def table_model(age_table: str, type_ref: str | None = None) -> DmnModel:
    """A model with inputs Age (number) and Risk (string) and one decision `Result`."""
    return model(
        input_data("Age"),
        input_data("Risk", "string"),
        decision("Result", age_table, inputs=("Age", "Risk"), type_ref=type_ref),
    )


def _id(name: str) -> str:
    return name.replace(" ", "_")
