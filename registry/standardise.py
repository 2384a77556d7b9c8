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
- dates: any of the formats a feed declares (strptime formats), ISO 8601 by default.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from functools import cache

import phonenumbers
from django.conf import settings

DEFAULT_DATE_FORMATS = ("%Y-%m-%d",)

_PUNCTUATION = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

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


def name(text: str | None) -> str:
    return fold(text)


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
    words = fold(text).split(" ")
    return " ".join(STREET_TYPES.get(w, w) for w in words if w)


def postcode(text: str | None) -> str:
    if not text:
        return ""
    return _NOT_ALNUM.sub("", fold(text).upper())


def phone_region() -> str:
    return str(getattr(settings, "REGISTRY_PHONE_REGION", "GB"))


def phone(text: str | None, region: str | None = None) -> str:
    """The number in E.164 ("+447700900123"); "" for nothing; ValueError if unreadable."""
    if not text or not text.strip():
        return ""
    try:
        parsed = phonenumbers.parse(text, region or phone_region())
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
    for fmt in formats:
        try:
            parsed = datetime.strptime(value, fmt).date()
        except ValueError:
            continue
        if parsed > date.today():
            raise ValueError(f"{value} is in the future")
        return parsed
    raise ValueError(f"{value!r} is not a date in any of the formats {', '.join(formats)}")
