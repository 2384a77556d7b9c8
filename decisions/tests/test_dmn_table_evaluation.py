"""How a decision table is evaluated: shared test outcomes, entries that read names, budgets."""

import time
from decimal import Decimal

import pytest

from decisions import feel
from decisions.dmn import DmnEvaluationError, DmnModel
from decisions.dmn.testing import decision, definitions, input_data, literal, model, table

D = Decimal

RULES = [
    (["&lt; 18", "-", '"A","B"'], ['"minor"', "0"]),
    (["[18..65)", "&lt; 1000", '"A","B"'], ['"low"', "300"]),
    (["[18..65)", "&lt; 1000", 'not("A","B")'], ['"low other"', "250"]),
    (["[18..65)", "[1000..3000]", "-"], ['"middle"', "100"]),
    ([">= 65", "-", "-"], ['"pension"', "450"]),
    (["-", "-", "-"], ['"none"', "0"]),
]


def three_input_model(rules=RULES, hit_policy="FIRST", limits=None):
    dt = table(
        inputs=["Age", "Income", "Group"],
        outputs=["Status", "Amount"],
        rules=rules,
        hit_policy=hit_policy,
    )
    body = "\n".join(
        [
            input_data("Age"),
            input_data("Income"),
            input_data("Group", "string"),
            decision("Result", dt, inputs=("Age", "Income", "Group")),
        ]
    )
    return DmnModel.from_xml(definitions(body), source="test.dmn", limits=limits)


def test_a_table_of_constant_entries_gives_the_first_match_and_traces_every_rule():
    # given an applicant of 30 with income 500 in group "C"
    result = three_input_model().evaluate("Result", {"Age": 30, "Income": 500, "Group": "C"})
    # then rule 3 decides, rule 6 also matched, and each rule's failing entry is recorded
    assert result.result == {"Status": "low other", "Amount": D(250)}
    table_trace = result.trace.decision("Result").tables[0]
    assert table_trace.matched == [3, 6]
    assert table_trace.selected == [3]
    outcomes = [[e.outcome for e in rule.entries] for rule in table_trace.rules]
    assert outcomes == [
        [False, None, None],
        [True, True, False],
        [True, True, True],
        [True, False, None],
        [False, None, None],
        [True, True, True],
    ]
    assert table_trace.rules[5].output == {"Status": "none", "Amount": D(0)}


def test_unique_reports_every_matching_rule():
    # given a UNIQUE table where two rules match
    result = three_input_model(hit_policy="UNIQUE").evaluate(
        "Result", {"Age": 70, "Income": 500, "Group": "A"}
    )
    # then the result is null and the error names both rules
    assert result.result is None
    assert "rules 5, 6" in (result.trace.decision("Result").tables[0].error or "")


def test_results_are_fresh_values_for_every_evaluation():
    # given a result the caller changes
    m = three_input_model()
    first = m.evaluate("Result", {"Age": 70, "Income": 0, "Group": "A"}).result
    first["Status"] = "changed"
    # then the next evaluation is not affected
    assert m.evaluate("Result", {"Age": 70, "Income": 0, "Group": "A"}).result["Status"] == (
        "pension"
    )


def test_entries_that_read_other_inputs_are_tested_in_rule_order():
    # given entries that compare with another input, and one using `?`
    rules = [
        (["&lt; Limit", "-"], ['"below"']),
        (["? &gt; Limit * 2", "-"], ['"far above"']),
        (["&gt;= Limit", '"A"'], ['"above A"']),
    ]
    dt = table(inputs=["Age", "Risk"], rules=rules, hit_policy="FIRST")
    m = model(
        input_data("Age"),
        input_data("Limit"),
        input_data("Risk", "string"),
        decision("Result", dt, inputs=("Age", "Limit", "Risk")),
    )
    # when evaluated for several ages
    results = [
        m.evaluate("Result", {"Age": age, "Limit": 40, "Risk": "A"}).result for age in (30, 90, 50)
    ]
    # then each rule tests its entries against the current inputs
    assert results == ["below", "far above", "above A"]
    rules_trace = (
        m.evaluate("Result", {"Age": 50, "Limit": 40, "Risk": "B"})
        .trace.decision("Result")
        .tables[0]
        .rules
    )
    assert [[e.outcome for e in r.entries] for r in rules_trace] == [
        [False, None],
        [False, None],
        [True, False],
    ]


def test_a_warning_of_an_entry_is_in_the_trace():
    # given an entry that compares a number with a string input
    rules = [(["&lt; Label", "-"], ['"x"']), (["-", "-"], ['"y"'])]
    dt = table(inputs=["Age", "Risk"], rules=rules, hit_policy="FIRST")
    m = model(
        input_data("Age"),
        input_data("Risk", "string"),
        decision("Result", dt, inputs=("Age", "Risk")),
    )
    # when the name it uses is not in scope
    result = m.evaluate("Result", {"Age": 3, "Risk": "A"})
    # then the entry is null (not satisfied) and the trace says why
    assert result.result == "y"
    assert any("Label" in message for message in result.messages)


def test_one_budget_covers_every_expression_of_an_evaluation():
    # given two decisions that each need about 60 FEEL steps and a budget of 100 steps
    loop = literal("count(for i in 1..50 return i)")
    body = "\n".join(
        [
            decision("A", loop),
            decision("B", loop),
            decision("Both", literal("A + B"), decisions=("A", "B")),
        ]
    )
    m = DmnModel.from_xml(definitions(body), source="test.dmn", limits=feel.Limits(max_steps=100))
    # then each decision alone fits, but both in one evaluation exceed the budget
    assert m.evaluate("A", {}).result == D(50)
    with pytest.raises(DmnEvaluationError, match="steps"):
        m.evaluate("Both", {})


def test_a_twenty_rule_table_evaluates_in_well_under_a_millisecond():
    # given a realistic table (20 rules, constant entries), parsed once
    rules = RULES[:-1] * 4 + [(["-", "-", "-"], ['"none"', "0"])]
    m = three_input_model(rules=rules)
    inputs = [
        {"Age": 15 + i % 60, "Income": 300 * (i % 12), "Group": "ABC"[i % 3]} for i in range(500)
    ]
    started = time.perf_counter()
    for case in inputs:
        m.evaluate("Result", case)
    # then 500 evaluations take far less than a second (generous for slow machines)
    assert time.perf_counter() - started < 1.0


def test_an_input_expression_with_an_undefined_name_is_null_with_a_warning():
    # given a table whose input expression names something the decision does not require
    dt = table(inputs=["Salary"], rules=[(["-"], ['"any"'])], hit_policy="FIRST")
    m = model(input_data("Age"), decision("Result", dt, inputs=("Age",)))
    # when evaluated
    result = m.evaluate("Result", {"Age": 30})
    # then the input is null, the rules still run, and the trace names the missing name
    table_trace = result.trace.decision("Result").tables[0]
    assert table_trace.inputs == [("Salary", None)]
    assert result.result == "any"
    assert any("Salary" in message for message in result.messages)
