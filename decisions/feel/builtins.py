"""The DMN 1.5 FEEL built-in function library.

Each implementation takes the evaluation state first, then the FEEL arguments; it returns null
(None) for arguments of the wrong type, as the specification asks.
"""

from __future__ import annotations

import calendar
import datetime as dt
import decimal
import functools
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .errors import FeelLimitExceeded
from .interpreter import MISSING, Builtin, Range, State, invoke
from .regex import RegexError, check_input, compile_regex, replacement_function
from .temporal import UTC, parse_date, parse_datetime, parse_duration, parse_time
from .values import (
    DECIMAL_CONTEXT,
    UNBOUNDED,
    DayTimeDuration,
    FeelFunction,
    FeelTime,
    YearMonthDuration,
    feel_compare,
    feel_equal,
    range_contains,
    to_string,
)

_CTX = DECIMAL_CONTEXT
BUILTINS: dict[str, Builtin] = {}


def builtin(
    name: str, *signatures: str, named_types: dict[str, Callable[[Any], bool]] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a built-in; each signature is "a, b?, ...c" (? optional, ... variadic).

    `named_types`: parameters that, given by name, must have a type (else the call is null).
    """

    def register(impl: Callable[..., Any]) -> Callable[..., Any]:
        parsed = [[p.strip() for p in sig.split(",") if p.strip()] for sig in signatures]
        BUILTINS[name] = Builtin(name, parsed, impl, named_types)
        return impl

    return register


def _num(value: Any) -> bool:
    return type(value) is Decimal


def _int(value: Any) -> int | None:
    if type(value) is not Decimal or value != value.to_integral_value():
        return None
    return int(value)


def _items(args: tuple[Any, ...]) -> list[Any] | None:
    """Arguments of a list-or-varargs function: one list, or the arguments themselves."""
    if len(args) == 1 and isinstance(args[0], list):
        return list(args[0])
    if not args or (len(args) == 1 and args[0] is None):
        return None
    return list(args)


# -- conversion ----------------------------------------------------------------------------------
@builtin("date", "from", "year, month, day")
def _date(state: State, *args: Any) -> Any:
    if len(args) == 1:
        value = args[0]
        if isinstance(value, str):
            return parse_date(value)
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return None
    year, month, day = (_int(a) for a in args)
    if year is None or month is None or day is None:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


@builtin("date and time", "from", "date, time")
def _date_and_time(state: State, *args: Any) -> Any:
    if len(args) == 1:
        value = args[0]
        if isinstance(value, str):
            return parse_datetime(value)
        if isinstance(value, dt.datetime):
            return value
        if isinstance(value, dt.date):
            return dt.datetime(value.year, value.month, value.day)
        return None
    date, time = args
    if not isinstance(date, dt.date):
        return None
    if isinstance(time, dt.datetime):
        time = FeelTime(time.hour, time.minute, time.second, time.microsecond, time.tzinfo)
    if not isinstance(time, FeelTime):
        return None
    return dt.datetime(
        date.year, date.month, date.day, time.hour, time.minute, time.second,
        time.microsecond, time.tzinfo,
    )  # fmt: skip


@builtin("time", "from", "hour, minute, second, offset?")
def _time(state: State, *args: Any) -> Any:
    if len(args) == 1:
        value = args[0]
        if isinstance(value, str):
            return parse_time(value)
        if isinstance(value, dt.datetime):
            return FeelTime(value.hour, value.minute, value.second, value.microsecond, value.tzinfo)
        if isinstance(value, dt.date):
            return FeelTime(0, 0, 0, 0, UTC)
        if isinstance(value, FeelTime):
            return value
        return None
    hour, minute = _int(args[0]), _int(args[1])
    second = args[2]
    if hour is None or minute is None or not _num(second):
        return None
    if not (0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second < 60):
        return None
    whole = int(second)
    micros = int((second - whole) * 1_000_000)
    tz: dt.tzinfo | None = None
    if len(args) > 3 and args[3] is not None:
        offset = args[3]
        if not isinstance(offset, DayTimeDuration):
            return None
        try:
            tz = dt.timezone(offset.to_timedelta())
        except ValueError:
            return None
    return FeelTime(hour, minute, whole, micros, tz)


_NUMBER_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@builtin("number", "from, grouping separator?, decimal separator?")
def _number(state: State, text: Any, grouping: Any = None, decimal_sep: Any = None) -> Any:
    if not isinstance(text, str):
        return None
    if grouping not in (None, " ", ",", "."):
        return None
    if decimal_sep not in (None, ".", ","):
        return None
    if grouping is not None and grouping == decimal_sep:
        return None
    if grouping:
        text = text.replace(grouping, "")
    if decimal_sep:
        text = text.replace(decimal_sep, ".")
    if not _NUMBER_TEXT.fullmatch(text):
        return None
    return _CTX.plus(Decimal(text))


@builtin("string", "from")
def _string(state: State, value: Any) -> Any:
    return to_string(value)


@builtin("duration", "from")
def _duration(state: State, value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else None


@builtin("years and months duration", "from, to")
def _ym_duration(state: State, start: Any, end: Any) -> Any:
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        return None
    a = start if isinstance(start, dt.datetime) else dt.datetime(start.year, start.month, start.day)
    b = end if isinstance(end, dt.datetime) else dt.datetime(end.year, end.month, end.day)
    if (a.tzinfo is None) != (b.tzinfo is None):
        a, b = a.replace(tzinfo=None), b.replace(tzinfo=None)
    months = (b.year - a.year) * 12 + (b.month - a.month)
    rest_a = (a.day, a.time())
    rest_b = (b.day, b.time())
    if months > 0 and rest_b < rest_a:
        months -= 1
    elif months < 0 and rest_b > rest_a:
        months += 1
    return YearMonthDuration(months)


# -- boolean -------------------------------------------------------------------------------------
@builtin("not", "negand")
def _not(state: State, value: Any) -> Any:
    return (not value) if isinstance(value, bool) else None


@builtin("is", "value1, value2")
def _is(state: State, a: Any, b: Any) -> Any:
    if type(a) is not type(b):
        return False
    if isinstance(a, (dt.datetime, FeelTime)):
        return a == b and a.tzinfo == b.tzinfo
    return feel_equal(a, b) is True


# -- string --------------------------------------------------------------------------------------
@builtin("substring", "string, start position, length?")
def _substring(state: State, text: Any, start: Any, length: Any = None) -> Any:
    if not isinstance(text, str) or not _num(start):
        return None
    begin = int(start.to_integral_value(rounding=decimal.ROUND_HALF_EVEN))
    if begin == 0:
        begin = 1
    index = begin - 1 if begin > 0 else max(len(text) + begin, 0)
    if length is None:
        return text[index:]
    if not _num(length) or length < 0:
        return None
    count = int(length)
    return text[index : index + count]


@builtin("string length", "string")
def _string_length(state: State, text: Any) -> Any:
    return Decimal(len(text)) if isinstance(text, str) else None


@builtin("upper case", "string")
def _upper(state: State, text: Any) -> Any:
    return text.upper() if isinstance(text, str) else None


@builtin("lower case", "string")
def _lower(state: State, text: Any) -> Any:
    return text.lower() if isinstance(text, str) else None


@builtin("substring before", "string, match")
def _before(state: State, text: Any, match: Any) -> Any:
    if not isinstance(text, str) or not isinstance(match, str):
        return None
    index = text.find(match)
    return text[:index] if index >= 0 else ""


@builtin("substring after", "string, match")
def _after(state: State, text: Any, match: Any) -> Any:
    if not isinstance(text, str) or not isinstance(match, str):
        return None
    index = text.find(match)
    return text[index + len(match) :] if index >= 0 else ""


@builtin("contains", "string, match")
def _contains(state: State, text: Any, match: Any) -> Any:
    if not isinstance(text, str) or not isinstance(match, str):
        return None
    return match in text


@builtin("starts with", "string, match")
def _starts_with(state: State, text: Any, match: Any) -> Any:
    if not isinstance(text, str) or not isinstance(match, str):
        return None
    return text.startswith(match)


@builtin("ends with", "string, match")
def _ends_with(state: State, text: Any, match: Any) -> Any:
    if not isinstance(text, str) or not isinstance(match, str):
        return None
    return text.endswith(match)


def _regex(state: State, text: Any, pattern: Any, flags: Any) -> Any:
    if not isinstance(text, str) or not isinstance(pattern, str):
        return None
    if flags is not None and not isinstance(flags, str):
        return None
    try:
        check_input(text)
        return compile_regex(pattern, flags or "")
    except RegexError as exc:
        state.warn(f"regular expression refused: {exc}")
        return None


@builtin("matches", "input, pattern, flags?")
def _matches(state: State, text: Any, pattern: Any, flags: Any = None) -> Any:
    compiled = _regex(state, text, pattern, flags)
    return None if compiled is None else compiled.search(text) is not None


@builtin("replace", "input, pattern, replacement, flags?")
def _replace(state: State, text: Any, pattern: Any, replacement: Any, flags: Any = None) -> Any:
    compiled = _regex(state, text, pattern, flags)
    if compiled is None or not isinstance(replacement, str):
        return None
    if compiled.fullmatch(""):
        state.warn("replace() pattern matches the empty string")
        return None
    try:
        function = replacement_function(replacement, flags or "")
    except RegexError as exc:
        state.warn(str(exc))
        return None
    return state.check_string(compiled.sub(function, text))


@builtin("split", "string, delimiter")
def _split(state: State, text: Any, delimiter: Any) -> Any:
    compiled = _regex(state, text, delimiter, None)
    if compiled is None:
        return None
    if compiled.fullmatch(""):
        return None
    wrapped = re.compile(f"(?:{compiled.pattern})", compiled.flags)
    return wrapped.split(text)


@builtin("string join", "list, delimiter?")
def _string_join(state: State, items: Any, delimiter: Any = None) -> Any:
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, list):
        return None
    if delimiter is not None and not isinstance(delimiter, str):
        return None
    strings = [item for item in items if item is not None]
    if not all(isinstance(item, str) for item in strings):
        return None
    sep = delimiter or ""
    total = sum(len(s) for s in strings) + len(sep) * max(len(strings) - 1, 0)
    if total > state.limits.max_string_length:
        raise FeelLimitExceeded(f"a string exceeded {state.limits.max_string_length} characters")
    return sep.join(strings)


# -- list ----------------------------------------------------------------------------------------
@builtin("list contains", "list, element")
def _list_contains(state: State, items: Any, element: Any) -> Any:
    if not isinstance(items, list):
        return None
    state.tick(len(items))
    return any(feel_equal(item, element) is True for item in items)


@builtin("count", "list")
def _count(state: State, items: Any) -> Any:
    return Decimal(len(items)) if isinstance(items, list) else None


def _extreme(state: State, args: tuple[Any, ...], sign: int) -> Any:
    items = _items(args)
    if not items:
        return None
    state.tick(len(items))
    best = items[0]
    for item in items[1:]:
        order = feel_compare(item, best)
        if order is None:
            return None
        if order * sign > 0:
            best = item
    if feel_compare(best, best) is None:
        return None
    return best


@builtin("min", "list", "...c")
def _min(state: State, *args: Any) -> Any:
    return _extreme(state, args, -1)


@builtin("max", "list", "...c")
def _max(state: State, *args: Any) -> Any:
    return _extreme(state, args, 1)


def _numbers(state: State, args: tuple[Any, ...]) -> list[Decimal] | None:
    items = _items(args)
    if items is None or not all(_num(item) for item in items):
        return None
    state.tick(len(items))
    return items


@builtin("sum", "list", "...n")
def _sum(state: State, *args: Any) -> Any:
    items = _numbers(state, args)
    if not items:
        return None
    total = Decimal(0)
    for item in items:
        total = _CTX.add(total, item)
    return total


@builtin("mean", "list", "...n")
def _mean(state: State, *args: Any) -> Any:
    items = _numbers(state, args)
    if not items:
        return None
    return _CTX.divide(_sum(state, items), Decimal(len(items)))


@builtin("product", "list", "...n")
def _product(state: State, *args: Any) -> Any:
    items = _numbers(state, args)
    if not items:
        return None
    total = Decimal(1)
    for item in items:
        total = _CTX.multiply(total, item)
    return total


@builtin("median", "list", "...n")
def _median(state: State, *args: Any) -> Any:
    items = _numbers(state, args)
    if not items:
        return None
    ordered = sorted(items)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return _CTX.divide(_CTX.add(ordered[middle - 1], ordered[middle]), Decimal(2))


@builtin("stddev", "list", "...n")
def _stddev(state: State, *args: Any) -> Any:
    items = _numbers(state, args)
    if not items or len(items) < 2:
        return None
    mean = _CTX.divide(_sum(state, items), Decimal(len(items)))
    squares = Decimal(0)
    for item in items:
        diff = _CTX.subtract(item, mean)
        squares = _CTX.add(squares, _CTX.multiply(diff, diff))
    return _CTX.sqrt(_CTX.divide(squares, Decimal(len(items) - 1)))


@builtin("mode", "list", "...n")
def _mode(state: State, *args: Any) -> Any:
    items = _numbers(state, args)
    if items is None:
        return None
    counts: dict[Decimal, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    if not counts:
        return []
    top = max(counts.values())
    return sorted(value for value, count in counts.items() if count == top)


@builtin("all", "list", "...b")
def _all(state: State, *args: Any) -> Any:
    items = _items(args)
    if items is None:
        return None
    if any(item is False for item in items):
        return False
    return True if all(item is True for item in items) else None


@builtin("any", "list", "...b")
def _any(state: State, *args: Any) -> Any:
    items = _items(args)
    if items is None:
        return None
    if any(item is True for item in items):
        return True
    return False if all(item is False for item in items) else None


def _position(items: list[Any], position: Any, *, insert: bool = False) -> int | None:
    index = _int(position)
    if index is None or index == 0:
        return None
    size = len(items) + (1 if insert else 0)
    if index > 0:
        return index - 1 if index <= size else None
    return len(items) + index if -len(items) <= index else None


@builtin("sublist", "list, start position, length?")
def _sublist(state: State, items: Any, start: Any, length: Any = None) -> Any:
    if not isinstance(items, list):
        return None
    index = _position(items, start)
    if index is None:
        return None
    if length is None:
        return items[index:]
    count = _int(length)
    if count is None or count < 0 or index + count > len(items):
        return None
    return items[index : index + count]


@builtin("append", "list, ...item")
def _append(state: State, items: Any, *new: Any) -> Any:
    if not isinstance(items, list):
        return None
    state.check_size(len(items) + len(new))
    return [*items, *new]


@builtin("concatenate", "...list")
def _concatenate(state: State, *lists: Any) -> Any:
    if not all(isinstance(items, list) for items in lists):
        return None
    state.check_size(sum(len(items) for items in lists))
    return [item for items in lists for item in items]


@builtin("insert before", "list, position, newItem")
def _insert_before(state: State, items: Any, position: Any, new: Any) -> Any:
    if not isinstance(items, list):
        return None
    index = _position(items, position)
    if index is None:
        return None
    return [*items[:index], new, *items[index:]]


@builtin("remove", "list, position")
def _remove(state: State, items: Any, position: Any) -> Any:
    if not isinstance(items, list):
        return None
    index = _position(items, position)
    if index is None:
        return None
    return items[:index] + items[index + 1 :]


@builtin("reverse", "list")
def _reverse(state: State, items: Any) -> Any:
    return list(reversed(items)) if isinstance(items, list) else None


@builtin("index of", "list, match")
def _index_of(state: State, items: Any, match: Any) -> Any:
    if not isinstance(items, list):
        return None
    state.tick(len(items))
    return [Decimal(i + 1) for i, item in enumerate(items) if feel_equal(item, match) is True]


def _distinct(state: State, items: list[Any]) -> list[Any]:
    state.tick(len(items))
    result: list[Any] = []
    for item in items:
        if not any(feel_equal(item, seen) is True for seen in result):
            result.append(item)
        state.tick(len(result))
    return result


@builtin("union", "...list")
def _union(state: State, *lists: Any) -> Any:
    if not all(isinstance(items, list) for items in lists):
        return None
    return _distinct(state, [item for items in lists for item in items])


@builtin("distinct values", "list")
def _distinct_values(state: State, items: Any) -> Any:
    return _distinct(state, items) if isinstance(items, list) else None


@builtin("flatten", "list")
def _flatten(state: State, items: Any) -> Any:
    if not isinstance(items, list):
        return None
    result: list[Any] = []

    def walk(values: list[Any]) -> None:
        for value in values:
            if isinstance(value, list):
                walk(value)
            else:
                result.append(value)
                state.tick()

    walk(items)
    return result


@builtin("list replace", "list, position, newItem", "list, match, newItem")
def _list_replace(state: State, items: Any, where: Any, new: Any) -> Any:
    if not isinstance(items, list):
        return None
    if isinstance(where, FeelFunction):
        result = []
        for item in items:
            matched = invoke(state, where, [item, new], None)
            result.append(new if matched is True else item)
        return result
    index = _position(items, where)
    if index is None:
        return None
    return [*items[:index], new, *items[index + 1 :]]


@builtin("sort", "list, precedes?")
def _sort(state: State, items: Any, precedes: Any = None) -> Any:
    if not isinstance(items, list):
        return None
    state.tick(len(items))
    if precedes is None:
        for item in items[1:]:
            if feel_compare(items[0], item) is None:
                return None
        if items and feel_compare(items[0], items[0]) is None:
            return None

        def natural(a: Any, b: Any) -> int:
            return feel_compare(a, b) or 0

        return sorted(items, key=functools.cmp_to_key(natural))
    if not isinstance(precedes, FeelFunction):
        return None

    def compare(a: Any, b: Any) -> int:
        if invoke(state, precedes, [a, b], None) is True:
            return -1
        if invoke(state, precedes, [b, a], None) is True:
            return 1
        return 0

    return sorted(items, key=functools.cmp_to_key(compare))


# -- numeric -------------------------------------------------------------------------------------
def _scaled(number: Any, scale: Any, rounding: str) -> Any:
    if not _num(number):
        return None
    places = 0 if scale is MISSING else _int(scale)
    if places is None or not -6111 <= places <= 6176:
        return None
    quantum = Decimal(1).scaleb(-places)
    result = number.quantize(quantum, rounding=rounding, context=decimal.Context(prec=10_000))
    return _CTX.plus(result)


@builtin("decimal", "n, scale")
def _decimal_fn(state: State, number: Any, scale: Any) -> Any:
    if scale is None:
        return None
    return _scaled(number, scale, decimal.ROUND_HALF_EVEN)


@builtin("floor", "n, scale?")
def _floor(state: State, number: Any, scale: Any = MISSING) -> Any:
    return _scaled(number, scale, decimal.ROUND_FLOOR)


@builtin("ceiling", "n, scale?")
def _ceiling(state: State, number: Any, scale: Any = MISSING) -> Any:
    return _scaled(number, scale, decimal.ROUND_CEILING)


@builtin("round up", "n, scale?")
def _round_up(state: State, number: Any, scale: Any = MISSING) -> Any:
    return _scaled(number, scale, decimal.ROUND_UP)


@builtin("round down", "n, scale?")
def _round_down(state: State, number: Any, scale: Any = MISSING) -> Any:
    return _scaled(number, scale, decimal.ROUND_DOWN)


@builtin("round half up", "n, scale?")
def _round_half_up(state: State, number: Any, scale: Any = MISSING) -> Any:
    return _scaled(number, scale, decimal.ROUND_HALF_UP)


@builtin("round half down", "n, scale?")
def _round_half_down(state: State, number: Any, scale: Any = MISSING) -> Any:
    return _scaled(number, scale, decimal.ROUND_HALF_DOWN)


@builtin("abs", "n")
def _abs(state: State, value: Any) -> Any:
    if _num(value):
        return _CTX.abs(value)
    if isinstance(value, DayTimeDuration):
        return DayTimeDuration(abs(value.microseconds))
    if isinstance(value, YearMonthDuration):
        return YearMonthDuration(abs(value.months))
    return None


@builtin("modulo", "dividend, divisor")
def _modulo(state: State, dividend: Any, divisor: Any) -> Any:
    if not _num(dividend) or not _num(divisor) or divisor == 0:
        return None
    quotient = _CTX.divide(dividend, divisor).to_integral_value(rounding=decimal.ROUND_FLOOR)
    return _CTX.subtract(dividend, _CTX.multiply(divisor, quotient))


@builtin("sqrt", "number")
def _sqrt(state: State, value: Any) -> Any:
    if not _num(value) or value < 0:
        return None
    return _CTX.sqrt(value)


@builtin("log", "number")
def _log(state: State, value: Any) -> Any:
    if not _num(value) or value <= 0:
        return None
    return _CTX.ln(value)


@builtin("exp", "number")
def _exp(state: State, value: Any) -> Any:
    return _CTX.exp(value) if _num(value) else None


@builtin("odd", "number")
def _odd(state: State, value: Any) -> Any:
    number = _int(value)
    return None if number is None else number % 2 == 1


@builtin("even", "number")
def _even(state: State, value: Any) -> Any:
    number = _int(value)
    return None if number is None else number % 2 == 0


# -- date and time -------------------------------------------------------------------------------
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@builtin("day of year", "date")
def _day_of_year(state: State, value: Any) -> Any:
    return Decimal(value.timetuple().tm_yday) if isinstance(value, dt.date) else None


@builtin("day of week", "date")
def _day_of_week(state: State, value: Any) -> Any:
    return _DAYS[value.weekday()] if isinstance(value, dt.date) else None


@builtin("month of year", "date")
def _month_of_year(state: State, value: Any) -> Any:
    return calendar.month_name[value.month] if isinstance(value, dt.date) else None


@builtin("week of year", "date")
def _week_of_year(state: State, value: Any) -> Any:
    return Decimal(value.isocalendar()[1]) if isinstance(value, dt.date) else None


@builtin("now", "")
def _now(state: State) -> Any:
    return dt.datetime.now(UTC)


@builtin("today", "")
def _today(state: State) -> Any:
    return dt.date.today()


# -- range ---------------------------------------------------------------------------------------
class _Incomparable(Exception):
    pass


def _cmp(a: Any, b: Any) -> int:
    order = feel_compare(a, b)
    if order is None:
        raise _Incomparable
    return order


def _lt(a: Any, b: Any) -> bool:
    return _cmp(a, b) < 0


def _eq(a: Any, b: Any) -> bool:
    return _cmp(a, b) == 0


def _range_fn(name: str, *signatures: str) -> Callable[[Callable[..., bool]], Any]:
    def register(impl: Callable[..., bool]) -> Any:
        def run(state: State, a: Any, b: Any) -> Any:
            if a is None or b is None:
                return None
            try:
                return impl(a, b)
            except _Incomparable:
                return None

        builtin(name, *signatures)(run)
        return impl

    return register


def _before_impl(a: Any, b: Any) -> bool:
    if isinstance(a, Range) and isinstance(b, Range):
        if a.end is UNBOUNDED or b.start is UNBOUNDED:
            return False
        return _lt(a.end, b.start) or (
            _eq(a.end, b.start) and not (a.end_included and b.start_included)
        )
    if isinstance(a, Range):
        if a.end is UNBOUNDED:
            return False
        return _lt(a.end, b) or (_eq(a.end, b) and not a.end_included)
    if isinstance(b, Range):
        if b.start is UNBOUNDED:
            return False
        return _lt(a, b.start) or (_eq(a, b.start) and not b.start_included)
    return _lt(a, b)


_POINT_RANGE_SIGNATURES = (
    "point1, point2",
    "point, range",
    "range, point",
    "range1, range2",
)


@_range_fn("before", *_POINT_RANGE_SIGNATURES)
def _before_fn(a: Any, b: Any) -> bool:
    return _before_impl(a, b)


@_range_fn("after", *_POINT_RANGE_SIGNATURES)
def _after_fn(a: Any, b: Any) -> bool:
    return _before_impl(b, a)


def _meets_impl(a: Range, b: Range) -> bool:
    if not (isinstance(a, Range) and isinstance(b, Range)):
        raise _Incomparable
    if a.end is UNBOUNDED or b.start is UNBOUNDED:
        return False
    return a.end_included and b.start_included and _eq(a.end, b.start)


@_range_fn("meets", "range1, range2")
def _meets(a: Any, b: Any) -> bool:
    return _meets_impl(a, b)


@_range_fn("met by", "range1, range2")
def _met_by(a: Any, b: Any) -> bool:
    return _meets_impl(b, a)


def _start_before(a: Range, b: Range) -> bool:
    """a starts before b starts (a.start < b.start, counting inclusion)."""
    if a.start is UNBOUNDED:
        return b.start is not UNBOUNDED
    if b.start is UNBOUNDED:
        return False
    return _lt(a.start, b.start) or (
        _eq(a.start, b.start) and a.start_included and not b.start_included
    )


def _end_after(a: Range, b: Range) -> bool:
    if a.end is UNBOUNDED:
        return b.end is not UNBOUNDED
    if b.end is UNBOUNDED:
        return False
    return _lt(b.end, a.end) or (_eq(a.end, b.end) and a.end_included and not b.end_included)


def _ends_after_start(a: Range, b: Range) -> bool:
    """a's end is after b's start (they share a point there)."""
    if a.end is UNBOUNDED or b.start is UNBOUNDED:
        return True
    return _lt(b.start, a.end) or (_eq(a.end, b.start) and a.end_included and b.start_included)


def _ranges(a: Any, b: Any) -> None:
    if not (isinstance(a, Range) and isinstance(b, Range)):
        raise _Incomparable


@_range_fn("overlaps", "range1, range2")
def _overlaps(a: Any, b: Any) -> bool:
    _ranges(a, b)
    return _ends_after_start(a, b) and _ends_after_start(b, a)


def _overlaps_before_impl(a: Any, b: Any) -> bool:
    """DMN 1.5: a starts before b, a's end reaches b's start, and a does not end after b.

    Equal ends count when a's end is excluded or b's is included: `overlaps before([1..5],
    (1..5])` is true.
    """
    _ranges(a, b)
    return _start_before(a, b) and _ends_after_start(a, b) and not _end_after(a, b)


@_range_fn("overlaps before", "range1, range2")
def _overlaps_before(a: Any, b: Any) -> bool:
    return _overlaps_before_impl(a, b)


def _same_end(a: Range, b: Range) -> bool:
    if a.end is UNBOUNDED or b.end is UNBOUNDED:
        return a.end is UNBOUNDED and b.end is UNBOUNDED
    return _eq(a.end, b.end) and a.end_included == b.end_included


def _same_start(a: Range, b: Range) -> bool:
    if a.start is UNBOUNDED or b.start is UNBOUNDED:
        return a.start is UNBOUNDED and b.start is UNBOUNDED
    return _eq(a.start, b.start) and a.start_included == b.start_included


@_range_fn("overlaps after", "range1, range2")
def _overlaps_after(a: Any, b: Any) -> bool:
    return _overlaps_before_impl(b, a)


def _finishes_impl(a: Any, b: Any) -> bool:
    if not isinstance(b, Range):
        raise _Incomparable
    if not isinstance(a, Range):
        return b.end is not UNBOUNDED and b.end_included and _eq(b.end, a)
    return _same_end(a, b) and not _start_before(a, b)


@_range_fn("finishes", "point, range", "range1, range2")
def _finishes(a: Any, b: Any) -> bool:
    return _finishes_impl(a, b)


@_range_fn("finished by", "range, point", "range1, range2")
def _finished_by(a: Any, b: Any) -> bool:
    return _finishes_impl(b, a)


def _includes_impl(a: Any, b: Any) -> bool:
    if not isinstance(a, Range):
        raise _Incomparable
    if not isinstance(b, Range):
        result = range_contains(a, b)
        if result is None:
            raise _Incomparable
        return result
    return not _start_before(b, a) and not _end_after(b, a)


@_range_fn("includes", "range, point", "range1, range2")
def _includes(a: Any, b: Any) -> bool:
    return _includes_impl(a, b)


@_range_fn("during", "point, range", "range1, range2")
def _during(a: Any, b: Any) -> bool:
    return _includes_impl(b, a)


def _starts_impl(a: Any, b: Any) -> bool:
    if not isinstance(b, Range):
        raise _Incomparable
    if not isinstance(a, Range):
        return b.start is not UNBOUNDED and b.start_included and _eq(b.start, a)
    return _same_start(a, b) and not _end_after(a, b)


@_range_fn("starts", "point, range", "range1, range2")
def _starts(a: Any, b: Any) -> bool:
    return _starts_impl(a, b)


@_range_fn("started by", "range, point", "range1, range2")
def _started_by(a: Any, b: Any) -> bool:
    return _starts_impl(b, a)


@_range_fn("coincides", "point1, point2", "range1, range2")
def _coincides(a: Any, b: Any) -> bool:
    if isinstance(a, Range) and isinstance(b, Range):
        return _same_start(a, b) and _same_end(a, b)
    if isinstance(a, Range) or isinstance(b, Range):
        raise _Incomparable
    return _eq(a, b)


@builtin("range", "from")
def _range(state: State, text: Any) -> Any:
    if not isinstance(text, str) or len(text) > 1000:
        return None
    from . import FeelError, parse_expression
    from .nodes import RangeNode

    try:
        expression = parse_expression(text)
    except FeelError:
        return None
    node = expression.node
    if not isinstance(node, RangeNode) or not (
        _range_literal(node.start) and _range_literal(node.end)
    ):
        return None
    value = expression.evaluate({}, limits=state.limits)
    if not isinstance(value, Range) or (value.start is None and value.end is None):
        return None
    if value.start is not None and value.end is not None:
        order = feel_compare(value.start, value.end)
        if order is None or order > 0:
            return None
    return value


def _range_literal(node: Any) -> bool:
    """range() accepts literal endpoints, and date/time/duration calls on a string literal."""
    from .nodes import Call, Literal, Name, Negate

    if isinstance(node, Negate):
        node = node.operand
    if isinstance(node, Literal):
        return True
    return (
        isinstance(node, Call)
        and isinstance(node.callee, Name)
        and node.callee.name in ("date", "time", "date and time", "duration")
        and len(node.args) == 1
        and isinstance(node.args[0], Literal)
        and isinstance(node.args[0].value, str)
    )


# -- context -------------------------------------------------------------------------------------
@builtin("get value", "m, key")
def _get_value(state: State, context: Any, key: Any) -> Any:
    if not isinstance(context, dict):
        return None
    if isinstance(key, list):
        value: Any = context
        for part in key:
            if not isinstance(value, dict) or not isinstance(part, str):
                return None
            value = value.get(part)
        return value
    return context.get(key) if isinstance(key, str) else None


@builtin("get entries", "m")
def _get_entries(state: State, context: Any) -> Any:
    if not isinstance(context, dict):
        return None
    return [{"key": key, "value": value} for key, value in context.items()]


@builtin("context", "entries")
def _context(state: State, entries: Any) -> Any:
    if isinstance(entries, dict):
        entries = [entries]
    if not isinstance(entries, list):
        return None
    result: dict[str, Any] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            return None
        if "value" not in entry or entry["key"] in result:
            return None
        result[entry["key"]] = entry["value"]
    return result


@builtin(
    "context put",
    "context, key, value",
    "context, keys, value",
    named_types={"key": lambda v: isinstance(v, str)},
)
def _context_put(state: State, context: Any, key: Any, value: Any) -> Any:
    if not isinstance(context, dict):
        return None
    if isinstance(key, str):
        return {**context, key: value}
    if isinstance(key, list) and key and all(isinstance(k, str) for k in key):
        if len(key) == 1:
            return {**context, key[0]: value}
        inner = context.get(key[0], {})
        if not isinstance(inner, dict):
            return None
        nested = _context_put(state, inner, key[1:], value)
        return None if nested is None else {**context, key[0]: nested}
    return None


@builtin("context merge", "contexts")
def _context_merge(state: State, contexts: Any) -> Any:
    if not isinstance(contexts, list) or not all(isinstance(c, dict) for c in contexts):
        return None
    result: dict[str, Any] = {}
    for context in contexts:
        result.update(context)
    return result


BUILTIN_NAMES = frozenset(BUILTINS)
