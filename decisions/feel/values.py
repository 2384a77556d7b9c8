"""The FEEL semantic domain as Python values.

null -> None, boolean -> bool, string -> str, number -> Decimal (34 significant digits, half-even),
date -> datetime.date, time -> FeelTime, date and time -> datetime.datetime (naive = local time,
aware = with an offset or a zone), days and time duration -> DayTimeDuration, years and months
duration -> YearMonthDuration, list -> list, context -> dict (insertion ordered), range -> Range,
function -> FeelFunction.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# One arithmetic context for every FEEL number operation: IEEE 754 decimal128 precision.
DECIMAL_CONTEXT = decimal.Context(
    prec=34,
    rounding=decimal.ROUND_HALF_EVEN,
    Emax=6144,
    Emin=-6143,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class YearMonthDuration:
    """A years and months duration, normalised to a (signed) number of months."""

    months: int

    @property
    def years(self) -> int:
        return _trunc_div(self.months, 12)

    @property
    def months_part(self) -> int:
        return abs(self.months) % 12 * (1 if self.months >= 0 else -1)

    def __str__(self) -> str:
        if self.months == 0:
            return "P0M"
        sign = "-" if self.months < 0 else ""
        years, months = divmod(abs(self.months), 12)
        text = (f"{years}Y" if years else "") + (f"{months}M" if months else "")
        return f"{sign}P{text}"


@dataclass(frozen=True, slots=True)
class DayTimeDuration:
    """A days and time duration, held exactly as a (signed) number of microseconds."""

    microseconds: int

    @classmethod
    def from_timedelta(cls, delta: dt.timedelta) -> DayTimeDuration:
        return cls((delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds)

    def to_timedelta(self) -> dt.timedelta:
        return dt.timedelta(microseconds=self.microseconds)

    @property
    def seconds_total(self) -> Decimal:
        return Decimal(self.microseconds) / Decimal(1_000_000)

    def parts(self) -> tuple[int, int, int, int, int]:
        """(sign, days, hours, minutes, microseconds-of-minute) of the absolute value."""
        sign = -1 if self.microseconds < 0 else 1
        rest = abs(self.microseconds)
        days, rest = divmod(rest, 86_400_000_000)
        hours, rest = divmod(rest, 3_600_000_000)
        minutes, micros = divmod(rest, 60_000_000)
        return sign, days, hours, minutes, micros

    def __str__(self) -> str:
        sign, days, hours, minutes, micros = self.parts()
        if self.microseconds == 0:
            return "PT0S"
        text = "-P" if sign < 0 else "P"
        if days:
            text += f"{days}D"
        if hours or minutes or micros:
            text += "T"
            if hours:
                text += f"{hours}H"
            if minutes:
                text += f"{minutes}M"
            if micros:
                seconds = Decimal(micros) / Decimal(1_000_000)
                text += f"{format_number(seconds)}S"
        return text


@dataclass(frozen=True, slots=True)
class FeelTime:
    """A FEEL time of day, optionally with a fixed offset or an IANA zone id."""

    hour: int
    minute: int
    second: int
    microsecond: int = 0
    tzinfo: dt.tzinfo | None = None

    def to_time(self) -> dt.time:
        return dt.time(self.hour, self.minute, self.second, self.microsecond, self.tzinfo)

    @classmethod
    def from_time(cls, value: dt.time) -> FeelTime:
        return cls(value.hour, value.minute, value.second, value.microsecond, value.tzinfo)

    def utc_offset(self) -> dt.timedelta | None:
        if self.tzinfo is None:
            return None
        # A zone's offset depends on the date; FEEL times with a zone use today's rules.
        reference = dt.datetime.combine(dt.date.today(), self.to_time())
        return reference.utcoffset()

    def seconds_of_day(self) -> int:
        """Microseconds since midnight, normalised to UTC when the time has an offset."""
        micros = ((self.hour * 60 + self.minute) * 60 + self.second) * 1_000_000 + self.microsecond
        offset = self.utc_offset()
        if offset is not None:
            micros -= DayTimeDuration.from_timedelta(offset).microseconds
            micros %= 86_400_000_000
        return micros

    def __str__(self) -> str:
        text = f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}"
        if self.microsecond:
            text += f".{self.microsecond:06d}".rstrip("0")
        return text + format_tz(self.tzinfo, self.utc_offset())


class _Unbounded:
    """The missing endpoint of `< 10` or `> 10` (a null endpoint is different: `(null..10)`)."""

    _instance: _Unbounded | None = None

    def __new__(cls) -> _Unbounded:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNBOUNDED"


UNBOUNDED: Any = _Unbounded()


@dataclass(frozen=True, slots=True)
class Range:
    """A FEEL range. `UNBOUNDED` marks an open end (`< 10`); None is a null endpoint.

    `unary` is "=" for the range written `(= 10)`, None otherwise. DMN 1.5 defines range
    equality per written form, so `(= 10) = [10..10]` is false and `(= 10) = (= 10)` true;
    the other unary forms (`< 10`...) differ from intervals already by their `UNBOUNDED` end.
    """

    start: Any
    end: Any
    start_included: bool = True
    end_included: bool = True
    unary: str | None = None


@dataclass(frozen=True, slots=True)
class NotEqual:
    """The value of the unary test `!= e` used as an expression: every value but one."""

    value: Any


class FeelFunction:
    """A FEEL function value.

    `call` receives the arguments by parameter name (missing ones absent). DMN business knowledge
    models and decision services are wrapped this way:
    `FeelFunction("Discount", ["Customer", "Order"], lambda args: ...)`.
    """

    __slots__ = ("call", "name", "params")

    def __init__(
        self, name: str, params: Sequence[str], call: Callable[[dict[str, Any]], Any]
    ) -> None:
        self.name = name
        self.params = list(params)
        self.call = call

    def __repr__(self) -> str:
        return f"<FEEL function {self.name}({', '.join(self.params)})>"


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def format_number(value: Decimal) -> str:
    """A number as FEEL's string() writes it: plain notation, no exponent, no trailing zeros."""
    if value == 0:
        return "0"
    normal = value.normalize(DECIMAL_CONTEXT)
    return format(normal, "f")


