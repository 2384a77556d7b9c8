import json

from decisions.dmn import explain_rows, explain_text
from decisions.dmn.testing import decision, input_data, model, table

ELIGIBILITY = table(
    inputs=["Age", "Income"],
    rules=[
        (["&lt; 18", "-"], ['"Not eligible"']),
        (["[18..65]", "&lt;= 20000"], ['"Eligible"']),
        (["-", "-"], ['"Not eligible"']),
    ],
    hit_policy="FIRST",
)


def evaluate(age, income):
    m = model(
        input_data("Age"),
        input_data("Income"),
        decision("Eligibility", ELIGIBILITY, inputs=("Age", "Income")),
    )
    return m.evaluate("Eligibility", {"Age": age, "Income": income})


def test_explain_text_gives_the_reasons_of_the_rule_that_decided():
    result = evaluate(30, 15000)
    text = explain_text(result.trace)
    assert text == (
        'Eligibility is "Eligible" because: Age is 30, which matches between 18 and 65; '
        "Income is 15000, which matches at most 20000 (rule 2)."
    )


def test_explain_rows_show_every_rule_and_the_failed_condition():
    rows = explain_rows(evaluate(30, 50000).trace)
    assert [(r["rule"], r["matched"], r["selected"]) for r in rows] == [
        (1, False, False),
        (2, False, False),
        (3, True, True),
    ]
    failed = rows[1]["conditions"]
    assert failed[1] == {"input": "Income", "value": "50000", "test": "<= 20000", "outcome": False}


def test_trace_is_json_serialisable():
    data = evaluate(30, 15000).trace.to_dict()
    text = json.dumps(data)
    assert '"matched": [2, 3]' in text
    assert data["nodes"][-1]["result"] == "Eligible"
