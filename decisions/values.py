"""FEEL values as JSON, exactly: what is recorded is what a replay evaluates again.

JSON has no decimals, dates or durations, so those travel tagged:

    {"@type": "decimal", "value": "1.50"}            number (exact, trailing zeros kept)
    {"@type": "date", "value": "2024-03-01"}
    {"@type": "time", "value": "10:15:00+01:00"}
    {"@type": "date and time", "value": "2024-03-01T10:15:00@Europe/Paris"}
    {"@type": "days and time duration", "value": "P1DT2H"}
    {"@type": "years and months duration", "value": "P1Y2M"}
    {"@type": "range", "start": ..., "end": ..., "start_included": true, "end_included": false}
    {"@type": "context", "value": {...}}             only for a context that has an "@type" key

Integral numbers with no exponent travel as plain JSON integers (`{"age": 18}`); strings,
booleans, null, lists and contexts as themselves. Decoding also accepts JSON floats (read
through their shortest decimal form, as FEEL's `to_feel` does) so clients may send `0.1`.
Functions have no JSON form: they encode as `{"@type": "function", "name": ...}` for display
and comparison, and refuse to decode.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from decisions import feel

TYPE_KEY = "@type"
MAX_DEPTH = 32
MAX_SAFE_INTEGER = 2**53 - 1  # beyond it a JSON reader may round the number

# The open end of `< 10`, taken from the FEEL engine's own public evaluation.
_UNBOUNDED = feel.evaluate("< 0").start
_TEMPORAL_FUNCTIONS = {
    "date": "date(v)",
    "time": "time(v)",
    "date and time": "date and time(v)",
    "days and time duration": "duration(v)",
    "years and months duration": "duration(v)",
}


class ValueEncodingError(ValueError):
    """A value (or a JSON document) that has no faithful counterpart on the other side."""

    def __init__(self, message: str, *, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def encode(value: Any) -> Any:
    """A FEEL value (or plain Python data) as tagged JSON data."""
    try:
        converted = feel.to_feel(value)
    except TypeError as exc:
        raise ValueEncodingError(str(exc)) from None
    return _encode(converted, "", 0)


def decode(data: Any) -> Any:
    """Tagged JSON data as the FEEL value it encodes. Raises ValueEncodingError."""
    return _decode(data, "", 0)


def decode_inputs(data: Mapping[str, Any]) -> dict[str, Any]:
    """Named inputs as FEEL values; error paths name the input ("Applicant.age")."""
    return {str(name): _decode(item, str(name), 1) for name, item in data.items()}


def encode_inputs(values: Mapping[str, Any]) -> dict[str, Any]:
    return {str(name): encode(item) for name, item in values.items()}


# --- encoding -----------------------------------------------------------------------------


def _encode(value: Any, path: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueEncodingError("nested too deeply", path=path)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, Decimal):
        return _encode_number(value)
    if isinstance(value, list):
        return [_encode(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    if isinstance(value, dict):
        encoded = {str(k): _encode(v, _join(path, str(k)), depth + 1) for k, v in value.items()}
        return {TYPE_KEY: "context", "value": encoded} if TYPE_KEY in encoded else encoded
    if isinstance(value, feel.Range):
        return {
            TYPE_KEY: "range",
            "start": _encode_endpoint(value.start, path, depth),
            "end": _encode_endpoint(value.end, path, depth),
            "start_included": value.start_included,
            "end_included": value.end_included,
            **({"unary": value.unary} if value.unary else {}),
        }
    if isinstance(value, feel.FeelFunction):
        return {TYPE_KEY: "function", "name": value.name, "params": list(value.params)}
    kind = feel.type_name(value)
    if kind in _TEMPORAL_FUNCTIONS:
        return {TYPE_KEY: kind, "value": feel.to_string(value)}
    raise ValueEncodingError(f"no JSON form for a {type(value).__name__}", path=path)


def _encode_number(value: Decimal) -> Any:
    sign, _digits, exponent = value.as_tuple()
    if exponent == 0 and abs(value) <= MAX_SAFE_INTEGER and not (sign and value == 0):
        return int(value)
    return {TYPE_KEY: "decimal", "value": str(value)}


def _encode_endpoint(value: Any, path: str, depth: int) -> Any:
    if value is _UNBOUNDED:
        return {TYPE_KEY: "unbounded"}
    return _encode(value, path, depth + 1)


# --- decoding -----------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _decode(data: Any, path: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise ValueEncodingError("nested too deeply", path=path)
    if data is None or isinstance(data, (bool, str)):
        return data
    if isinstance(data, int):
        return Decimal(data)
    if isinstance(data, float):
        if data != data or data in (float("inf"), float("-inf")):
            raise ValueEncodingError("not a finite number", path=path)
        return Decimal(repr(data))
    if isinstance(data, list):
        return [_decode(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(data)]
    if isinstance(data, dict):
        if TYPE_KEY not in data:
            return {str(k): _decode(v, _join(path, str(k)), depth + 1) for k, v in data.items()}
        return _decode_tagged(data, path, depth)
    raise ValueEncodingError(f"not JSON data: {type(data).__name__}", path=path)


def _decode_tagged(data: dict[str, Any], path: str, depth: int) -> Any:
    kind = data[TYPE_KEY]
    text = data.get("value")
    if kind == "context":
        if not isinstance(text, dict):
            raise ValueEncodingError("a tagged context needs an object 'value'", path=path)
        return {str(k): _decode(v, _join(path, str(k)), depth + 1) for k, v in text.items()}
    if kind == "range":
        return _decode_range(data, path, depth)
    if kind == "function":
        raise ValueEncodingError("a function cannot be given as a value", path=path)
    if not isinstance(kind, str) or not isinstance(text, str):
        raise ValueEncodingError("a tagged value needs a string '@type' and 'value'", path=path)
    if kind == "decimal":
        return _decode_decimal(text, path)
    expression = _TEMPORAL_FUNCTIONS.get(kind)
    if expression is None:
        known = ", ".join(["decimal", *_TEMPORAL_FUNCTIONS, "range", "context"])
        raise ValueEncodingError(f"unknown @type {kind!r}; one of {known}", path=path)
    if len(text) > 100:
        raise ValueEncodingError(f"not a valid {kind}", path=path)
    value = feel.evaluate(expression, {"v": text})
    if feel.type_name(value) != kind:
        raise ValueEncodingError(f"not a valid {kind}: {text!r}", path=path)
    return value


def _decode_decimal(text: str, path: str) -> Decimal:
    if len(text) > 100:
        raise ValueEncodingError("number too long", path=path)
    try:
        number = Decimal(text)
    except ArithmeticError:
        raise ValueEncodingError(f"not a number: {text!r}", path=path) from None
    if not number.is_finite():
        raise ValueEncodingError("not a finite number", path=path)
    return number


def _decode_range(data: dict[str, Any], path: str, depth: int) -> feel.Range:
    def endpoint(key: str) -> Any:
        item = data.get(key)
        if isinstance(item, dict) and item.get(TYPE_KEY) == "unbounded":
            return _UNBOUNDED
        return _decode(item, _join(path, key), depth + 1)

    included = (data.get("start_included", True), data.get("end_included", True))
    if not all(isinstance(flag, bool) for flag in included):
        raise ValueEncodingError("range inclusion flags must be booleans", path=path)
    unary = data.get("unary")
    if unary is not None and unary != "=":
        raise ValueEncodingError("range 'unary' can only be '='", path=path)
    return feel.Range(endpoint("start"), endpoint("end"), included[0], included[1], unary=unary)