def format_tz(tzinfo: dt.tzinfo | None, offset: dt.timedelta | None) -> str:
    if tzinfo is None:
        return ""
    key = getattr(tzinfo, "key", None)  # zoneinfo.ZoneInfo: a documented attribute
    if isinstance(key, str):
        return f"@{key}"
    if offset is None:
        return ""
    if offset == dt.timedelta(0):
        return "Z"
    sign = "-" if offset < dt.timedelta(0) else "+"
    total = abs(int(offset.total_seconds()))
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}"
    return text + (f":{seconds:02d}" if seconds else "")


def format_date(value: dt.date) -> str:
    year = f"{value.year:04d}"
    return f"{year}-{value.month:02d}-{value.day:02d}"


def format_datetime(value: dt.datetime) -> str:
    time = FeelTime(value.hour, value.minute, value.second, value.microsecond)
    return f"{format_date(value)}T{time}{format_tz(value.tzinfo, value.utcoffset())}"


def to_string(value: Any) -> str | None:
    """FEEL string(value); None for null."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format_number(value)
    if isinstance(value, dt.datetime):
        return format_datetime(value)
    if isinstance(value, dt.date):
        return format_date(value)
    if isinstance(value, (FeelTime, DayTimeDuration, YearMonthDuration)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_literal(item)}" for key, item in value.items()) + "}"
    if isinstance(value, Range):
        if value.start is UNBOUNDED:
            return ("<= " if value.end_included else "< ") + _literal(value.end)
        if value.end is UNBOUNDED:
            return (">= " if value.start_included else "> ") + _literal(value.start)
        left = "[" if value.start_included else "("
        right = "]" if value.end_included else ")"
        return f"{left}{_literal(value.start)}..{_literal(value.end)}{right}"
    if isinstance(value, FeelFunction):
        return f"function {value.name}"
    return None


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return to_string(value) or "null"


def to_feel(value: Any) -> Any:
    """Convert plain Python data (int, float, dict, list, tuple, time, timedelta...) to FEEL."""
    if value is None or isinstance(value, (bool, str, Decimal, Range, FeelFunction)):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, (dt.datetime, dt.date, FeelTime, DayTimeDuration, YearMonthDuration)):
        return value
    if isinstance(value, dt.time):
        return FeelTime.from_time(value)
    if isinstance(value, dt.timedelta):
        return DayTimeDuration.from_timedelta(value)
    if isinstance(value, Mapping):
        return {str(key): to_feel(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_feel(item) for item in value]
    raise TypeError(f"no FEEL value for a {type(value).__name__}")


def from_feel(value: Any) -> Any:
    """Convert a FEEL value to plain Python: integral numbers to int, others stay Decimal."""
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return value
    if isinstance(value, FeelTime):
        return value.to_time()
    if isinstance(value, DayTimeDuration):
        return value.to_timedelta()
    if isinstance(value, dict):
        return {key: from_feel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_feel(item) for item in value]
    return value


def type_name(value: Any) -> str:
    """The FEEL type name of a value, for messages and `instance of`."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dt.datetime):
        return "date and time"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, FeelTime):
        return "time"
    if isinstance(value, DayTimeDuration):
        return "days and time duration"
    if isinstance(value, YearMonthDuration):
        return "years and months duration"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "context"
    if isinstance(value, Range):
        return "range"
    if isinstance(value, FeelFunction):
        return "function"
    return "unknown"


