from decimal import Decimal

import pytest

from decisions.dmn.testing import table, table_model

RULES = [
    (["&lt; 18", "-"], ['"minor"']),
    (["[18..65]", '"Low"'], ['"standard"']),
    (["[18..65]", "-"], ['"review"']),
    ([">= 65", "-"], ['"senior"']),
]


def evaluate(hit_policy: str, age: int, risk: str = "Low", **kwargs):
    dt = table(
        inputs=["Age", "Risk"], rules=kwargs.pop("rules", RULES), hit_policy=hit_policy, **kwargs
    )
    return table_model(dt).evaluate("Result", {"Age": age, "Risk": risk})


def test_unique_returns_the_single_matching_rule():
    # given a UNIQUE table where exactly one rule matches a 10-year-old
    # when it is evaluated
    result = evaluate("UNIQUE", 10)
    # then that rule's output is the result, and the trace names rule 1
    assert result.result == "minor"
    assert result.trace.decision("Result").tables[0].selected == [1]


def test_unique_with_two_matching_rules_is_an_error_giving_null():
    # given an input that satisfies rules 2 and 3 of a UNIQUE table
    result = evaluate("UNIQUE", 30)
    # then the result is null and the trace says which rules overlapped
    assert result.result is None
    table_trace = result.trace.decision("Result").tables[0]
    assert table_trace.matched == [2, 3]
    assert "rules 2, 3" in (table_trace.error or "")


def test_no_matching_rule_gives_null_without_a_default():
    rules = [([">= 100", "-"], ['"old"'])]
    assert evaluate("UNIQUE", 30, rules=rules).result is None


def test_no_matching_rule_gives_the_default_output_entry():
    rules = [([">= 100", "-"], ['"old"'])]
    result = evaluate("UNIQUE", 30, rules=rules, defaults=['"none"'])
    assert result.result == "none"
    assert result.trace.decision("Result").tables[0].used_default


def test_first_takes_the_first_match_in_rule_order():
    assert evaluate("FIRST", 30).result == "standard"


def test_any_accepts_overlaps_with_equal_outputs_and_rejects_different_ones():
    same = [(["&gt; 10", "-"], ['"x"']), (["&gt; 20", "-"], ['"x"'])]
    different = [(["&gt; 10", "-"], ['"x"']), (["&gt; 20", "-"], ['"y"'])]
    assert evaluate("ANY", 30, rules=same).result == "x"
    assert evaluate("ANY", 30, rules=different).result is None


def test_priority_chooses_by_the_order_of_output_values():
    # given output values listing "review" before "standard"
    result = evaluate("PRIORITY", 30, output_values=['"review","standard","minor","senior"'])
    # then the higher-priority output wins even though its rule comes later
    assert result.result == "review"
    assert result.trace.decision("Result").tables[0].selected == [3]


def test_output_order_sorts_all_matches_by_priority():
    result = evaluate("OUTPUT ORDER", 30, output_values=['"review","standard"'])
    assert result.result == ["review", "standard"]


def test_rule_order_lists_matches_in_rule_order():
    assert evaluate("RULE ORDER", 30).result == ["standard", "review"]


def test_collect_without_aggregation_lists_matches():
    assert evaluate("COLLECT", 30).result == ["standard", "review"]
    rules = [([">= 100", "-"], ['"old"'])]
    assert evaluate("COLLECT", 30, rules=rules).result == []


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [("SUM", Decimal(13)), ("MIN", Decimal(3)), ("MAX", Decimal(10)), ("COUNT", Decimal(2))],
)
def test_collect_aggregations(aggregation, expected):
    rules = [(["&gt; 10", "-"], ["10"]), (["&gt; 20", "-"], ["3"]), (["&gt; 90", "-"], ["1"])]
    assert evaluate("COLLECT", 30, rules=rules, aggregation=aggregation).result == expected


def test_count_of_no_matches_is_zero_and_sum_is_null():
    rules = [(["&gt; 90", "-"], ["1"])]
    assert evaluate("COLLECT", 30, rules=rules, aggregation="COUNT").result == 0
    assert evaluate("COLLECT", 30, rules=rules, aggregation="SUM").result is None


def test_multiple_outputs_give_a_context():
    dt = table(
        inputs=["Age"],
        outputs=["Status", "Rate"],
        rules=[(["&lt; 18"], ['"Declined"', '"None"']), (["&gt;= 18"], ['"Approved"', "0.5"])],
    )
    from decisions.dmn.testing import decision, input_data, model

    result = model(input_data("Age"), decision("Result", dt, inputs=("Age",))).evaluate(
        "Result", {"Age": 40}
    )
    assert result.result == {"Status": "Approved", "Rate": Decimal("0.5")}


def test_an_input_outside_its_input_values_is_an_error():
    result = evaluate("FIRST", 30, risk="Extreme", input_values=[None, '"Low","High"'])
    assert result.result is None
    assert "not one of its allowed values" in (result.trace.decision("Result").tables[0].error)


def test_an_output_outside_its_output_values_is_an_error():
    result = evaluate("FIRST", 10, output_values=['"standard","review"'])
    assert result.result is None
    assert "output values" in (result.trace.decision("Result").tables[0].error or "")


def test_rule_trace_records_each_entry_outcome():
    result = evaluate("FIRST", 30, risk="High")
    rules = result.trace.decision("Result").tables[0].rules
    # rule 2 fails on Risk ("Low"), after Age matched
    assert [e.outcome for e in rules[1].entries] == [True, False]
    # rule 1 fails on Age; the Risk entry is not evaluated
    assert [e.outcome for e in rules[0].entries] == [False, None]


def test_priority_falls_back_to_the_output_types_allowed_values():
    # given no output values on the column, but a type whose allowed values give the order
    from decisions.dmn.testing import decision, input_data, model

    dt = table(
        inputs=["Age"],
        rules=[(["&gt; 10"], ['"low"']), (["&gt; 20"], ['"high"'])],
        hit_policy="PRIORITY",
        output_types=["tLevel"],
    )
    levels = (
        '<itemDefinition name="tLevel"><typeRef>string</typeRef>'
        '<allowedValues><text>"high","low"</text></allowedValues></itemDefinition>'
    )
    m = model(levels, input_data("Age"), decision("Result", dt, inputs=("Age",)))
    # then the type's order decides
    assert m.evaluate("Result", {"Age": 30}).result == "high"
