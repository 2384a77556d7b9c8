"""Decision-table input entries: unary tests against an input value."""

import datetime as dt
from decimal import Decimal

import pytest

from decisions.feel import parse_unary_tests

D = Decimal


@pytest.mark.parametrize(
    ("entry", "value", "expected"),
    [
        ("-", D(5), True),
        ("-", None, True),
        ("< 18", D(17), True),
        ("< 18", D(18), False),
        ("<= 18", D(18), True),
        (">= 65", D(70), True),
        ("> 65", D(65), False),
        ("< 18", "seventeen", None),
        ("< 18", None, None),
        ("[18..65]", D(18), True),
        ("[18..65)", D(65), False),
        ("]18..65]", D(18), False),
        ('"A","B"', "B", True),
        ('"A","B"', "C", False),
        ('not("X")', "Y", True),
        ('not("X")', "X", False),
        ('not("X", "Y")', "Y", False),
        ("5", D(5), True),
        ("5", D(6), False),
        ("null", None, True),
        ("true", True, True),
        ("false", True, False),
        ("? > 10", D(11), True),
        ("? > 10 and ? < 20", D(25), False),
        ('starts with(?, "ab")', "abc", True),
        ("[1, 2, 3]", D(2), True),
        ("< 10, > 20", D(25), True),
        ("< 10, > 20", D(15), False),
        ('< date("2020-01-01")', dt.date(2019, 5, 1), True),
        ('[date("2020-01-01")..date("2020-12-31")]', dt.date(2020, 6, 1), True),
        ("= 5", D(5), True),
        ("!= 5", D(5), False),
        ("", D(5), True),
    ],
)
def test_unary_tests(entry, value, expected):
    # given a decision-table input entry, when tested against the input, then it matches per spec
    assert parse_unary_tests(entry).test(value, {}) is expected


def test_unary_tests_can_use_variables_in_scope():
    # given an entry that refers to another input by a name with spaces
    tests = parse_unary_tests("< Maximum Age", names=["Maximum Age"])
    # then the name resolves in the evaluation context
    assert tests.test(D(30), {"Maximum Age": D(40)}) is True
    assert tests.test(D(50), {"Maximum Age": D(40)}) is False


def test_any_entry_is_flagged():
    assert parse_unary_tests("-").is_any is True
    assert parse_unary_tests("< 3").is_any is False


def test_plain_python_input_values_are_converted():
    # given an int input (not a Decimal), then numeric tests still match
    assert parse_unary_tests("[18..65]").test(30, {}) is True
