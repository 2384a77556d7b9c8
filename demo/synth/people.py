"""The true population: households of people as they really are.

Nothing here is stored: each household is built from the random stream, handed on, and
forgotten, so memory stays flat however many people are asked for.
"""

import bisect
import itertools
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from demo.synth.noise import luhn_check_digit, scramble
from demo.synth.tables import (
    EMAIL_DOMAINS,
    FAMILY_NAMES,
    FEMALE_GIVEN_NAMES,
    INWARD_LETTERS,
    MALE_GIVEN_NAMES,
    POSTCODE_AREAS,
    STREET_ENDINGS,
    STREET_STEMS,
    TOWN_ENDINGS,
    TOWN_STEMS,
)

YEAR = 365


@dataclass(frozen=True, slots=True)
class Address:
    line: str
    locality: str
    postcode: str


@dataclass(slots=True)
class TruePerson:
    """One real (synthetic) person; every agency record about them derives from this."""

    person_id: str
    household_id: str
    given_name: str
    middle_name: str
    family_name: str
    date_of_birth: date
    sex: str
    national_id: str
    address: Address
    phone: str = ""
    email: str = ""
    # Family name before marriage, and the day it changed (None: never changed).
    birth_family_name: str = ""
    name_changed_on: date | None = None
    # The address before the household's last move, and the day it moved.
    previous_address: Address | None = None
    moved_on: date | None = None
    twin: bool = False
    featured: bool = False

    def age_on(self, day: date) -> int:
        dob = self.date_of_birth
        return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))


@dataclass(frozen=True, slots=True)
class Town:
    name: str
    area: str
    districts: int


def ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


