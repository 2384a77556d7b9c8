"""The FEEL abstract syntax tree: plain data from the parser, compiled by the interpreter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Node:
    pos: int = field(default=0, kw_only=True)


@dataclass(slots=True)
class Literal(Node):
    value: Any


@dataclass(slots=True)
class InvalidLiteral(Node):
    """An @"..." literal that is no date, time or duration: null, with a warning."""

    text: str


@dataclass(slots=True)
class Name(Node):
    name: str


@dataclass(slots=True)
class Negate(Node):
    operand: Node


@dataclass(slots=True)
class Arithmetic(Node):
    op: str
    left: Node
    right: Node


@dataclass(slots=True)
class Comparison(Node):
    op: str
    left: Node
    right: Node


@dataclass(slots=True)
class Logical(Node):
    op: str  # "and" | "or"
    left: Node
    right: Node


@dataclass(slots=True)
class Between(Node):
    value: Node
    low: Node
    high: Node


@dataclass(slots=True)
class UnaryCompare(Node):
    """A simple positive unary test `< e`, `>= e`, `= e`, `!= e`; as an expression, a range."""

    op: str
    endpoint: Node


@dataclass(slots=True)
class In(Node):
    value: Node
    tests: list[Node]


@dataclass(slots=True)
class FeelType:
    name: str  # "number", "list", "context", "range", "function", "Any", "Null", ...
    params: list[FeelType] = field(default_factory=list)
    fields: list[tuple[str, FeelType]] = field(default_factory=list)


@dataclass(slots=True)
class InstanceOf(Node):
    value: Node
    type: FeelType


@dataclass(slots=True)
class If(Node):
    condition: Node
    then: Node
    otherwise: Node


@dataclass(slots=True)
class Iteration:
    name: str
    domain: Node
    upper: Node | None = None  # `for i in a..b`


@dataclass(slots=True)
class For(Node):
    iterations: list[Iteration]
    body: Node


@dataclass(slots=True)
class Quantified(Node):
    kind: str  # "some" | "every"
    iterations: list[Iteration]
    condition: Node


@dataclass(slots=True)
class ListNode(Node):
    items: list[Node]


@dataclass(slots=True)
class ContextNode(Node):
    entries: list[tuple[str, Node]]


@dataclass(slots=True)
class RangeNode(Node):
    start: Node | None
    end: Node | None
    start_included: bool
    end_included: bool


@dataclass(slots=True)
class Path(Node):
    target: Node
    name: str


@dataclass(slots=True)
class Filter(Node):
    target: Node
    condition: Node


@dataclass(slots=True)
class Call(Node):
    callee: Node
    args: list[Node]
    named: list[tuple[str, Node]] | None = None


@dataclass(slots=True)
class FunctionDef(Node):
    params: list[tuple[str, FeelType | None]]
    body: Node
    external: bool = False


@dataclass(slots=True)
class UnaryTestsNode(Node):
    """Decision-table input entry: `-`, a list of positive unary tests, or `not(...)` of them."""

    tests: list[Node]
    negated: bool = False
    any: bool = False
