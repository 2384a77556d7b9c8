"""Syntax errors with positions, and the sandbox: no Python reach, bounded evaluation."""

import time
from decimal import Decimal

import pytest

from decisions.feel import (
    FeelLimitExceeded,
    FeelSyntaxError,
    Limits,
    evaluate,
    parse_expression,
    parse_unary_tests,
)


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("1 +", 1, 4),
        ("(1 + 2", 1, 7),
        ("a +\n  * 2", 2, 3),
        ('"unterminated', 1, 1),
        ("if x then 1", 1, 12),
        ("1 $ 2", 1, 3),
        ("{a 1}", 1, 6),
        ("[1..2", 1, 6),
    ],
)
def test_syntax_errors_report_the_position(text, line, column):
    # given malformed FEEL, when parsed, then the error names the line and column
    with pytest.raises(FeelSyntaxError) as caught:
        parse_expression(text)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert f"at {line}:{column}" in str(caught.value)


def test_unary_tests_syntax_error():
    with pytest.raises(FeelSyntaxError):
        parse_unary_tests("< 18,")


@pytest.mark.parametrize(
    "text",
    [
        "__import__",
        '__import__("os").system("true")',
        "x.__class__",
        "x.__class__.__mro__",
        "eval",
        "open",
        "{}.keys",
        "string.__doc__",
    ],
)
def test_python_names_and_attributes_are_unreachable(text):
    # given an expression that tries to reach Python objects
    warnings: list[str] = []
    result = parse_expression(text).evaluate({"x": Decimal(1)}, warnings=warnings)
    # then it is only FEEL: undefined names and missing properties are null
    assert result is None
    assert warnings


def test_context_values_that_are_not_feel_are_inert():
    # given a Python object smuggled into the context
    class Secret:
        password = "hunter2"

    # when an expression asks for its attributes, then it gets null
    assert evaluate("s.password", {"s": Secret()}) is None


def test_deeply_nested_parentheses_are_refused():
    with pytest.raises(FeelLimitExceeded):
        parse_expression("(" * 5000 + "1" + ")" * 5000)


def test_deeply_nested_negations_are_refused():
    with pytest.raises(FeelLimitExceeded):
        parse_expression("-" * 5000 + "1")


def test_huge_for_loop_stops_at_the_step_limit():
    # given a loop of a hundred million iterations, then it stops quickly at the step limit
    started = time.monotonic()
    with pytest.raises(FeelLimitExceeded):
        evaluate("for i in 1..100000000 return i", {}, limits=Limits(max_steps=10_000))
    assert time.monotonic() - started < 1


def test_slow_evaluation_stops_at_the_deadline():
    started = time.monotonic()
    with pytest.raises(FeelLimitExceeded, match="seconds"):
        evaluate(
            "count(for a in 1..1000, b in 1..1000 return a)",
            {},
            limits=Limits(max_steps=10**9, max_seconds=0.2),
        )
    assert time.monotonic() - started < 1


def test_unbounded_recursion_stops_at_the_depth_limit():
    with pytest.raises(FeelLimitExceeded):
        evaluate("{f: function(n) f(n + 1), r: f(1)}.r", {})


def test_string_doubling_stops_at_the_size_limit():
    with pytest.raises(FeelLimitExceeded, match="string"):
        evaluate(
            '{f: function(s) f(s + s), r: f("ab")}.r', {}, limits=Limits(max_string_length=10_000)
        )


def test_string_join_of_a_huge_list_stops_at_the_size_limit():
    with pytest.raises(FeelLimitExceeded):
        evaluate(
            'string join(for i in 1..2000 return "xxxxxxxxxx")',
            {},
            limits=Limits(max_string_length=1_000),
        )


def test_huge_lists_stop_at_the_collection_limit():
    with pytest.raises(FeelLimitExceeded, match="items"):
        evaluate("for i in 1..5000 return i", {}, limits=Limits(max_collection_size=1_000))


@pytest.mark.parametrize("pattern", ["(a+)+$", "(a*)*b", "(a|aa)+(b+)+", "((ab)*)+", "(x+x+)+y"])
def test_catastrophic_regular_expressions_are_refused(pattern):
    # given a pattern known to backtrack exponentially
    warnings: list[str] = []
    started = time.monotonic()
    text = f'matches("{"a" * 40}!", "{pattern}")'
    # then it is refused (null, with a warning) instead of hanging the worker
    assert parse_expression(text).evaluate({}, warnings=warnings) is None
    assert "refused" in warnings[0]
    assert time.monotonic() - started < 1


def test_huge_exponents_are_null_not_a_hang():
    assert evaluate("10 ** 999999999", {}) is None
    assert evaluate("10 ** 1000000", {}) is None


def test_hostile_input_never_raises_a_python_error():
    # given a range of type-confused expressions, then each is a value or null, never a crash
    for text in [
        '"a" - 1',
        "[1] * 2",
        "{a: 1} + 1",
        "date(1, 2)",
        'substring(1, "a")',
        'sort([1, "a"])',
        "sublist([1], 5, 5)",
        'replace("a", "(", "b")',
        'matches("a", "a", "z")',
        "decimal(1, 99999)",
        'number("1", ",", ",")',
        "time(25, 0, 0)",
        "flatten(null)",
    ]:
        assert evaluate(text, {}) is None, text


def test_simple_unary_tests_are_fast():
    # given the shape of a decision-table input entry, then evaluation takes microseconds
    tests = [parse_unary_tests(t) for t in ("< 18", "[18..65]", '"A","B"', "-")]
    started = time.perf_counter()
    for _ in range(10_000):
        for test in tests:
            test.test(Decimal(30), {})
    assert time.perf_counter() - started < 2
