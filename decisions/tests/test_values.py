"""Tagged JSON for FEEL values: a recorded input replays as exactly the same value."""

import json
from decimal import Decimal

import pytest

from decisions import feel, values


def _feel(text):
    return feel.evaluate(text)


ROUND_TRIPS = [
    pytest.param(None, id="null"),
    pytest.param(True, id="boolean"),
    pytest.param('naïve "quoted" text', id="string"),
    pytest.param(Decimal(18), id="integer"),
    pytest.param(Decimal("1.50"), id="decimal-trailing-zero"),
    pytest.param(Decimal("-0.000001"), id="small-negative"),
    pytest.param(Decimal("1E+3"), id="exponent"),
    pytest.param(Decimal("12345678901234567890123456789012.34"), id="34-digits"),
    pytest.param(Decimal(2**60), id="beyond-json-safe-integer"),
    pytest.param(_feel('date("2024-02-29")'), id="date"),
    pytest.param(_feel('time("10:15:30.25+01:00")'), id="time-offset"),
    pytest.param(_feel('time("10:15:00@Europe/Paris")'), id="time-zone"),
    pytest.param(_feel('date and time("2024-03-01T10:00:00")'), id="local-date-time"),
    pytest.param(_feel('date and time("2024-03-01T10:00:00.5@Europe/Paris")'), id="zoned"),
    pytest.param(_feel('date and time("2024-03-01T10:00:00-05:00")'), id="offset"),
    pytest.param(_feel('duration("P1DT2H3.5S")'), id="days-and-time"),
    pytest.param(_feel('duration("-P1Y2M")'), id="years-and-months"),
    pytest.param(_feel("[1..10)"), id="range"),
    pytest.param(_feel("< 10"), id="open-range"),
    pytest.param([Decimal("1.0"), "a", None, [True]], id="list"),
    pytest.param(
        {"Applicant": {"age": Decimal(30), "since": _feel('date("2020-01-01")')}}, id="ctx"
    ),
    pytest.param({"@type": "decimal", "value": "not a tag"}, id="context-with-type-key"),
]


@pytest.mark.parametrize("value", ROUND_TRIPS)
def test_every_feel_value_round_trips_through_json_text(value):
    # given a FEEL value encoded and written as JSON text, as the database stores it
    text = json.dumps(values.encode(value))
    # when it is read back and decoded
    decoded = values.decode(json.loads(text))
    # then it is the same value, down to its representation (1.50 stays 1.50, zones stay)
    assert decoded == value
    assert values.encode(decoded) == json.loads(text)
    assert repr(decoded) == repr(value)


def test_plain_numbers_stay_plain_and_others_are_tagged():
    encoded = values.encode({"age": Decimal(18), "rate": Decimal("0.5")})
    assert encoded == {"age": 18, "rate": {"@type": "decimal", "value": "0.5"}}


def test_json_floats_are_read_through_their_shortest_decimal_form():
    assert values.decode(0.1) == Decimal("0.1")


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"dob": {"@type": "date", "value": "2024-13-01"}}, "dob"),
        ({"x": {"@type": "decimal", "value": "NaN"}}, "x"),
        ({"x": {"@type": "decimal", "value": "twelve"}}, "x"),
        ({"x": [1, {"@type": "colour", "value": "red"}]}, "x[1]"),
        ({"x": {"@type": "function", "name": "f"}}, "x"),
        ({"x": {"@type": "date"}}, "x"),
    ],
)
def test_invalid_tagged_inputs_name_the_input(data, path):
    with pytest.raises(values.ValueEncodingError) as info:
        values.decode_inputs(data)
    assert info.value.path == path


def test_deeply_nested_input_is_refused_not_crashed():
    data: list = []
    for _ in range(values.MAX_DEPTH + 5):
        data = [data]
    with pytest.raises(values.ValueEncodingError, match="nested too deeply"):
        values.decode(data)


def test_the_range_written_equals_ten_survives_a_round_trip():
    written = feel.evaluate("(= 10)", {})
    back = values.decode(json.loads(json.dumps(values.encode(written))))
    assert feel.evaluate("a = b", {"a": back, "b": written}) is True
    assert feel.evaluate("a = [10..10]", {"a": back}) is False
