"""Small, pure functions that damage a value the way people and systems do.

Each takes the generator's `random.Random`, so a seed reproduces every mistake.
"""

import hashlib
import random
from datetime import date

from demo.synth.tables import KEYBOARD_NEIGHBOURS, OCR_CONFUSIONS, TYPO_KINDS, ErrorKind


def typo(rng: random.Random, text: str) -> tuple[str, ErrorKind]:
    """One keying or scanning mistake in ``text``; the kind is returned with the result."""
    if len(text) < 3:
        return text + text[-1:], ErrorKind.TYPO_INSERTION
    kind = TYPO_KINDS[rng.randrange(len(TYPO_KINDS))]
    # The first letter is rarely wrong: people check it, and indexes sort by it.
    i = rng.randrange(1, len(text) - 1)
    if kind == ErrorKind.TYPO_OCR:
        hits = [(a, b) for a, b in OCR_CONFUSIONS if a in text[1:]]
        if hits:
            a, b = hits[rng.randrange(len(hits))]
            at = text.index(a, 1)
            return text[:at] + b + text[at + len(a) :], kind
        kind = ErrorKind.TYPO_SUBSTITUTION
    if kind == ErrorKind.TYPO_TRANSPOSITION and text[i] != text[i + 1]:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :], kind
    if kind == ErrorKind.TYPO_DELETION:
        return text[:i] + text[i + 1 :], kind
    if kind == ErrorKind.TYPO_INSERTION:
        return text[: i + 1] + text[i] + text[i + 1 :], kind
    near = KEYBOARD_NEIGHBOURS.get(text[i].lower(), "")
    if not near:
        return text[:i] + text[i + 1 :], ErrorKind.TYPO_DELETION
    swap = near[rng.randrange(len(near))]
    if text[i].isupper():
        swap = swap.upper()
    return text[:i] + swap + text[i + 1 :], ErrorKind.TYPO_SUBSTITUTION


def digits_mistype(rng: random.Random, digits: str) -> str:
    """One digit wrong, or two neighbours swapped (never the same string back)."""
    i = rng.randrange(len(digits) - 1)
    if rng.random() < 0.5 and digits[i] != digits[i + 1]:
        return digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
    wrong = str((int(digits[i]) + rng.randrange(1, 10)) % 10)
    return digits[:i] + wrong + digits[i + 1 :]


def date_swap_day_month(value: date) -> date | None:
    """The American reading of a British date, when that is still a date."""
    if value.day > 12 or value.day == value.month:
        return None
    return value.replace(month=value.day, day=value.month)


def date_typo(rng: random.Random, value: date, *, latest: date) -> date:
    """A slip in the year (last two digits swapped or off by one) or the day."""
    year = value.year
    if rng.random() < 0.6:
        tens, units = divmod(year % 100, 10)
        swapped = year - year % 100 + units * 10 + tens
        year = swapped if swapped != year and swapped < latest.year else year + rng.choice((-1, 1))
        try:
            return value.replace(year=year)
        except ValueError:  # 29 February
            return value.replace(year=year, day=28)
    day = value.day + rng.choice((-1, 1))
    if not 1 <= day <= 28:
        day = 2 if value.day == 1 else value.day - 1
    return value.replace(day=day)


def unparseable_date(rng: random.Random, value: date) -> str:
    """What a legacy system exports when nobody validated the field."""
    options = (
        f"31/02/{value.year}",
        f"{value.day:02d}/{value.month:02d}/{value.year % 100:02d}?",
        f"c. {value.year}",
        "unknown",
        f"{value.year}-00-00",
        f"{value.day:02d}.{value.month:02d}",
    )
    return options[rng.randrange(len(options))]


def postcode_typo(rng: random.Random, postcode: str) -> str:
    """A swapped or mistyped character in a postcode (the space stays where it is)."""
    chars = list(postcode)
    spots = [i for i, c in enumerate(chars) if c != " "]
    i = spots[rng.randrange(1, len(spots))]
    if chars[i].isdigit():
        chars[i] = str((int(chars[i]) + rng.randrange(1, 10)) % 10)
    else:
        near = KEYBOARD_NEIGHBOURS.get(chars[i].lower(), "q")
        chars[i] = near[rng.randrange(len(near))].upper()
    return "".join(chars)


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit of a string of digits (national IDs carry one)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        d = int(char)
        if position % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


def scramble(number: int, *, key: str, half: int = 10_000) -> int:
    """A keyed permutation of ``range(half**2)`` (a four-round Feistel network).

    Sequential counters become unique numbers that reveal nothing of the order in which
    people were generated, without remembering which numbers were handed out.
    """
    if not 0 <= number < half * half:
        raise ValueError(f"{number} is outside the permuted range")
    left, right = divmod(number, half)
    for round_ in range(4):
        digest = hashlib.blake2b(f"{key}:{round_}:{right}".encode(), digest_size=8).digest()
        left, right = right, (left + int.from_bytes(digest)) % half
    return left * half + right
