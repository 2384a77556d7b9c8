"""Standardising person fields before they are compared.

Linkage compares the `std_*` copies made here, never the source's own words, which stay as
sent. Each function takes what a source sent and returns the standard form, or "" when
nothing usable is left; `phone` and `parse_date` raise `ValueError` with a message a data
steward can act on, because a value that cannot be read is a validation error of its row.

- names: Unicode NFKC, accents removed, case folded, punctuation dropped, hyphens and runs
  of spaces made single spaces; the given name's root resolves nicknames ("bill" ->
  "william") from the `nicknames` data set;
- addresses: as names, with street-type abbreviations expanded ("rd" -> "road");
- postcodes: upper case, letters and digits only;
- phones: E.164 (phonenumbers), national numbers read in the deployment's region
  (`REGISTRY_PHONE_REGION`, default "GB");
- e-mail: trimmed and lower-cased, checked for one "@" and a dotted domain;
- dates: any of the formats a feed declares (strptime formats), ISO 8601 by default; a
  two-digit year that would put the date in the future is read as last century
  ("01/02/35" is 1935), and an impossible date says so ("31/02/1980 is not a real date").

Names repeat across millions of records, so their standard forms are cached.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import cache, lru_cache

import phonenumbers
from django.conf import settings

DEFAULT_DATE_FORMATS = ("%Y-%m-%d",)

_PUNCTUATION = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
# The shapes of a UK number that need no parsing: 0 + ten digits, or +44 + ten digits.
_GB_NATIONAL = re.compile(r"^0([1-9]\d{9})$")
_GB_INTERNATIONAL = re.compile(r"^\+44([1-9]\d{9})$")
_DAY_OUT_OF_RANGE = "day is out of range for month"

# Street types as agencies abbreviate them (Royal Mail / USPS style), expanded.
STREET_TYPES = {
    "rd": "road",
    "st": "street",
    "str": "street",
    "ave": "avenue",
    "av": "avenue",
    "ln": "lane",
    "dr": "drive",
    "cres": "crescent",
    "cr": "crescent",
    "gdns": "gardens",
    "ter": "terrace",
    "terr": "terrace",
    "pl": "place",
    "ct": "court",
    "sq": "square",
    "cl": "close",
    "hwy": "highway",
    "blvd": "boulevard",
    "pk": "park",
    "grn": "green",
    "apt": "flat",
}


def fold(text: str | None) -> str:
    """Compatibility-normalised, accent-free, case-folded text with single spaces."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold().replace("-", " ").replace("'", "").replace("\u2019", "")
    text = _PUNCTUATION.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


@lru_cache(maxsize=200_000)
def _name(text: str) -> str:
    return fold(text)


def name(text: str | None) -> str:
    return _name(text) if text else ""


@cache
def _nicknamer() -> object:
    from nicknames import NickNamer

    return NickNamer()


@cache
def given_names(std_name: str) -> frozenset[str]:
    """The first given name and every formal name it may be a nickname of."""
    first = std_name.split(" ", 1)[0] if std_name else ""
    if not first:
        return frozenset()
    return frozenset({first, *_nicknamer().canonicals_of(first)})  # type: ignore[attr-defined]


@cache
def given_name_root(std_name: str) -> str:
    """The formal name a nickname most likely stands for ("bob" -> "robert").

    The data set is many-to-many ("bill" is listed under "william" and "robert"), so of the
    name and its formal names the most formal wins: most nicknames of its own less the
    names it is itself a nickname of, then alphabetical order, so the choice never depends
    on the order of the data. Linkage also compares `given_names` sets, which keep every
    reading.
    """
    namer = _nicknamer()

    def formality(candidate: str) -> tuple[int, str]:
        own = len(namer.nicknames_of(candidate)) - len(namer.canonicals_of(candidate))  # type: ignore[attr-defined]
        return -own, candidate

    names = given_names(std_name)
    return min(names, key=formality) if names else ""


def address(text: str | None) -> str:
    return _address(text) if text else ""


@lru_cache(maxsize=200_000)
def _address(text: str) -> str:
    # A household's address comes from every agency that holds each of its members.
    words = fold(text).split(" ")
    return " ".join(STREET_TYPES.get(w, w) for w in words if w)


def postcode(text: str | None) -> str:
    return _postcode(text) if text else ""


@lru_cache(maxsize=200_000)
def _postcode(text: str) -> str:
    return _NOT_ALNUM.sub("", fold(text).upper())