def feel_equal(a: Any, b: Any) -> bool | None:
    """FEEL `=`: null equals only null; values of different types are not comparable (null)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        if isinstance(a, bool) and isinstance(b, bool):
            return a == b
        return None
    if isinstance(a, Decimal):
        return a == b if isinstance(b, Decimal) else None
    if isinstance(a, str):
        return a == b if isinstance(b, str) else None
    if isinstance(a, dt.datetime):
        if not isinstance(b, dt.datetime):
            return None
        if (a.tzinfo is None) != (b.tzinfo is None):
            return False
        return a == b
    if isinstance(a, dt.date):
        if isinstance(b, dt.datetime) or not isinstance(b, dt.date):
            return None
        return a == b
    if isinstance(a, FeelTime):
        if not isinstance(b, FeelTime):
            return None
        if (a.tzinfo is None) != (b.tzinfo is None):
            return False
        return a.seconds_of_day() == b.seconds_of_day()
    if isinstance(a, (DayTimeDuration, YearMonthDuration)):
        return a == b if type(a) is type(b) else None
    if isinstance(a, list):
        if not isinstance(b, list):
            return None
        if len(a) != len(b):
            return False
        for x, y in zip(a, b, strict=True):
            same = feel_equal(x, y)
            if same is not True:
                return same
        return True
    if isinstance(a, dict):
        if not isinstance(b, dict):
            return None
        if a.keys() != b.keys():
            return False
        for key, x in a.items():
            same = feel_equal(x, b[key])
            if same is not True:
                return same
        return True
    if isinstance(a, Range):
        if not isinstance(b, Range):
            return None
        return (
            a.unary == b.unary
            and a.start_included == b.start_included
            and a.end_included == b.end_included
            and _endpoint_equal(a.start, b.start)
            and _endpoint_equal(a.end, b.end)
        )
    if isinstance(a, FeelFunction):
        return a is b
    if isinstance(a, NotEqual):
        return feel_equal(a.value, b.value) is True if isinstance(b, NotEqual) else None
    return None


def _endpoint_equal(a: Any, b: Any) -> bool:
    if a is UNBOUNDED or b is UNBOUNDED:
        return a is b
    return feel_equal(a, b) is True


def feel_compare(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 when a and b are ordered FEEL values of the same type, else None."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return None
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return (a > b) - (a < b)
    if isinstance(a, str) and isinstance(b, str):
        return (a > b) - (a < b)
    if isinstance(a, dt.datetime) or isinstance(b, dt.datetime):
        if not (isinstance(a, dt.datetime) and isinstance(b, dt.datetime)):
            return None
        if (a.tzinfo is None) != (b.tzinfo is None):
            return None
        return (a > b) - (a < b)
    if isinstance(a, dt.date) and isinstance(b, dt.date):
        return (a > b) - (a < b)
    if isinstance(a, FeelTime) and isinstance(b, FeelTime):
        if (a.tzinfo is None) != (b.tzinfo is None):
            return None
        x, y = a.seconds_of_day(), b.seconds_of_day()
        return (x > y) - (x < y)
    if isinstance(a, DayTimeDuration) and isinstance(b, DayTimeDuration):
        x, y = a.microseconds, b.microseconds
        return (x > y) - (x < y)
    if isinstance(a, YearMonthDuration) and isinstance(b, YearMonthDuration):
        x, y = a.months, b.months
        return (x > y) - (x < y)
    return None


def range_contains(rng: Range, value: Any) -> bool | None:
    """Whether a point lies in a range (null when the types do not compare)."""
    if rng.start is not UNBOUNDED:
        order = feel_compare(rng.start, value)
        if order is None:
            return None
        if order > 0 or (order == 0 and not rng.start_included):
            return False
    if rng.end is not UNBOUNDED:
        order = feel_compare(value, rng.end)
        if order is None:
            return None
        if order > 0 or (order == 0 and not rng.end_included):
            return False
    return True
