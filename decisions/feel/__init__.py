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
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from .errors import FeelError, FeelLimitExceeded, FeelSyntaxError
from .interpreter import (
    DEFAULT_LIMITS,
    NO_CONSTANT,
    Compiler,
    Env,
    Limits,
    Session,
    State,
    Test,
    TypeResolver,
    constant_of,
    simple_unary_tests,
)
from .nodes import Name as NameNode
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
    "NO_CONSTANT",
    "DayTimeDuration",
    "Env",
    "Expression",
    "FeelError",
    "FeelFunction",
    "FeelLimitExceeded",
    "FeelSyntaxError",
    "FeelTime",
    "Limits",
    "Range",
    "Session",
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
    """A parsed and compiled FEEL expression; evaluate it as often as needed.

    `evaluate(context)` runs it with its own budget; `evaluate(context, session=s)` or, fastest,
    `run(s.scope(context))` run it in a `Session` shared with other expressions.
    `constant` is the value of a literal expression (`"Approved"`, `-5`), else `NO_CONSTANT`;
    `variable` the name when the expression is just a name (`Applicant Age`), else None.
    """

    __slots__ = ("_function", "constant", "node", "run", "text", "variable")

    def __init__(self, text: str, node: Node) -> None:
        self.text = text
        self.node = node
        self._function = Compiler(text).compile(node)
        self.constant: Any = constant_of(node)
        self.variable: str | None = node.name if isinstance(node, NameNode) else None
        self.run: Callable[[Env], Any] = self._run

    def _run(self, scope: Env) -> Any:
        """Evaluate in a session's scope; type errors give null (and a warning) as always."""
        try:
            return self._function(scope)
        except RecursionError:
            raise FeelLimitExceeded("evaluation nested too deeply") from None
        except (ArithmeticError, OverflowError) as exc:
            scope.state.warn(f"arithmetic error: {exc}")
            return None

    def evaluate(
        self,
        context: Mapping[str, Any],
        *,
        limits: Limits | None = None,
        warnings: list[str] | None = None,
        types: TypeResolver | None = None,
        session: Session | None = None,
    ) -> Any:
        """The value in `context`. With a `session`, its budget, warnings and types are used."""
        state = session or State(limits or DEFAULT_LIMITS, warnings, types)
        return self._run(Env(context, None, state))

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


class UnaryTests:
    """Parsed unary tests (a decision-table input entry).

    `test(value, context)` converts the value (`to_feel`) and runs with its own budget.
    `match(value, scope)` is the fast form for a `Session`: the value must already be a FEEL
    value. `simple` tests (against constants only: `< 18`, `[1..5)`, `"A","B"`, `not(..)`, `-`)
    never read the scope, never warn and never raise, so they may be run eagerly.
    """

    __slots__ = ("_test", "match", "node", "simple", "text")

    def __init__(self, text: str, node: UnaryTestsNode) -> None:
        self.text = text
        self.node = node
        simple = simple_unary_tests(node)
        self.simple = simple is not None
        self._test: Test = simple or Compiler(text).unary_tests(node)
        self.match: Callable[[Any, Env], bool | None] = simple or self._match

    @property
    def is_any(self) -> bool:
        """True for `-` (or an empty entry), which every input satisfies."""
        return self.node.any

    def _match(self, value: Any, scope: Env) -> bool | None:
        try:
            return self._test(value, scope)
        except RecursionError:
            raise FeelLimitExceeded("evaluation nested too deeply") from None
        except (ArithmeticError, OverflowError) as exc:
            scope.state.warn(f"arithmetic error: {exc}")
            return None

    def test(
        self,
        input_value: Any,
        context: Mapping[str, Any],
        *,
        limits: Limits | None = None,
        warnings: list[str] | None = None,
        types: TypeResolver | None = None,
        session: Session | None = None,
    ) -> bool | None:
        """Whether `input_value` satisfies the tests. With a `session`, its state is used."""
        state = session or State(limits or DEFAULT_LIMITS, warnings, types)
        value = input_value if type(input_value) in _FEEL_SCALARS else to_feel(input_value)
        return self._match(value, Env(context, None, state))

    def __repr__(self) -> str:
        return f"UnaryTests({self.text!r})"


_FEEL_SCALARS = frozenset({type(None), bool, str, Decimal})


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