def phone_region() -> str:
    return str(getattr(settings, "REGISTRY_PHONE_REGION", "GB"))


def phone(text: str | None, region: str | None = None) -> str:
    """The number in E.164 ("+447700900123"); "" for nothing; ValueError if unreadable."""
    if not text or not text.strip():
        return ""
    region = region or phone_region()
    if region == "GB":
        # Most numbers come in one of two shapes; phonenumbers is ten times slower.
        compact = _PHONE_SEPARATORS.sub("", text)
        found = _GB_NATIONAL.match(compact) or _GB_INTERNATIONAL.match(compact)
        if found:
            return "+44" + found.group(1)
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number ({exc})") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def email(text: str | None) -> str:
    """The address trimmed and lower-cased; "" for nothing; ValueError if malformed."""
    if not text or not text.strip():
        return ""
    value = unicodedata.normalize("NFKC", text).strip().lower()
    if not _EMAIL.match(value):
        raise ValueError("not an e-mail address")
    return value


def parse_date(
    text: str | None, formats: tuple[str, ...] | list[str] = DEFAULT_DATE_FORMATS
) -> date | None:
    """The date in the first declared format that reads it; None for nothing.

    ValueError names the formats tried when none reads it, and says so when the date
    is impossible (30 February) or in the future.
    """
    if text is None or not str(text).strip():
        return None
    value = str(text).strip()
    impossible = False
    for fmt in formats:
        parsed = _read_date(value, fmt)
        if parsed is None:
            continue
        if parsed is _IMPOSSIBLE:
            impossible = True
            continue
        assert isinstance(parsed, date)  # narrows the sentinel away
        if parsed > date.today():
            if "%y" in fmt:
                # A two-digit year means the most recent such year that is not to come.
                parsed = parsed.replace(year=parsed.year - 100)
            else:
                raise ValueError(f"{value} is in the future")
        return parsed
    if impossible:
        raise ValueError(f"{value} is not a real date")
    raise ValueError(f"{value!r} is not a date in any of the formats {', '.join(formats)}")


_IMPOSSIBLE = object()
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DIRECTIVES = {
    "d": r"(?P<d>\d{1,2})",
    "m": r"(?P<m>\d{1,2})",
    "Y": r"(?P<Y>\d{4})",
    "b": r"(?P<b>[A-Za-z]{3})",
    "H": r"(?P<H>\d{1,2})",
    "M": r"(?P<M>\d{1,2})",
    "S": r"(?P<S>\d{1,2})",
}


@lru_cache(maxsize=256)
def _fast_pattern(fmt: str) -> re.Pattern[str] | None:
    """A regex for a format of plain numeric directives, else None (strptime reads it).

    strptime is general and slow; feeds repeat one format millions of times.
    """
    parts: list[str] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            directive = fmt[i + 1 : i + 2]
            if directive not in _DIRECTIVES or _DIRECTIVES[directive] in parts:
                return None
            parts.append(_DIRECTIVES[directive])
            i += 2
        else:
            parts.append(re.escape(fmt[i]))
            i += 1
    return re.compile("".join(parts) + r"\Z")


def read_datetime(value: str, fmt: str) -> datetime | None:
    """`value` in strptime format `fmt`; None if it does not fit; ValueError if impossible."""
    pattern = _fast_pattern(fmt)
    if pattern is None:
        try:
            return datetime.strptime(value, fmt)
        except ValueError as exc:
            if _DAY_OUT_OF_RANGE in str(exc):
                raise
            return None
    found = pattern.match(value)
    if found is None:
        return None
    parts = found.groupdict()
    if "b" in parts:
        name = parts["b"].lower()
        if name not in _MONTHS:
            return None
        month = _MONTHS.index(name) + 1
    else:
        month = int(parts["m"])
    return datetime(
        int(parts["Y"]),
        month,
        int(parts["d"]),
        int(parts.get("H") or 0),
        int(parts.get("M") or 0),
        int(parts.get("S") or 0),
    )


def _read_date(value: str, fmt: str) -> date | object | None:
    if fmt == "%Y-%m-%d" and len(value) == 10:
        try:
            return date.fromisoformat(value)  # five times faster than strptime
        except ValueError:
            pass
    try:
        parsed = read_datetime(value, fmt)
    except ValueError:
        return _IMPOSSIBLE
    return None if parsed is None else parsed.date()
