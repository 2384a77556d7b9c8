"""Parsing, arithmetic and properties of FEEL dates, times and durations."""

from __future__ import annotations

import calendar
import datetime as dt
import re
import zoneinfo
from decimal import Decimal
from typing import Any

from .values import DECIMAL_CONTEXT, DayTimeDuration, FeelTime, YearMonthDuration

_DATE = re.compile(r"(-?\d{4,9})-(\d\d)-(\d\d)")
_TIME = re.compile(
    r"(\d\d):(\d\d):(\d\d)(?:\.(\d+))?"
    r"(?:(Z|z)|([+-])(\d\d):(\d\d)(?::(\d\d))?|@([A-Za-z][A-Za-z0-9_+\-/]*))?"
)
_YM = re.compile(r"(-)?P(?:(\d+)Y)?(?:(\d+)M)?")
_DT = re.compile(r"(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d*)?)S)?)?")
_MICRO = Decimal(1_000_000)
UTC = dt.UTC


def parse_date(text: str) -> dt.date | None:
    match = _DATE.fullmatch(text)
    if not match:
        return None
    year, month, day = (int(group) for group in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _zone(name: str) -> dt.tzinfo | None:
    if len(name) > 64 or ".." in name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def _parse_time_parts(text: str) -> tuple[int, int, int, int, dt.tzinfo | None, bool] | None:
    match = _TIME.fullmatch(text)
    if not match:
        return None
    hour, minute, second = int(match[1]), int(match[2]), int(match[3])
    micros = int((match[4] or "0")[:6].ljust(6, "0"))
    tz: dt.tzinfo | None = None
    if match[5]:
        tz = UTC
    elif match[6]:
        hours, minutes, seconds = int(match[7]), int(match[8]), int(match[9] or 0)
        if hours > 14 or minutes > 59:
            return None
        offset = dt.timedelta(hours=hours, minutes=minutes, seconds=seconds)
        tz = dt.timezone(-offset if match[6] == "-" else offset)
    elif match[10]:
        tz = _zone(match[10])
        if tz is None:
            return None
    end_of_day = hour == 24 and minute == 0 and second == 0 and micros == 0
    if (hour > 23 and not end_of_day) or minute > 59 or second > 59:
        return None
    return hour % 24, minute, second, micros, tz, end_of_day


def parse_time(text: str) -> FeelTime | None:
    parts = _parse_time_parts(text)
    if parts is None:
        return None
    hour, minute, second, micros, tz, _ = parts
    return FeelTime(hour, minute, second, micros, tz)


def parse_datetime(text: str) -> dt.datetime | None:
    date_text, sep, time_text = text.partition("T")
    date = parse_date(date_text)
    if date is None:
        return None
    if not sep:
        return dt.datetime(date.year, date.month, date.day)
    parts = _parse_time_parts(time_text)
    if parts is None:
        return None
    hour, minute, second, micros, tz, end_of_day = parts
    value = dt.datetime(date.year, date.month, date.day, hour, minute, second, micros, tz)
    if end_of_day:
        value += dt.timedelta(days=1)
    return value


def parse_duration(text: str) -> DayTimeDuration | YearMonthDuration | None:
    if not text or text in ("P", "-P") or text.endswith("T"):
        return None
    match = _YM.fullmatch(text)
    if match and (match[2] or match[3]):
        months = int(match[2] or 0) * 12 + int(match[3] or 0)
        return YearMonthDuration(-months if match[1] else months)
    match = _DT.fullmatch(text)
    if match and any(match[i] for i in range(2, 6)):
        days, hours, minutes = int(match[2] or 0), int(match[3] or 0), int(match[4] or 0)
        seconds = Decimal(match[5] or 0)
        micros = ((days * 24 + hours) * 60 + minutes) * 60_000_000 + int(seconds * _MICRO)
        return DayTimeDuration(-micros if match[1] else micros)
    return None


def parse_temporal(text: str) -> Any:
    """The value of an @"..." literal: a date, time, date and time or duration (None if none)."""
    if text.startswith(("P", "-P")):
        return parse_duration(text)
    if re.match(r"-?\d{4,9}-\d\d-\d\dT", text):
        return parse_datetime(text)
    if _DATE.fullmatch(text):
        return parse_date(text)
    return parse_time(text)


def add_months(value: dt.date, months: int) -> dt.date | None:
    """A date (or date and time) moved by whole months, the day clamped to the month's end."""
    total = value.year * 12 + value.month - 1 + months
    year, month = divmod(total, 12)
    if not 1 <= year <= 9999:
        return None
    day = min(value.day, calendar.monthrange(year, month + 1)[1])
    return value.replace(year=year, month=month + 1, day=day)


def to_datetime(value: dt.date) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)


