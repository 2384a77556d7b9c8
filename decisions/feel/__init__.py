"""FEEL (Friendly Enough Expression Language, DMN 1.4/1.5) for CivicStack: our own engine.

Public API (see docs/adr/0005-feel-engine.md):

- ``parse_expression(text, *, names=()) -> Expression`` and ``parse_unary_tests(text, *,
  names=()) -> UnaryTests``; both cached. ``names`` are the variable names in scope, so that
  names with spaces ("Applicant Age") parse; unknown adjacent words are also joined.
- ``Expression.evaluate(context, *, limits=None, warnings=None)``,
  ``UnaryTests.test(input_value, context, *, limits=None, warnings=None) -> bool | None``,
  ``evaluate(text, context, *, limits=None, warnings=None)``.
- Values (``values.py``): None, bool, str, Decimal, date, FeelTime, datetime, DayTimeDuration,
  YearMonthDuration, list, dict, Range, FeelFunction; ``to_feel`` / ``from_feel``.
- ``types``: an optional ``TypeResolver`` (type name -> membership test or None) so that
  ``x instance of tMyItemDefinition`` can use DMN item definitions.
- ``Limits`` (steps, seconds, collection size, string length, call depth) ->
  ``FeelLimitExceeded``; ``FeelSyntaxError`` (message, position, line, column); ``FeelError``.

Supported: literals (numbers, strings with \\u/\\U escapes, booleans, null, @"..." temporals),
arithmetic with 34-digit decimals, comparisons, three-valued and/or, between, in, instance of
(including list<T>, context<...>, range<T>, function<...>), ranges and unary tests (`-`,
`not(...)`, `< e`, `[a..b)`, `]a..b[`, lists of tests, expressions using `?`), lists, contexts,
if/for (with `a..b` and `partial`)/some/every, paths, filters and indexes, function definitions
and invocation (positional and named), dates, times, dates and times (offsets and zone ids),
both duration kinds, and the DMN 1.5 built-in library (see builtins.py). Evaluation-time type
errors give null with a warning, never an exception. Not supported: `external` functions
(Java/PMML).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import FeelError, FeelLimitExceeded, FeelSyntaxError
from .interpreter import DEFAULT_LIMITS, Compiler, Env, Limits, State, Test, TypeResolver
from .nodes import Node, UnaryTestsNode
from .parser import parse, parse_tests
from .values import (
    DECIMAL_CONTEXT,
    DayTimeDuration,
    FeelFunction,
    FeelTime,
    Range,
    YearMonthDuration,
    feel_compare,
    feel_equal,
    from_feel,
    to_feel,
    to_string,
    type_name,
)

__all__ = [
    "DECIMAL_CONTEXT",
    "DayTimeDuration",
    "Expression",
    "FeelError",
    "FeelFunction",
    "FeelLimitExceeded",
    "FeelSyntaxError",
    "FeelTime",
    "Limits",
    "Range",
    "TypeResolver",
    "UnaryTests",
    "YearMonthDuration",
    "evaluate",
    "feel_compare",
    "feel_equal",
    "from_feel",
    "parse_expression",
    "parse_unary_tests",
    "to_feel",
    "to_string",
    "type_name",
]


def _run(function: Any, *args: Any) -> Any:
    try:
        return function(*args)
    except RecursionError:
        raise FeelLimitExceeded("expression nested too deeply") from None


class Expression:
    """A parsed and compiled FEEL expression; evaluate it as often as needed."""

    __slots__ = ("_function", "node", "text")

    def __init__(self, text: str, node: Node) -> None:
        self.text = text
        self.node = node
        self._function = Compiler(text).compile(node)

    def evaluate(
        self,
        context: Mapping[str, Any],
        *,
        limits: Limits | None = None,
        warnings: list[str] | None = None,
        types: TypeResolver | None = None,
    ) -> Any:
        state = State(limits or DEFAULT_LIMITS, warnings, types)
        try:
            return self._function(Env(context, None, state))
        except RecursionError:
            raise FeelLimitExceeded("evaluation nested too deeply") from None
        except (ArithmeticError, OverflowError) as exc:
            state.warn(f"arithmetic error: {exc}")
            return None

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


class UnaryTests:
    """Parsed unary tests (a decision-table input entry)."""

    __slots__ = ("_test", "node", "text")

    def __init__(self, text: str, node: UnaryTestsNode) -> None:
        self.text = text
        self.node = node
        self._test: Test = Compiler(text).unary_tests(node)

    @property
    def is_any(self) -> bool:
        """True for `-` (or an empty entry), which every input satisfies."""
        return self.node.any

    def test(
        self,
        input_value: Any,
        context: Mapping[str, Any],
        *,
        limits: Limits | None = None,
        warnings: list[str] | None = None,
        types: TypeResolver | None = None,
    ) -> bool | None:
        state = State(limits or DEFAULT_LIMITS, warnings, types)
        value = to_feel(input_value)
        try:
            return self._test(value, Env(context, None, state))
        except RecursionError:
            raise FeelLimitExceeded("evaluation nested too deeply") from None
        except (ArithmeticError, OverflowError) as exc:
            state.warn(f"arithmetic error: {exc}")
            return None

    def __repr__(self) -> str:
        return f"UnaryTests({self.text!r})"


@functools.lru_cache(maxsize=8192)
def _parse_expression(text: str, names: frozenset[str]) -> Expression:
    from .builtins import BUILTIN_NAMES

    node = _run(parse, text, names | BUILTIN_NAMES)
    return _run(Expression, text, node)


@functools.lru_cache(maxsize=8192)
def _parse_unary_tests(text: str, names: frozenset[str]) -> UnaryTests:
    from .builtins import BUILTIN_NAMES

    node, _ = _run(parse_tests, text, names | BUILTIN_NAMES)
    return _run(UnaryTests, text, node)


def parse_expression(text: str, *, names: Iterable[str] = ()) -> Expression:
    """Parse and compile a FEEL expression (cached). Raises FeelSyntaxError."""
    return _parse_expression(text, frozenset(names))


def parse_unary_tests(text: str, *, names: Iterable[str] = ()) -> UnaryTests:
    """Parse and compile decision-table unary tests (cached). Raises FeelSyntaxError."""
    return _parse_unary_tests(text, frozenset(names))


def evaluate(
    text: str,
    context: Mapping[str, Any] | None = None,
    *,
    limits: Limits | None = None,
    warnings: list[str] | None = None,
) -> Any:
    """Parse (cached) and evaluate a FEEL expression in a context; names come from the context."""
    context = context or {}
    return parse_expression(text, names=context.keys()).evaluate(
        context, limits=limits, warnings=warnings
    )
