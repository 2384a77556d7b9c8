"""Decision-table input entries: unary tests against an input value."""

import datetime as dt
from decimal import Decimal

import pytest

from decisions.feel import FeelLimitExceeded, Limits, Session, parse_unary_tests

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
        # constant tests (compiled to direct comparisons) keep FEEL semantics at the edges
        ("< -5", D(-6), True),
        ("-5", D(-5), True),
        ("[-1..1]", D("-1.0"), True),
        ("[18..67)", D("66.99"), True),
        ("[18..67)", D(67), False),
        ("(18..67]", D(18), False),
        ('["a".."c"]', "b", True),
        ("[18..67)", "30", None),
        ("[18..67)", None, None),
        ('"A","B"', None, False),
        ('"A","B"', D(1), None),
        ('not("A","B")', None, True),
        ('not("A","B")', D(1), None),
        ("1, 2, 3", D("2.0"), True),
        ("1, 2, 3", D(4), False),
        ("1, 2, 3", "2", None),
        ("true", None, False),
        ("true", D(1), True),  # a boolean expression is the outcome itself
        ("> 10, = 5", D(5), True),
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


def test_constant_tests_are_flagged_simple_and_others_not():
    # given entries against constants only, then they may be run eagerly (no scope, no warning)
    for text in ("< 18", "[18..65)", '"A","B"', 'not("X")', "-", "true", "1, 2", "< -5"):
        assert parse_unary_tests(text).simple is True, text
    # and entries that read names or `?` are not
    for text in ("< Limit", "? > 3", 'starts with(?, "a")', "[1..Limit]"):
        assert parse_unary_tests(text, names=["Limit"]).simple is False, text


def test_tests_in_a_session_share_one_budget():
    # given a session with a small step budget and an entry that loops
    session = Session(Limits(max_steps=50))
    tests = parse_unary_tests("some x in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] satisfies x = ?")
    scope = session.scope({})
    # when it is run several times in the same session
    # then the budget is spent across the runs, and the limit stops the evaluation
    with pytest.raises(FeelLimitExceeded):
        for _ in range(20):
            tests.match(D(10), scope)


def test_warnings_of_a_session_collect_in_its_list():
    # given an entry that compares with an undefined name, run in a session
    session = Session()
    outcome = parse_unary_tests("< Limit", names=["Limit"]).match(D(1), session.scope({}))
    # then it is null and the session holds the warning
    assert outcome is None
    assert any("Limit" in w for w in session.messages)
