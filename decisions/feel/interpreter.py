"""Compiles the FEEL syntax tree to Python closures and runs them within limits.

Sandboxed by construction: closures only dispatch on our own node types and FEEL value types;
names resolve in FEEL contexts (dicts) and the built-in table, never in Python namespaces.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from . import nodes as n
from .errors import FeelLimitExceeded
from .lexer import position
from .temporal import add_duration, property_of, subtract_datetimes, subtract_times
from .values import (
    DECIMAL_CONTEXT,
    UNBOUNDED,
    DayTimeDuration,
    FeelFunction,
    FeelTime,
    NotEqual,
    Range,
    YearMonthDuration,
    feel_compare,
    feel_equal,
    range_contains,
    to_feel,
    type_name,
)

Fn = Callable[["Env"], Any]
Test = Callable[[Any, "Env"], bool | None]
# Resolves a type name that FEEL does not define (a DMN item definition) to a membership test.
TypeResolver = Callable[[str], Callable[[Any], bool] | None]
_CTX = DECIMAL_CONTEXT
_PLAIN_TYPES = (int, float, tuple, dt.time, dt.timedelta)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one evaluation; exceeding any raises FeelLimitExceeded."""

    max_steps: int = 1_000_000
    max_seconds: float = 1.0
    max_collection_size: int = 1_000_000
    max_string_length: int = 10_000_000
    max_depth: int = 200


DEFAULT_LIMITS = Limits()


class State:
    """The budget and warnings of one evaluation."""

    __slots__ = (
        "deadline",
        "depth",
        "limits",
        "max_steps",
        "next_check",
        "steps",
        "types",
        "warnings",
    )

    def __init__(
        self,
        limits: Limits | None = None,
        warnings: list[str] | None = None,
        types: TypeResolver | None = None,
    ) -> None:
        self.limits = limits or DEFAULT_LIMITS
        self.warnings = warnings
        self.types = types
        self.steps = 0
        self.max_steps = self.limits.max_steps
        self.deadline = time.monotonic() + self.limits.max_seconds
        self.next_check = 256
        self.depth = 0

    def tick(self, count: int = 1) -> None:
        self.steps += count
        if self.steps > self.max_steps:
            raise FeelLimitExceeded(f"evaluation exceeded {self.max_steps} steps")
        if self.steps >= self.next_check:
            self.next_check = self.steps + 256
            if time.monotonic() > self.deadline:
                raise FeelLimitExceeded(f"evaluation exceeded {self.limits.max_seconds} seconds")

    def check_size(self, size: int) -> None:
        if size > self.limits.max_collection_size:
            raise FeelLimitExceeded(
                f"a list or context exceeded {self.limits.max_collection_size} items"
            )

    def check_string(self, text: str) -> str:
        if len(text) > self.limits.max_string_length:
            raise FeelLimitExceeded(f"a string exceeded {self.limits.max_string_length} characters")
        return text

    def warn(self, message: str) -> None:
        if self.warnings is not None and len(self.warnings) < 100:
            self.warnings.append(message)


class Session(State):
    """The FEEL state of one larger evaluation, shared by all the expressions it evaluates.

    A DMN evaluation creates one and evaluates every expression and unary test in it, so that
    one step and time budget covers the whole evaluation and no state is built per expression.
    Warnings accumulate in `messages` (the caller takes and clears them); `types` may be
    changed between expressions.
    """

    __slots__ = ("messages",)

    def __init__(self, limits: Limits | None = None, *, types: TypeResolver | None = None) -> None:
        messages: list[str] = []
        super().__init__(limits, messages, types)
        self.messages = messages  # the warnings (the same list as `warnings`, never None)

    def scope(self, context: Mapping[str, Any]) -> Env:
        """A scope of this session with the names of `context` (a FEEL context) in it."""
        return Env(context, None, self)


class Env:
    """A scope: variables (a FEEL context), the enclosing scope, the evaluation state."""

    __slots__ = ("parent", "state", "vars")

    def __init__(self, variables: Mapping[str, Any], parent: Env | None, state: State) -> None:
        self.vars = variables
        self.parent = parent
        self.state = state

    def lookup(self, name: str) -> tuple[bool, Any]:
        env: Env | None = self
        while env is not None:
            variables = env.vars
            if name in variables:
                value = variables[name]
                if isinstance(value, _PLAIN_TYPES) and not isinstance(value, bool):
                    value = to_feel(value)
                return True, value
            env = env.parent
        return False, None


