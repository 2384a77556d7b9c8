"""The DMN model as plain data: what the parser builds and the evaluator walks.

One set of classes serves DMN 1.1 to 1.5; version differences are absorbed by the parser.
Every element keeps its id and source position so errors and traces can point at it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, NamedTuple


@dataclass(kw_only=True)
class Element:
    id: str | None = None
    line: int | None = None
    column: int | None = None
    label: str | None = None
    description: str | None = None

    def where(self) -> str:
        parts = []
        if self.id:
            parts.append(f"element '{self.id}'")
        if self.line is not None:
            parts.append(f"line {self.line}")
        return ", ".join(parts) or "unknown position"


# --- boxed expressions -------------------------------------------------------------------------


@dataclass(kw_only=True)
class Expression(Element):
    type_ref: str | None = None


@dataclass(kw_only=True)
class LiteralExpression(Expression):
    text: str = ""
    expression_language: str | None = None
    # compiled FEEL, keyed by the names in scope (filled by the evaluator)
    compiled: dict[frozenset[str], Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(kw_only=True)
class UnaryTestsText(Element):
    """Unary tests as text: input entries, input/output values, allowed values."""

    text: str = "-"
    compiled: dict[frozenset[str], Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(kw_only=True)
class InformationItem(Element):
    name: str = ""
    type_ref: str | None = None


@dataclass(kw_only=True)
class ContextEntry(Element):
    variable: InformationItem | None  # None: the context's final result
    expression: Expression | None


@dataclass(kw_only=True)
class Context(Expression):
    entries: list[ContextEntry] = field(default_factory=list)


@dataclass(kw_only=True)
class ListExpression(Expression):
    items: list[Expression | None] = field(default_factory=list)


@dataclass(kw_only=True)
class Relation(Expression):
    columns: list[InformationItem] = field(default_factory=list)
    rows: list[list[Expression | None]] = field(default_factory=list)


@dataclass(kw_only=True)
class Binding(Element):
    parameter: InformationItem
    expression: Expression | None


@dataclass(kw_only=True)
class Invocation(Expression):
    function: Expression | None  # usually a literal expression naming the BKM
    bindings: list[Binding] = field(default_factory=list)


@dataclass(kw_only=True)
class FunctionDefinition(Expression):
    kind: str = "FEEL"  # FEEL, Java or PMML: only FEEL is evaluated
    parameters: list[InformationItem] = field(default_factory=list)
    body: Expression | None = None


@dataclass(kw_only=True)
class Conditional(Expression):
    condition: Expression | None
    then: Expression | None
    otherwise: Expression | None


@dataclass(kw_only=True)
class Filter(Expression):
    source: Expression | None
    match: Expression | None


@dataclass(kw_only=True)
class Iterator(Expression):
    """Boxed for / some / every (DMN 1.4+)."""

    kind: str  # "for", "some", "every"
    variable: str
    source: Expression | None
    body: Expression | None


@dataclass(kw_only=True)
class InputClause(Element):
    expression: LiteralExpression
    input_values: UnaryTestsText | None = None


@dataclass(kw_only=True)
class OutputClause(Element):
    name: str | None = None
    type_ref: str | None = None
    output_values: UnaryTestsText | None = None
    default_output: LiteralExpression | None = None


@dataclass(kw_only=True)
class Rule(Element):
    input_entries: list[UnaryTestsText] = field(default_factory=list)
    output_entries: list[LiteralExpression] = field(default_factory=list)
    annotations: list[str] = field(default_factory=list)


HIT_POLICIES = (
    "UNIQUE",
    "FIRST",
    "PRIORITY",
    "ANY",
    "COLLECT",
    "RULE ORDER",
    "OUTPUT ORDER",
)
AGGREGATIONS = ("SUM", "MIN", "MAX", "COUNT")


@dataclass(kw_only=True)
class DecisionTable(Expression):
    hit_policy: str = "UNIQUE"
    aggregation: str | None = None
    inputs: list[InputClause] = field(default_factory=list)
    outputs: list[OutputClause] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    output_label: str | None = None
    # compiled input entries per names in scope (filled by the evaluator)
    compiled: dict[frozenset[str], Any] = field(default_factory=dict, repr=False, compare=False)


# --- DRG elements --------------------------------------------------------------------------------


class Ref(NamedTuple):
    """A reference to a DRG element: the namespace of its definitions and its id."""

    namespace: str
    id: str


@dataclass(kw_only=True)
class ItemDefinition(Element):
    name: str = ""
    type_ref: str | None = None
    allowed_values: UnaryTestsText | None = None
    components: list[ItemDefinition] = field(default_factory=list)
    is_collection: bool = False
    function_item: FunctionItem | None = None


@dataclass(kw_only=True)
class FunctionItem(Element):
    parameters: list[InformationItem] = field(default_factory=list)
    output_type_ref: str | None = None


@dataclass(kw_only=True)
class DrgElement(Element):
    name: str = ""
    namespace: str = ""
    variable: InformationItem | None = None

    @functools.cached_property
    def ref(self) -> Ref:
        # read only once the parser has set `namespace`
        return Ref(self.namespace, self.id or self.name)

    @property
    def type_ref(self) -> str | None:
        return self.variable.type_ref if self.variable else None


@dataclass(kw_only=True)
class InputData(DrgElement):
    pass


@dataclass(kw_only=True)
class Decision(DrgElement):
    required_decisions: list[Ref] = field(default_factory=list)
    required_inputs: list[Ref] = field(default_factory=list)
    required_knowledge: list[Ref] = field(default_factory=list)
    expression: Expression | None = None
    question: str | None = None


@dataclass(kw_only=True)
class BusinessKnowledgeModel(DrgElement):
    required_knowledge: list[Ref] = field(default_factory=list)
    logic: FunctionDefinition | None = None


@dataclass(kw_only=True)
class DecisionService(DrgElement):
    output_decisions: list[Ref] = field(default_factory=list)
    encapsulated_decisions: list[Ref] = field(default_factory=list)
    input_decisions: list[Ref] = field(default_factory=list)
    input_data: list[Ref] = field(default_factory=list)


@dataclass(kw_only=True)
class Import(Element):
    namespace: str
    name: str
    import_type: str | None = None
    location: str | None = None


@dataclass(kw_only=True)
class Definitions(Element):
    name: str = ""
    namespace: str = ""
    dmn_version: str = ""
    source: str | None = None
    imports: list[Import] = field(default_factory=list)
    item_definitions: dict[str, ItemDefinition] = field(default_factory=dict)
    elements: dict[str, DrgElement] = field(default_factory=dict)  # by id

    def by_name(self, name: str) -> DrgElement | None:
        for element in self.elements.values():
            if element.name == name:
                return element
        return None

    def import_name(self, namespace: str) -> str | None:
        for item in self.imports:
            if item.namespace == namespace:
                return item.name
        return None