class PeopleFactory:
    """Draws households from one `random.Random`; identical seeds give identical people."""

    HOUSEHOLD_KINDS = ("single", "couple", "family", "single_parent", "shared")
    HOUSEHOLD_WEIGHTS = (30, 22, 28, 10, 10)

    def __init__(self, *, rng: random.Random, seed: int, today: date) -> None:
        self.rng = rng
        self.today = today
        self._person_seq = itertools.count(1)
        self._household_seq = itertools.count(1)
        self._nid_key = f"national-id:{seed}"
        self._male = MALE_GIVEN_NAMES
        self._female = FEMALE_GIVEN_NAMES
        self._families = [name for name, _ in FAMILY_NAMES]
        self._family_cum = list(itertools.accumulate(w for _, w in FAMILY_NAMES))
        self._towns = self._draw_towns()
        # Bigger towns come first and are drawn more often (Zipf-like).
        self._town_cum = list(itertools.accumulate(1 / (i + 1) for i in range(len(self._towns))))
        self._streets = self._draw_streets()

    # --- pools, drawn once per run ----------------------------------------------------

    def _draw_towns(self) -> list[Town]:
        rng = self.rng
        names = sorted({s + e for s in TOWN_STEMS for e in TOWN_ENDINGS})
        rng.shuffle(names)
        areas = list(POSTCODE_AREAS)
        rng.shuffle(areas)
        return [
            Town(name=name, area=areas[i % len(areas)], districts=rng.randint(2, 30))
            for i, name in enumerate(names[:240])
        ]

    def _draw_streets(self) -> list[str]:
        names = sorted({f"{s} {e}" for s in STREET_STEMS for e in STREET_ENDINGS})
        self.rng.shuffle(names)
        return names[:900]

    # --- single draws ---------------------------------------------------------------

    def family_name(self) -> str:
        rng = self.rng
        i = bisect.bisect(self._family_cum, rng.random() * self._family_cum[-1])
        name = self._families[min(i, len(self._families) - 1)]
        if rng.random() < 0.03:  # double-barrelled
            j = bisect.bisect(self._family_cum, rng.random() * self._family_cum[-1])
            other = self._families[min(j, len(self._families) - 1)]
            if other != name:
                name = f"{name}-{other}"
        return name

    def given_name(self, sex: str) -> str:
        pool = (
            self._female if sex == "F" or (sex == "X" and self.rng.random() < 0.5) else self._male
        )
        return pool[self.rng.randrange(len(pool))]

    def address(self) -> Address:
        rng = self.rng
        i = bisect.bisect(self._town_cum, rng.random() * self._town_cum[-1])
        town = self._towns[min(i, len(self._towns) - 1)]
        street = self._streets[rng.randrange(len(self._streets))]
        number = rng.randint(1, 180)
        line = f"{number} {street}"
        if rng.random() < 0.15:
            line = f"Flat {rng.randint(1, 24)}, {line}"
        district = rng.randint(1, town.districts)
        letters = INWARD_LETTERS
        postcode = (
            f"{town.area}{district} {rng.randint(1, 9)}"
            f"{letters[rng.randrange(len(letters))]}{letters[rng.randrange(len(letters))]}"
        )
        return Address(line=line, locality=town.name, postcode=postcode)

    def national_id(self, index: int) -> str:
        """Ten digits: a non-zero issue digit, eight unique digits, a Luhn check digit."""
        unique = scramble(index, key=self._nid_key)
        base = f"{1 + unique % 9}{unique:08d}"
        return base + luhn_check_digit(base)

    def born(self, age: int) -> date:
        days = age * YEAR + age // 4 + self.rng.randrange(YEAR)
        return date.fromordinal(self.today.toordinal() - days)

    def past_day(self, *, min_days: int, max_days: int) -> date:
        return date.fromordinal(
            self.today.toordinal() - self.rng.randint(min_days, max(min_days, max_days))
        )

    def person(
        self, *, household_id: str, family_name: str, sex: str, age: int, address: Address
    ) -> TruePerson:
        rng = self.rng
        index = next(self._person_seq)
        given = self.given_name(sex)
        middle = self.given_name(sex) if rng.random() < 0.6 else ""
        if middle == given:
            middle = ""
        person = TruePerson(
            person_id=f"P{index:08d}",
            household_id=household_id,
            given_name=given,
            middle_name=middle,
            family_name=family_name,
            birth_family_name=family_name,
            date_of_birth=self.born(age),
            sex=sex,
            national_id=self.national_id(index),
            address=address,
        )
        if age >= 12 and rng.random() < (0.95 if age >= 18 else 0.6):
            person.phone = "07" + "".join(str(rng.randrange(10)) for _ in range(9))
        if age >= 13 and rng.random() < (0.85 if age >= 18 else 0.4):
            person.email = self.email(given, family_name)
        return person

    def email(self, given: str, family: str) -> str:
        rng = self.rng
        local = "".join(
            c for c in ascii_fold(f"{given}.{family}").lower() if c.isalnum() or c in ".-"
        )
        suffix = str(rng.randrange(1, 100)) if rng.random() < 0.5 else ""
        return f"{local}{suffix}@{EMAIL_DOMAINS[rng.randrange(len(EMAIL_DOMAINS))]}"

    def sex(self) -> str:
        r = self.rng.random()
        return "X" if r < 0.002 else ("F" if r < 0.501 else "M")

    # --- households -------------------------------------------------------------------

    def household(self) -> list[TruePerson]:
        """One household: people sharing an address (and, mostly, a family name)."""
        rng = self.rng
        household_id = f"H{next(self._household_seq):08d}"
        kind = rng.choices(self.HOUSEHOLD_KINDS, self.HOUSEHOLD_WEIGHTS)[0]
        address = self.address()
        family = self.family_name()
        members: list[TruePerson] = []

        def add(*, sex: str, age: int, family_name: str = family) -> TruePerson:
            member = self.person(
                household_id=household_id,
                family_name=family_name,
                sex=sex,
                age=age,
                address=address,
            )
            members.append(member)
            return member

        head_age = int(rng.triangular(18, 95, 38))
        if kind == "shared":
            for _ in range(rng.randint(2, 4)):
                add(sex=self.sex(), age=rng.randint(19, 35), family_name=self.family_name())
        else:
            head = add(sex=self.sex() if kind != "single_parent" else "F", age=head_age)
            if kind in ("couple", "family"):
                partner_sex = ("M" if head.sex == "F" else "F") if rng.random() < 0.93 else head.sex
                partner_age = min(95, max(18, head_age + round(rng.gauss(0, 4))))
                partner = add(sex=partner_sex, age=partner_age)
                self._marriage(head, partner)
            if kind in ("family", "single_parent"):
                youngest_parent = min(m.age_on(self.today) for m in members)
                self._children(add, youngest_parent=youngest_parent)
        if rng.random() < 0.22:
            moved_on = self.past_day(min_days=30, max_days=8 * YEAR)
            previous = self.address()
            for member in members:
                if member.date_of_birth < moved_on:
                    member.previous_address = previous
                    member.moved_on = moved_on
        return members

    def _marriage(self, head: TruePerson, partner: TruePerson) -> None:
        """Married couples mostly share a name; one of them changed it on marrying."""
        rng = self.rng
        if rng.random() >= 0.6 or rng.random() >= 0.75:
            # Not married, or both kept their names.
            partner.family_name = partner.birth_family_name = self.family_name()
            if partner.email:
                partner.email = self.email(partner.given_name, partner.family_name)
            return
        takes = partner if partner.sex == "F" or rng.random() < 0.3 else head
        takes.birth_family_name = self.family_name()
        youngest = min(head.age_on(self.today), partner.age_on(self.today))
        if rng.random() < 0.3:
            takes.name_changed_on = self.past_day(min_days=30, max_days=5 * YEAR)
        else:
            takes.name_changed_on = self.past_day(
                min_days=5 * YEAR, max_days=max(5, youngest - 18) * YEAR
            )

    def _children(self, add: Callable[..., TruePerson], *, youngest_parent: int) -> None:
        rng = self.rng
        count = rng.choices((1, 2, 3, 4), (40, 40, 15, 5))[0]
        oldest_possible = max(0, youngest_parent - 18)
        previous: TruePerson | None = None
        for n in range(count):
            limit = min(oldest_possible, 24 if rng.random() < 0.1 else 17)
            age = rng.randint(0, limit)
            child = add(sex="F" if rng.random() < 0.49 else "M", age=age)
            if n == 1 and previous is not None and rng.random() < 0.05:
                # Twins: same birthday, same surname, same address. Only the name differs.
                child.date_of_birth = previous.date_of_birth
                child.twin = previous.twin = True
                if rng.random() < 0.3:
                    pool = [
                        g
                        for g in (self._female if child.sex == "F" else self._male)
                        if g[0] == previous.given_name[0] and g != previous.given_name
                    ]
                    if pool:
                        child.given_name = pool[rng.randrange(len(pool))]
            previous = child