class UserFunction(FeelFunction):
    """A function defined in FEEL: `function(a, b) a + b`, closing over its scope."""

    __slots__ = ("body", "closure")

    def __init__(self, params: list[str], body: Fn, closure: Env) -> None:
        super().__init__("anonymous", params, self._call_from_python)
        self.body = body
        self.closure = closure

    def _call_from_python(self, args: dict[str, Any]) -> Any:
        state = State(self.closure.state.limits, self.closure.state.warnings)
        return self.invoke(state, args)

    def invoke(self, state: State, args: Mapping[str, Any]) -> Any:
        variables = {param: args.get(param) for param in self.params}
        state.depth += 1
        try:
            if state.depth > state.limits.max_depth:
                raise FeelLimitExceeded(f"function calls nested deeper than {state.depth - 1}")
            return self.body(Env(variables, self.closure, state))
        finally:
            state.depth -= 1


MISSING: Any = object()


class Builtin(FeelFunction):
    """A built-in function: `impl(state, *args)`, with one or more parameter lists."""

    __slots__ = ("impl", "named_types", "signatures")

    def __init__(
        self,
        name: str,
        signatures: list[list[str]],
        impl: Callable[..., Any],
        named_types: Mapping[str, Callable[[Any], bool]] | None = None,
    ) -> None:
        super().__init__(name, [p.strip("?.") for p in signatures[0]], self._call_from_python)
        self.signatures = signatures
        self.impl = impl
        # parameters whose name selects a signature, with the type that signature requires:
        # `context put(key: ["a", "b"], ...)` is null (`key` is a string, `keys` a list)
        self.named_types = named_types or {}

    def _call_from_python(self, args: dict[str, Any]) -> Any:
        return self.invoke(State(), [], args)

    def arity_ok(self, count: int) -> bool:
        for signature in self.signatures:
            required = sum(1 for p in signature if not p.endswith("?") and not p.startswith("..."))
            variadic = any(p.startswith("...") for p in signature)
            if count >= required and (variadic or count <= len(signature)):
                return True
        return False

    def invoke(self, state: State, args: list[Any], named: Mapping[str, Any] | None = None) -> Any:
        if named is not None:
            for param, check in self.named_types.items():
                if param in named and named[param] is not None and not check(named[param]):
                    state.warn(f"{self.name}(): {param} is a {type_name(named[param])}")
                    return None
            args = self.bind_named(named)
            if args is MISSING:
                state.warn(f"{self.name}() has no parameters named {', '.join(named)}")
                return None
        elif not self.arity_ok(len(args)):
            state.warn(f"{self.name}() does not take {len(args)} arguments")
            return None
        try:
            return self.impl(state, *args)
        except FeelLimitExceeded:
            raise
        except (ArithmeticError, ValueError, OverflowError, TypeError) as exc:
            state.warn(f"{self.name}() failed: {exc}")
            return None

    def bind_named(self, named: Mapping[str, Any]) -> Any:
        for signature in self.signatures:
            names = [p.strip("?.") for p in signature]
            if not set(named) <= set(names):
                continue
            values = [named.get(p, MISSING) for p in names]
            optional = [p.endswith("?") or p.startswith("...") for p in signature]
            while values and values[-1] is MISSING and optional[len(values) - 1]:
                values.pop()
            if signature and signature[-1].startswith("...") and len(values) == len(signature):
                last = values.pop()
                # a variadic parameter given by name holds a list of the values
                values.extend(last if isinstance(last, list) else [last])
            return [None if value is MISSING else value for value in values]
        return MISSING


def invoke(state: State, function: Any, args: list[Any], named: Mapping[str, Any] | None) -> Any:
    """Call any FEEL function value with positional or named arguments."""
    state.tick()
    if isinstance(function, Builtin):
        return function.invoke(state, args, named)
    if isinstance(function, UserFunction):
        if named is None:
            if len(args) > len(function.params):
                state.warn(f"function takes {len(function.params)} arguments, got {len(args)}")
                return None
            named = dict(zip(function.params, args, strict=False))
        elif not set(named) <= set(function.params):
            state.warn(
                f"function has no parameters named {', '.join(set(named) - set(function.params))}"
            )
            return None
        return function.invoke(state, named)
    if isinstance(function, FeelFunction):
        if named is None:
            if len(args) > len(function.params):
                state.warn(f"{function.name} takes {len(function.params)} arguments")
                return None
            named = dict(zip(function.params, args, strict=False))
        state.depth += 1
        try:
            if state.depth > state.limits.max_depth:
                raise FeelLimitExceeded("function calls nested too deeply")
            return function.call(dict(named))
        finally:
            state.depth -= 1
    state.warn(f"{type_name(function)} is not a function")
    return None


