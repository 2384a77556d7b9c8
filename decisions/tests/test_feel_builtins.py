"""The FEEL built-in function library."""

import datetime as dt
from decimal import Decimal

import pytest

from decisions.feel import DayTimeDuration, FeelTime, Range, YearMonthDuration, evaluate

D = Decimal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # conversion
        ('date("2020-02-29")', dt.date(2020, 2, 29)),
        ('date("2020-02-30")', None),
        ("date(2020, 2, 29)", dt.date(2020, 2, 29)),
        ('date(date and time("2020-01-02T10:00:00"))', dt.date(2020, 1, 2)),
        ('date and time("2020-01-02T10:00:00")', dt.datetime(2020, 1, 2, 10)),
        ('date and time(date("2020-01-02"), time("10:00:00"))', dt.datetime(2020, 1, 2, 10)),
        ('time("10:20:30.5")', FeelTime(10, 20, 30, 500_000)),
        ("time(10, 20, 30)", FeelTime(10, 20, 30)),
        ('number("1 000,5", " ", ",")', D("1000.5")),
        ('number("12a")', None),
        ('duration("P2DT3H")', DayTimeDuration((2 * 24 + 3) * 3_600_000_000)),
        ('duration("P1Y6M")', YearMonthDuration(18)),
        ('duration("x")', None),
        (
            'years and months duration(date("2011-12-22"), date("2013-08-24"))',
            YearMonthDuration(20),
        ),
        ("string(1.1)", "1.1"),
        # string
        ('substring("foobar", 3)', "obar"),
        ('substring("foobar", 3, 3)', "oba"),
        ('substring("foobar", -2, 1)', "a"),
        ('substring("\U0001f600ab", 2)', "ab"),
        ('string length("\U0001f600")', D(1)),
        ('upper case("aBc")', "ABC"),
        ('lower case("aBc")', "abc"),
        ('substring before("foobar", "bar")', "foo"),
        ('substring after("foobar", "ob")', "ar"),
        ('contains("foobar", "ob")', True),
        ('starts with("foobar", "fo")', True),
        ('ends with("foobar", "r")', True),
        ('matches("foobar", "^fo*b")', True),
        ('matches("FOO", "foo", "i")', True),
        ('replace("abcd", "(ab)|(a)", "[1=$1][2=$2]")', "[1=ab][2=]cd"),
        ('replace("a.b", ".", "-", "q")', "a-b"),
        ('split("a1b22c", "[0-9]+")', ["a", "b", "c"]),
        ('string join(["a", null, "c"], ", ")', "a, c"),
        ('string join(["a", "b"])', "ab"),
        ("upper case(5)", None),
        # lists
        ("list contains([1, 2], 2)", True),
        ("count([1, 2, 3])", D(3)),
        ("min([3, 1, 2])", D(1)),
        ("max(3, 1, 2)", D(3)),
        ('min([1, "a"])', None),
        ("sum([1, 2, 3])", D(6)),
        ("sum([])", None),
        ("mean(1, 2, 3, 4)", D("2.5")),
        ("all([true, true])", True),
        ("all([true, null])", None),
        ("all([])", True),
        ("any([false, true])", True),
        ("any([])", False),
        ("sublist([1, 2, 3, 4], 2, 2)", [D(2), D(3)]),
        ("sublist([1, 2, 3], -1)", [D(3)]),
        ("append([1], 2, 3)", [D(1), D(2), D(3)]),
        ("concatenate([1], [2, 3])", [D(1), D(2), D(3)]),
        ("insert before([1, 3], 2, 2)", [D(1), D(2), D(3)]),
        ("remove([1, 2, 3], 2)", [D(1), D(3)]),
        ("reverse([1, 2, 3])", [D(3), D(2), D(1)]),
        ("index of([1, 2, 1], 1)", [D(1), D(3)]),
        ("union([1, 2], [2, 3])", [D(1), D(2), D(3)]),
        ("distinct values([1, 2, 1])", [D(1), D(2)]),
        ("flatten([1, [2, [3]]])", [D(1), D(2), D(3)]),
        ("product(2, 3, 4)", D(24)),
        ("median([3, 1, 2, 4])", D("2.5")),
        ("stddev(2, 4, 7, 5)", D("2.081665999466132735282297706979931")),
        ("mode([1, 2, 2, 3, 3])", [D(2), D(3)]),
        ("list replace([1, 2, 3], 2, 9)", [D(1), D(9), D(3)]),
        ("list replace([1, 2, 3], function(item, newItem) item > 1, 0)", [D(1), D(0), D(0)]),
        ("sort([3, 1, 2])", [D(1), D(2), D(3)]),
        ("sort([3, 1, 2], function(x, y) x > y)", [D(3), D(2), D(1)]),
        ("sort(list: [1, 3], precedes: function(a, b) a > b)", [D(3), D(1)]),
        # numbers
        ("decimal(1.125, 2)", D("1.12")),
        ("decimal(1.135, 2)", D("1.14")),
        ("floor(-1.5)", D(-2)),
        ("floor(1.56, 1)", D("1.5")),
        ("floor(1.56, null)", None),
        ("ceiling(1.2)", D(2)),
        ("round up(-5.1)", D(-6)),
        ("round down(5.9)", D(5)),
        ("round half up(2.5)", D(3)),
        ("round half down(2.5)", D(2)),
        ("round half up(-2.55, 1)", D("-2.6")),
        ("abs(-3)", D(3)),
        ('abs(duration("-P1D"))', DayTimeDuration(86_400_000_000)),
        ("modulo(-12, 5)", D(3)),
        ("modulo(12, -5)", D(-3)),
        ("modulo(1, 0)", None),
        ("sqrt(16)", D(4)),
        ("sqrt(-1)", None),
        ("odd(5)", True),
        ("even(5)", False),
        ("log(0)", None),
        # dates
        ('day of year(date("2020-12-31"))', D(366)),
        ('day of week(date("2020-01-01"))', "Wednesday"),
        ('month of year(date("2020-01-01"))', "January"),
        ('week of year(date("2021-01-03"))', D(53)),
        ("is(1, 1)", True),
        ('is(@"10:00:00Z", @"11:00:00+01:00")', False),
        ("today() instance of date", True),
        ("now() instance of date and time", True),
        # ranges
        ("before(1, 10)", True),
        ("before([1..5], 5)", False),
        ("before([1..5), 5)", True),
        ("after([5..10], 4)", True),
        ("meets([1..5], [5..10])", True),
        ("met by([5..10], [1..5])", True),
        ("overlaps([1..5], [3..8])", True),
        ("overlaps([1..5), [5..8])", False),
        ("overlaps before([1..5], [3..8])", True),
        ("overlaps after([3..8], [1..5])", True),
        # equal ends: overlaps when the first end is excluded or the second included (DMN 1.5)
        ("overlaps before([1..5], (1..5])", True),
        ("overlaps before([1..5), (1..5])", True),
        ("overlaps before([1..5], (1..5))", False),
        ("overlaps before([1..5], [1..5])", False),
        ("overlaps after((1..5], [1..5])", True),
        ("overlaps after((1..5], [1..5))", True),
        ("overlaps after((1..5), [1..5])", False),
        ("finishes(5, [1..5])", True),
        ("finished by([1..5], [3..5])", True),
        ("includes([1..10], 5)", True),
        ("includes([1..10], [3..5])", True),
        ("during(5, [1..10])", True),
        ("starts(1, [1..5])", True),
        ("started by([1..10], [1..5])", True),
        ("coincides([1..5], [1..5])", True),
        ("before(1, null)", None),
        ('range("[1..10)")', Range(D(1), D(10), True, False)),
        ('range("[3..1]")', None),
        ('range("[f(1)..2]")', None),
        # contexts
        ('get value({a: 1}, "a")', D(1)),
        ('get value({a: 1}, "b")', None),
        ("get entries({a: 1})", [{"key": "a", "value": D(1)}]),
        ('context([{key: "a", value: 1}])', {"a": D(1)}),
        ('context put({a: 1}, "b", 2)', {"a": D(1), "b": D(2)}),
        ('context put({a: {b: 1}}, ["a", "b"], 2)', {"a": {"b": D(2)}}),
        ('context put(context: {a: {b: 1}}, keys: ["a", "b"], value: 2)', {"a": {"b": D(2)}}),
        ('context put(context: {a: 1}, key: "b", value: 2)', {"a": D(1), "b": D(2)}),
        # `key` names the one-key form: a list there is not a key
        ('context put(context: {a: {b: 1}}, key: ["a", "b"], value: 2)', None),
        ("context merge([{a: 1}, {a: 2, b: 3}])", {"a": D(2), "b": D(3)}),
        # wrong arity or names: null, not an exception
        ("abs(1, 2)", None),
        ("abs(x: 1)", None),
        ("sum()", None),
    ],
)
def test_builtin_functions(text, expected):
    # given a built-in function call, when evaluated, then it returns the specified value
    assert evaluate(text, {}) == expected


def test_builtins_are_found_after_variables():
    # given a variable that shadows a built-in name, then the variable wins
    assert evaluate("count", {"count": 3}) == D(3)


def test_function_values_can_be_passed_and_called_from_python():
    # given a FEEL function value, when called from Python by parameter name
    function = evaluate("function(a, b) a * b", {})
    # then it evaluates its body
    assert function.call({"a": D(6), "b": D(7)}) == D(42)