def subtract_datetimes(a: dt.date, b: dt.date) -> DayTimeDuration | None:
    if not isinstance(a, dt.datetime) and not isinstance(b, dt.datetime):
        return DayTimeDuration((a - b).days * 86_400_000_000)
    x, y = to_datetime(a), to_datetime(b)
    if (x.tzinfo is None) != (y.tzinfo is None):
        if x.tzinfo is None:
            x = x.replace(tzinfo=UTC)
        else:
            y = y.replace(tzinfo=UTC)
    return DayTimeDuration.from_timedelta(x - y)


def add_duration(value: Any, duration: Any, sign: int) -> Any:
    """date/date and time/time plus or minus a duration; None when the kinds do not combine."""
    try:
        if isinstance(duration, YearMonthDuration):
            if isinstance(value, dt.date):
                return add_months(value, sign * duration.months)
            return None
        if not isinstance(duration, DayTimeDuration):
            return None
        delta = dt.timedelta(microseconds=sign * duration.microseconds)
        if isinstance(value, dt.datetime):
            return value + delta
        if isinstance(value, dt.date):
            return (dt.datetime(value.year, value.month, value.day) + delta).date()
        if isinstance(value, FeelTime):
            moved = dt.datetime.combine(dt.date(2000, 1, 1), value.to_time()) + delta
            return FeelTime(moved.hour, moved.minute, moved.second, moved.microsecond, value.tzinfo)
    except OverflowError:
        return None
    return None


def subtract_times(a: FeelTime, b: FeelTime) -> DayTimeDuration | None:
    if (a.tzinfo is None) != (b.tzinfo is None):
        return None
    return DayTimeDuration(a.seconds_of_day() - b.seconds_of_day())


def duration_seconds(value: DayTimeDuration) -> Decimal:
    return DECIMAL_CONTEXT.divide(Decimal(value.microseconds), _MICRO)


def property_of(value: Any, name: str) -> tuple[bool, Any]:
    """(found, value) of a documented property of a temporal value."""
    if isinstance(value, dt.date):
        if name == "year":
            return True, Decimal(value.year)
        if name == "month":
            return True, Decimal(value.month)
        if name == "day":
            return True, Decimal(value.day)
        if name == "weekday":
            return True, Decimal(value.isoweekday())
    if isinstance(value, (dt.datetime, FeelTime)):
        if name == "hour":
            return True, Decimal(value.hour)
        if name == "minute":
            return True, Decimal(value.minute)
        if name == "second":
            return True, Decimal(value.second)
        if name in ("time offset", "timezone"):
            tzinfo = value.tzinfo
            if tzinfo is None:
                return True, None
            key = getattr(tzinfo, "key", None)
            if name == "timezone":
                return True, key if isinstance(key, str) else None
            offset = value.utcoffset() if isinstance(value, dt.datetime) else value.utc_offset()
            return True, DayTimeDuration.from_timedelta(offset) if offset is not None else None
    if isinstance(value, DayTimeDuration):
        sign, days, hours, minutes, micros = value.parts()
        if name == "days":
            return True, Decimal(sign * days)
        if name == "hours":
            return True, Decimal(sign * hours)
        if name == "minutes":
            return True, Decimal(sign * minutes)
        if name == "seconds":
            return True, Decimal(sign * (micros // 1_000_000))
    if isinstance(value, YearMonthDuration):
        if name == "years":
            return True, Decimal(value.years)
        if name == "months":
            return True, Decimal(value.months_part)
    return False, None