# -- arithmetic -----------------------------------------------------------------------------------
def add(state: State, a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    ta, tb = type(a), type(b)
    if ta is Decimal and tb is Decimal:
        return _CTX.add(a, b)
    if ta is str and tb is str:
        return state.check_string(a + b)
    if isinstance(b, (DayTimeDuration, YearMonthDuration)):
        if isinstance(a, DayTimeDuration) and isinstance(b, DayTimeDuration):
            return DayTimeDuration(a.microseconds + b.microseconds)
        if isinstance(a, YearMonthDuration) and isinstance(b, YearMonthDuration):
            return YearMonthDuration(a.months + b.months)
        if isinstance(a, (dt.date, FeelTime)):
            return add_duration(a, b, 1)
    elif isinstance(a, (DayTimeDuration, YearMonthDuration)) and isinstance(b, (dt.date, FeelTime)):
        return add_duration(b, a, 1)
    return _type_error(state, "+", a, b)


def subtract(state: State, a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    ta, tb = type(a), type(b)
    if ta is Decimal and tb is Decimal:
        return _CTX.subtract(a, b)
    if isinstance(a, dt.date) and isinstance(b, dt.date):
        return subtract_datetimes(a, b)
    if ta is FeelTime and tb is FeelTime:
        return subtract_times(a, b)
    if isinstance(b, (DayTimeDuration, YearMonthDuration)):
        if isinstance(a, DayTimeDuration) and isinstance(b, DayTimeDuration):
            return DayTimeDuration(a.microseconds - b.microseconds)
        if isinstance(a, YearMonthDuration) and isinstance(b, YearMonthDuration):
            return YearMonthDuration(a.months - b.months)
        if isinstance(a, (dt.date, FeelTime)):
            return add_duration(a, b, -1)
    return _type_error(state, "-", a, b)


def multiply(state: State, a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if type(a) is Decimal and type(b) is Decimal:
        return _CTX.multiply(a, b)
    if type(a) is Decimal and isinstance(b, (DayTimeDuration, YearMonthDuration)):
        a, b = b, a
    if type(b) is Decimal:
        if type(a) is DayTimeDuration:
            return DayTimeDuration(int(_CTX.multiply(Decimal(a.microseconds), b)))
        if type(a) is YearMonthDuration:
            return YearMonthDuration(int(_CTX.multiply(Decimal(a.months), b)))
    return _type_error(state, "*", a, b)


def divide(state: State, a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    tb = type(b)
    if tb is Decimal and b == 0:
        state.warn("division by zero")
        return None
    if type(a) is Decimal and tb is Decimal:
        return _CTX.divide(a, b)
    if tb is Decimal:
        if type(a) is DayTimeDuration:
            return DayTimeDuration(int(_CTX.divide(Decimal(a.microseconds), b)))
        if type(a) is YearMonthDuration:
            return YearMonthDuration(int(_CTX.divide(Decimal(a.months), b)))
    if type(a) is DayTimeDuration and tb is DayTimeDuration:
        if b.microseconds == 0:
            return None
        return _CTX.divide(Decimal(a.microseconds), Decimal(b.microseconds))
    if type(a) is YearMonthDuration and tb is YearMonthDuration:
        if b.months == 0:
            return None
        return _CTX.divide(Decimal(a.months), Decimal(b.months))
    return _type_error(state, "/", a, b)


def power(state: State, a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if type(a) is Decimal and type(b) is Decimal:
        if abs(b) > 999_999_999:
            return None
        return _CTX.power(a, b)
    return _type_error(state, "**", a, b)


def negate(state: State, a: Any) -> Any:
    if a is None:
        return None
    if type(a) is Decimal:
        return _CTX.minus(a)
    if type(a) is DayTimeDuration:
        return DayTimeDuration(-a.microseconds)
    if type(a) is YearMonthDuration:
        return YearMonthDuration(-a.months)
    state.warn(f"cannot negate a {type_name(a)}")
    return None


def _type_error(state: State, op: str, a: Any, b: Any) -> None:
    state.warn(f"cannot apply {op} to {type_name(a)} and {type_name(b)}")
    return None


_ARITHMETIC: dict[str, Callable[[State, Any, Any], Any]] = {
    "+": add,
    "-": subtract,
    "*": multiply,
    "/": divide,
    "**": power,
}


def compare_op(op: str, a: Any, b: Any) -> bool | None:
    if op == "=":
        return feel_equal(a, b)
    if op == "!=":
        same = feel_equal(a, b)
        return None if same is None else not same
    order = feel_compare(a, b)
    if order is None:
        return None
    if op == "<":
        return order < 0
    if op == "<=":
        return order <= 0
    if op == ">":
        return order > 0
    return order >= 0


def match_value(value: Any, test_value: Any) -> bool | None:
    """Whether an input matches the value of a unary-test expression (equal, in list, in range)."""
    if isinstance(test_value, Range):
        return range_contains(test_value, value)
    if isinstance(test_value, NotEqual):
        same = feel_equal(value, test_value.value)
        return None if same is None else not same
    if isinstance(test_value, list):
        if isinstance(value, list) and feel_equal(value, test_value) is True:
            return True
        for item in test_value:
            if isinstance(item, Range | NotEqual):
                if match_value(value, item) is True:
                    return True
            elif feel_equal(value, item) is True:
                return True
        return False
    if isinstance(test_value, bool) and not isinstance(value, bool) and value is not None:
        return test_value
    return feel_equal(value, test_value)


def uses_input(node: Any) -> bool:
    """Whether a syntax tree refers to the unary-test input `?`."""
    if isinstance(node, n.Name):
        return node.name == "?"
    if isinstance(node, n.Node | n.Iteration):
        return any(uses_input(getattr(node, f.name)) for f in fields(node))
    if isinstance(node, list | tuple):
        return any(uses_input(item) for item in node)
    return False


_FEEL_TYPES = frozenset(
    {
        "number",
        "string",
        "boolean",
        "date",
        "time",
        "date and time",
        "days and time duration",
        "years and months duration",
    }
)


_STRUCTURED_TYPES = frozenset({"Any", "Null", "list", "context", "range", "function"})


def is_instance(value: Any, type_ref: n.FeelType, state: State) -> bool:
    name = type_ref.name
    if name not in _FEEL_TYPES and name not in _STRUCTURED_TYPES:
        check = state.types(name) if state.types is not None else None
        if check is None:
            state.warn(f"unknown type {name!r}")
            return False
        return check(value)
    if name == "Any":
        return value is not None
    if value is None:
        return name == "Null"
    if name == "list":
        if not isinstance(value, list):
            return False
        return not type_ref.params or all(
            v is None or is_instance(v, type_ref.params[0], state) for v in value
        )
    if name == "context":
        if not isinstance(value, dict):
            return False
        return all(
            k in value and (value[k] is None or is_instance(value[k], t, state))
            for k, t in type_ref.fields
        )
    if name == "range":
        if not isinstance(value, Range):
            return False
        if not type_ref.params:
            return True
        return all(
            v is None or v is UNBOUNDED or is_instance(v, type_ref.params[0], state)
            for v in (value.start, value.end)
        )
    if name == "function":
        return isinstance(value, FeelFunction)
    return type_name(value) == name


class Compiler:
    def __init__(self, text: str) -> None:
        self.text = text

    def where(self, node: n.Node) -> str:
        line, column = position(self.text, node.pos)
        return f"{line}:{column}"

    def compile(self, node: n.Node) -> Fn:
        method = _DISPATCH[type(node)]
        result: Fn = method(self, node)
        return result

    def literal(self, node: n.Literal) -> Fn:
        value = node.value
        return lambda env: value

    def invalid_literal(self, node: n.InvalidLiteral) -> Fn:
        message = f"@{node.text!r} is not a date, time or duration at {self.where(node)}"

        def evaluate(env: Env) -> Any:
            env.state.warn(message)
            return None

        return evaluate

    def name(self, node: n.Name) -> Fn:
        from .builtins import BUILTINS

        name = node.name
        builtin = BUILTINS.get(name)
        where = self.where(node)

        def evaluate(env: Env) -> Any:
            scope: Env | None = env
            while scope is not None:
                variables = scope.vars
                if name in variables:
                    value = variables[name]
                    if isinstance(value, _PLAIN_TYPES) and not isinstance(value, bool):
                        value = to_feel(value)
                    return value
                scope = scope.parent
            if builtin is not None:
                return builtin
            env.state.warn(f"undefined name {name!r} at {where}")
            return None

        return evaluate

    def negate(self, node: n.Negate) -> Fn:
        operand = self.compile(node.operand)
        return lambda env: negate(env.state, operand(env))

    def arithmetic(self, node: n.Arithmetic) -> Fn:
        left, right = self.compile(node.left), self.compile(node.right)
        op = _ARITHMETIC[node.op]
        if node.op == "+":

            def evaluate_add(env: Env) -> Any:
                a, b = left(env), right(env)
                if type(a) is Decimal and type(b) is Decimal:
                    return _CTX.add(a, b)
                return add(env.state, a, b)

            return evaluate_add
        return lambda env: op(env.state, left(env), right(env))

    def comparison(self, node: n.Comparison) -> Fn:
        left, right = self.compile(node.left), self.compile(node.right)
        op = node.op
        return lambda env: compare_op(op, left(env), right(env))

    def logical(self, node: n.Logical) -> Fn:
        left, right = self.compile(node.left), self.compile(node.right)
        if node.op == "and":

            def evaluate_and(env: Env) -> Any:
                a = left(env)
                if a is False:
                    return False
                b = right(env)
                if b is False:
                    return False
                return True if a is True and b is True else None

            return evaluate_and

        def evaluate_or(env: Env) -> Any:
            a = left(env)
            if a is True:
                return True
            b = right(env)
            if b is True:
                return True
            return False if a is False and b is False else None

        return evaluate_or

    def between(self, node: n.Between) -> Fn:
        value, low, high = (self.compile(x) for x in (node.value, node.low, node.high))

        def evaluate(env: Env) -> Any:
            v = value(env)
            first = compare_op(">=", v, low(env))
            second = compare_op("<=", v, high(env))
            if first is False or second is False:
                return False
            return True if first and second else None

        return evaluate

    def unary_compare(self, node: n.UnaryCompare) -> Fn:
        endpoint = self.compile(node.endpoint)
        op = node.op

        def evaluate(env: Env) -> Any:
            point = endpoint(env)
            if op == "<":
                return Range(UNBOUNDED, point, False, False)
            if op == "<=":
                return Range(UNBOUNDED, point, False, True)
            if op == ">":
                return Range(point, UNBOUNDED, False, False)
            if op == ">=":
                return Range(point, UNBOUNDED, True, False)
            if op == "=":
                return Range(point, point, True, True, "=")
            return NotEqual(point)

        return evaluate

    def positive_test(self, node: n.Node) -> Test:
        """Compile one positive unary test to `test(input, env) -> bool | None`."""
        simple = simple_test(node)
        if simple is not None:
            return simple
        if isinstance(node, n.UnaryCompare):
            op = node.op
            endpoint = self.compile(node.endpoint)
            return lambda value, env: compare_op(op, value, endpoint(env))
        expression = self.compile(node)
        if uses_input(node):

            def evaluate_with_input(value: Any, env: Env) -> Any:
                result = expression(Env({"?": value}, env, env.state))
                return result if isinstance(result, bool) else None

            return evaluate_with_input

        return lambda value, env: match_value(value, expression(env))

    def in_(self, node: n.In) -> Fn:
        value = self.compile(node.value)
        tests = [self.positive_test(test) for test in node.tests]

        def evaluate(env: Env) -> Any:
            v = value(env)
            return _any_test(tests, v, env)

        return evaluate

    def instance_of(self, node: n.InstanceOf) -> Fn:
        value = self.compile(node.value)
        type_ref = node.type
        return lambda env: is_instance(value(env), type_ref, env.state)

    def if_(self, node: n.If) -> Fn:
        condition, then, otherwise = (
            self.compile(x) for x in (node.condition, node.then, node.otherwise)
        )
        return lambda env: then(env) if condition(env) is True else otherwise(env)

    def domain(self, iteration: n.Iteration) -> Callable[[Env], Iterator[Any] | None]:
        domain = self.compile(iteration.domain)
        upper = self.compile(iteration.upper) if iteration.upper is not None else None

        def values(env: Env) -> Iterator[Any] | None:
            first = domain(env)
            if upper is not None:
                return _count(env.state, first, upper(env))
            if isinstance(first, list):
                return iter(first)
            if isinstance(first, Range):
                if first.start is UNBOUNDED or first.end is UNBOUNDED:
                    env.state.warn("cannot iterate over an unbounded range")
                    return None
                start = first.start
                end = first.end
                if not first.start_included:
                    start = add(env.state, start, _step(start, end))
                if not first.end_included:
                    end = subtract(env.state, end, _step(start, end))
                return _count(env.state, start, end)
            if first is None:
                return None
            return iter([first])

        return values

    def for_(self, node: n.For) -> Fn:
        domains = [self.domain(it) for it in node.iterations]
        names = [it.name for it in node.iterations]
        body = self.compile(node.body)
        depth = len(domains)

        def evaluate(env: Env) -> Any:
            results: list[Any] = []
            state = env.state

            def loop(level: int, scope: Env) -> bool:
                values = domains[level](scope)
                if values is None:
                    return False
                for item in values:
                    state.tick()
                    inner = Env({names[level]: item, "partial": results}, scope, state)
                    if level + 1 < depth:
                        if not loop(level + 1, inner):
                            return False
                    else:
                        results.append(body(inner))
                        state.check_size(len(results))
                return True

            return results if loop(0, env) else None

        return evaluate

    def quantified(self, node: n.Quantified) -> Fn:
        domains = [self.domain(it) for it in node.iterations]
        names = [it.name for it in node.iterations]
        condition = self.compile(node.condition)
        some = node.kind == "some"
        depth = len(domains)

        def evaluate(env: Env) -> Any:
            state = env.state

            def loop(level: int, scope: Env) -> bool | None:
                values = domains[level](scope)
                if values is None:
                    return None
                for item in values:
                    state.tick()
                    inner = Env({names[level]: item}, scope, state)
                    if level + 1 < depth:
                        result = loop(level + 1, inner)
                    else:
                        result = condition(inner) is True
                    if result is None:
                        return None
                    if result is some:
                        return some
                return not some

            return loop(0, env)

        return evaluate

    def list_(self, node: n.ListNode) -> Fn:
        items = [self.compile(item) for item in node.items]
        if all(isinstance(item, n.Literal) for item in node.items):
            constant = [item.value for item in node.items]  # type: ignore[attr-defined]
            return lambda env: list(constant)
        return lambda env: [item(env) for item in items]

    def context(self, node: n.ContextNode) -> Fn:
        entries = [(key, self.compile(value)) for key, value in node.entries]

        def evaluate(env: Env) -> Any:
            result: dict[str, Any] = {}
            inner = Env(result, env, env.state)
            for key, value in entries:
                result[key] = value(inner)
            env.state.tick(len(entries))
            return result

        return evaluate

    def range(self, node: n.RangeNode) -> Fn:
        start = self.compile(node.start) if node.start is not None else None
        end = self.compile(node.end) if node.end is not None else None
        start_included, end_included = node.start_included, node.end_included

        def evaluate(env: Env) -> Any:
            low = start(env) if start is not None else None
            high = end(env) if end is not None else None
            if low is not None and high is not None and feel_compare(low, high) is None:
                env.state.warn("range endpoints are not comparable")
                return None
            return Range(low, high, start_included, end_included)

        return evaluate

    def path(self, node: n.Path) -> Fn:
        target = self.compile(node.target)
        name = node.name
        return lambda env: _get_path(env.state, target(env), name)

    def filter(self, node: n.Filter) -> Fn:
        target = self.compile(node.target)
        condition = self.compile(node.condition)
        constant_index = (
            node.condition.value
            if isinstance(node.condition, n.Literal) and type(node.condition.value) is Decimal
            else None
        )

        def evaluate(env: Env) -> Any:
            items = target(env)
            if items is None:
                return None
            if not isinstance(items, list):
                items = [items]
            if constant_index is not None:
                return _index(items, constant_index)
            state = env.state
            result: list[Any] = []
            for position_, item in enumerate(items):
                state.tick()
                variables = dict(item) if isinstance(item, dict) else {}
                variables["item"] = item
                value = condition(Env(variables, env, state))
                if position_ == 0 and type(value) is Decimal:
                    return _index(items, value)
                if value is True:
                    result.append(item)
            return result

        return evaluate

    def call(self, node: n.Call) -> Fn:
        callee = self.compile(node.callee)
        args = [self.compile(arg) for arg in node.args]
        if node.named is not None:
            named = [(key, self.compile(value)) for key, value in node.named]
            return lambda env: invoke(
                env.state, callee(env), [], {key: value(env) for key, value in named}
            )
        return lambda env: invoke(env.state, callee(env), [arg(env) for arg in args], None)

    def function_def(self, node: n.FunctionDef) -> Fn:
        params = [name for name, _ in node.params]
        body = self.compile(node.body)
        if node.external:
            where = self.where(node)

            def external(env: Env) -> Any:
                env.state.warn(f"external functions are not supported at {where}")
                return None

            return external
        return lambda env: UserFunction(params, body, env)

    def unary_tests(self, node: n.UnaryTestsNode) -> Test:
        simple = simple_unary_tests(node)
        if simple is not None:
            return simple
        tests = [self.positive_test(test) for test in node.tests]
        if node.negated:

            def negated(value: Any, env: Env) -> bool | None:
                result = _any_test(tests, value, env)
                return None if result is None else not result

            return negated
        if len(tests) == 1:
            return tests[0]
        return lambda value, env: _any_test(tests, value, env)


# -- simple unary tests ------------------------------------------------------------------------
# Tests against constants (`< 18`, `[18..65)`, `"A","B"`, `not("X")`, `true`, `-`) compile to
# closures that never look at the scope, never warn and never raise: a decision table may run
# them eagerly, once per distinct entry, and combine their outcomes.

NO_CONSTANT: Any = object()


def constant_of(node: n.Node) -> Any:
    """The value of a literal (or a negated number literal); `NO_CONSTANT` otherwise."""
    if isinstance(node, n.Literal):
        return node.value
    if (
        isinstance(node, n.Negate)
        and isinstance(node.operand, n.Literal)
        and type(node.operand.value) is Decimal
    ):
        return _CTX.minus(node.operand.value)
    return NO_CONSTANT


def simple_test(node: n.Node) -> Test | None:
    """A positive unary test against constants as a scope-free closure, or None."""
    if isinstance(node, n.UnaryCompare):
        constant = constant_of(node.endpoint)
        if constant is NO_CONSTANT:
            return None
        return _compare_test(node.op, constant)
    if isinstance(node, n.RangeNode):
        if node.start is None or node.end is None:
            return None
        low, high = constant_of(node.start), constant_of(node.end)
        if low is NO_CONSTANT or high is NO_CONSTANT:
            return None
        if low is not None and high is not None and feel_compare(low, high) is None:
            return None  # not a range: evaluated (to null, with a warning) the general way
        return _range_test(Range(low, high, node.start_included, node.end_included))
    constant = constant_of(node)
    if constant is NO_CONSTANT:
        return None
    if type(constant) is str or type(constant) is Decimal:
        kind = type(constant)
        return lambda v, env: (v == constant) if type(v) is kind else feel_equal(v, constant)
    if type(constant) is bool:
        return lambda v, env: (v is constant) if type(v) is bool else match_value(v, constant)
    return lambda v, env: match_value(v, constant)


def simple_unary_tests(node: n.UnaryTestsNode) -> Test | None:
    """Unary tests made of simple tests only (or `-`) as one scope-free closure, or None."""
    if node.any:
        return lambda value, env: True
    tests = [simple_test(test) for test in node.tests]
    if any(test is None for test in tests):
        return None
    simple: list[Test] = [test for test in tests if test is not None]
    test = simple[0] if len(simple) == 1 else _any_of(node.tests, simple)
    if node.negated:

        def negated(value: Any, env: Any) -> bool | None:
            result = test(value, env)
            return None if result is None else not result

        return negated
    return test


def _any_of(nodes: list[n.Node], tests: list[Test]) -> Test:
    constants = [constant_of(node) for node in nodes]
    for kind in (str, Decimal):
        if all(type(c) is kind for c in constants):
            members = frozenset(constants)
            return lambda v, env: (v in members) if type(v) is kind else _any_test(tests, v, env)
    return lambda v, env: _any_test(tests, v, env)


def _compare_test(op: str, constant: Any) -> Test:
    kind: Any = type(constant)
    if kind is not Decimal and kind is not str:
        return lambda v, env: compare_op(op, v, constant)
    c: Any = constant  # a number or a string: compared directly with inputs of its type
    if op == "<":
        return lambda v, env: v < c if type(v) is kind else compare_op(op, v, c)
    if op == "<=":
        return lambda v, env: v <= c if type(v) is kind else compare_op(op, v, c)
    if op == ">":
        return lambda v, env: v > c if type(v) is kind else compare_op(op, v, c)
    if op == ">=":
        return lambda v, env: v >= c if type(v) is kind else compare_op(op, v, c)
    if op == "=":
        return lambda v, env: v == c if type(v) is kind else compare_op(op, v, c)
    return lambda v, env: v != c if type(v) is kind else compare_op(op, v, c)


def _range_test(rng: Range) -> Test:
    low, high = rng.start, rng.end
    kind = type(low) if low is not None else type(high)
    if kind not in (Decimal, str) or (
        low is not None and high is not None and type(high) is not kind
    ):
        return lambda v, env: range_contains(rng, v)
    if low is None or high is None:  # a null endpoint: the general rules decide
        return lambda v, env: range_contains(rng, v)
    if rng.start_included and rng.end_included:
        return lambda v, env: low <= v <= high if type(v) is kind else range_contains(rng, v)
    if rng.start_included:
        return lambda v, env: low <= v < high if type(v) is kind else range_contains(rng, v)
    if rng.end_included:
        return lambda v, env: low < v <= high if type(v) is kind else range_contains(rng, v)
    return lambda v, env: low < v < high if type(v) is kind else range_contains(rng, v)


def _any_test(tests: list[Test], value: Any, env: Env) -> bool | None:
    result: bool | None = False
    for test in tests:
        outcome = test(value, env)
        if outcome is True:
            return True
        if outcome is None:
            result = None
    return result


def _step(start: Any, end: Any) -> Any:
    if isinstance(start, dt.date):
        return DayTimeDuration(86_400_000_000)
    order = feel_compare(start, end)
    return Decimal(1) if order is None or order <= 0 else Decimal(-1)


def _count(state: State, first: Any, last: Any) -> Iterator[Any] | None:
    """Integers (or dates, day by day) from first to last inclusive, up or down, lazily."""
    if type(first) is Decimal and type(last) is Decimal:
        if first != first.to_integral_value() or last != last.to_integral_value():
            state.warn("a for range needs whole numbers")
            return None
        return _count_numbers(int(first), int(last))
    if type(first) is dt.date and type(last) is dt.date:
        return _count_dates(first, last)
    state.warn(f"cannot iterate from {type_name(first)} to {type_name(last)}")
    return None


def _count_numbers(first: int, last: int) -> Iterator[Decimal]:
    step = 1 if last >= first else -1
    for value in range(first, last + step, step):
        yield Decimal(value)


def _count_dates(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    step = dt.timedelta(days=1 if last >= first else -1)
    current = first
    while True:
        yield current
        if current == last:
            return
        current += step


def _index(items: list[Any], index: Decimal) -> Any:
    if index != index.to_integral_value():
        return None
    i = int(index)
    if 1 <= i <= len(items):
        return items[i - 1]
    if -len(items) <= i <= -1:
        return items[i]
    return None


_RANGE_PROPERTIES = ("start", "end", "start included", "end included")


def _get_path(state: State, value: Any, name: str) -> Any:
    if isinstance(value, dict):
        if name in value:
            result = value[name]
            if isinstance(result, _PLAIN_TYPES) and not isinstance(result, bool):
                result = to_feel(result)
            return result
        state.warn(f"the context has no entry {name!r}")
        return None
    if isinstance(value, list):
        state.tick(len(value))
        return [_get_path(state, item, name) for item in value]
    if value is None:
        return None
    if isinstance(value, Range):
        if name == "start":
            return None if value.start is UNBOUNDED else value.start
        if name == "end":
            return None if value.end is UNBOUNDED else value.end
        if name == "start included":
            return value.start_included
        if name == "end included":
            return value.end_included
    found, result = property_of(value, name)
    if found:
        return result
    state.warn(f"a {type_name(value)} has no property {name!r}")
    return None


_DISPATCH: dict[type, Callable[..., Any]] = {
    n.Literal: Compiler.literal,
    n.Name: Compiler.name,
    n.InvalidLiteral: Compiler.invalid_literal,
    n.Negate: Compiler.negate,
    n.Arithmetic: Compiler.arithmetic,
    n.Comparison: Compiler.comparison,
    n.Logical: Compiler.logical,
    n.Between: Compiler.between,
    n.UnaryCompare: Compiler.unary_compare,
    n.In: Compiler.in_,
    n.InstanceOf: Compiler.instance_of,
    n.If: Compiler.if_,
    n.For: Compiler.for_,
    n.Quantified: Compiler.quantified,
    n.ListNode: Compiler.list_,
    n.ContextNode: Compiler.context,
    n.RangeNode: Compiler.range,
    n.Path: Compiler.path,
    n.Filter: Compiler.filter,
    n.Call: Compiler.call,
    n.FunctionDef: Compiler.function_def,
}
