"""Each agency's copy of a person: who it holds, how stale, how it formats, what goes wrong."""

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from demo.synth import noise
from demo.synth.people import Address, TruePerson
from demo.synth.profiles import AgencyProfile
from demo.synth.tables import (
    EMPLOYMENT,
    GP_PRACTICE_KINDS,
    NICKNAMES,
    SOCIAL_SERVICES,
    SPELLINGS,
    STREET_ABBREVIATIONS,
    ErrorKind,
)


@dataclass(slots=True)
class SynthRecord:
    """A person as one agency's source system holds it (the shape of registry.SourceRecord)."""

    agency: str
    agency_record_id: str
    true_person_id: str
    given_name: str
    middle_name: str
    family_name: str
    previous_family_name: str
    date_of_birth: date | None
    date_of_birth_raw: str
    sex: str
    address_line: str
    locality: str
    postcode: str
    phone: str
    email: str
    national_id: str
    household_ref: str
    source_updated_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)
    errors: tuple[ErrorKind, ...] = ()


def stable_hash(*parts: object, length: int = 8) -> str:
    """A short digest that does not change between runs (unlike `hash()`)."""
    text = ":".join(str(p) for p in parts).encode()
    return hashlib.blake2b(text, digest_size=16).hexdigest()[:length].upper()


class AgencyClerk:
    """Writes an agency's records about people, mistakes included, for one run."""

    def __init__(self, *, profile: AgencyProfile, rng: random.Random, seed: int, today: date):
        self.profile = profile
        self.rng = rng
        self.seed = seed
        self.today = today
        self._count = 0
        self._key = f"record-id:{seed}:{profile.code}"

    def holds(self, person: TruePerson, *, household_client: bool) -> bool:
        """Whether this agency has the person on its books at all."""
        p, rng = self.profile, self.rng
        if person.featured:
            return True
        if p.household_based:
            return rng.random() < (0.9 if household_client else 0.02)
        rate = p.coverage if person.age_on(self.today) >= p.min_age else p.child_coverage
        return rng.random() < rate

    def _next_id(self) -> tuple[int, str]:
        self._count += 1
        number = noise.scramble(self._count, key=self._key)
        return number, f"{self.profile.record_prefix}{number:08d}"

    def records(self, person: TruePerson) -> list[SynthRecord]:
        """The agency's record of the person, and now and then a duplicate of it."""
        first = self.record(person)
        if person.featured or self.rng.random() >= self.profile.duplicate:
            return [first]
        return [first, self.duplicate(person)]

    def duplicate(self, person: TruePerson) -> SynthRecord:
        """A second registration: its own id and its own small differences."""
        dup = self.record(person)
        errors = list(dup.errors)
        choice = self.rng.randrange(4)
        if choice == 0 and dup.given_name:
            dup.given_name, kind = noise.typo(self.rng, dup.given_name)
            errors.append(kind)
        elif choice == 1 and dup.national_id:
            dup.national_id = ""
            errors = [e for e in errors if e != ErrorKind.NATIONAL_ID_MISTYPED]
            errors.append(ErrorKind.NATIONAL_ID_MISSING)
        elif choice == 2 and dup.middle_name:
            dup.middle_name = ""
            errors = [e for e in errors if e != ErrorKind.MIDDLE_NAME_INITIAL]
            errors.append(ErrorKind.MIDDLE_NAME_DROPPED)
        else:
            dup.phone = dup.email = ""
        errors.append(ErrorKind.DUPLICATE)
        dup.errors = tuple(dict.fromkeys(errors))
        return dup

    def record(self, person: TruePerson) -> SynthRecord:
        p, rng = self.profile, self.rng
        errors: list[ErrorKind] = []
        # When the agency last heard from the person decides which name and address it has.
        age_days = int(p.staleness_years * 365 * rng.random() ** 1.5)
        updated = date.fromordinal(
            max(self.today.toordinal() - age_days, person.date_of_birth.toordinal())
        )

        family, previous = person.family_name, ""
        if person.name_changed_on is not None:
            if updated < person.name_changed_on:
                family = person.birth_family_name
                errors.append(ErrorKind.NAME_CHANGE)
            elif rng.random() < p.previous_name:
                previous = person.birth_family_name
        if "-" in family and rng.random() < p.family_partial:
            family = family.split("-", 1)[0]
            errors.append(ErrorKind.FAMILY_NAME_PARTIAL)
        given = person.given_name
        if given in NICKNAMES and rng.random() < p.nickname:
            shorts = NICKNAMES[given][1]
            given = shorts[rng.randrange(len(shorts))]
            errors.append(ErrorKind.NICKNAME)
        given = self._spell(given, errors)
        family = self._spell(family, errors)
        if rng.random() < p.typo:
            given, kind = noise.typo(rng, given)
            errors.append(kind)
        if rng.random() < p.typo:
            family, kind = noise.typo(rng, family)
            errors.append(kind)
        middle = person.middle_name
        if middle:
            r = rng.random()
            if r < p.middle_dropped:
                middle = ""
                errors.append(ErrorKind.MIDDLE_NAME_DROPPED)
            elif r < p.middle_dropped + p.middle_initial:
                middle = middle[0]
                errors.append(ErrorKind.MIDDLE_NAME_INITIAL)

        dob, dob_raw = self._date_of_birth(person.date_of_birth, errors)
        sex = person.sex
        if rng.random() < p.sex_missing:
            sex = ""
            errors.append(ErrorKind.SEX_MISSING)

        address = person.address
        if person.moved_on is not None and updated < person.moved_on:
            address = person.previous_address or address
            errors.append(ErrorKind.MOVED_ADDRESS)
        postcode = address.postcode
        if rng.random() < p.postcode_typo:
            postcode = noise.postcode_typo(rng, postcode)
            errors.append(ErrorKind.POSTCODE_TYPO)

        national_id = person.national_id
        r = rng.random()
        if r < p.national_id_missing:
            national_id = ""
            errors.append(ErrorKind.NATIONAL_ID_MISSING)
        elif r < p.national_id_missing + p.national_id_mistyped:
            national_id = noise.digits_mistype(rng, national_id)
            errors.append(ErrorKind.NATIONAL_ID_MISTYPED)

        phone = person.phone if rng.random() < p.holds_phone else ""
        if phone and p.international_phones:
            phone = f"+44 {phone[1:5]} {phone[5:]}"
        email = person.email if rng.random() < p.holds_email else ""

        number, record_id = self._next_id()
        record = SynthRecord(
            agency=p.code,
            agency_record_id=record_id,
            true_person_id=person.person_id,
            given_name=given,
            middle_name=middle,
            family_name=family,
            previous_family_name=previous,
            date_of_birth=dob,
            date_of_birth_raw=dob_raw,
            sex=sex,
            address_line=self._street(address),
            locality=address.locality,
            postcode=postcode.replace(" ", "") if p.compact_postcodes else postcode,
            phone=phone,
            email=email,
            national_id=national_id,
            household_ref=(
                f"HH-{stable_hash(self.seed, p.code, person.household_id)}"
                if p.household_refs
                else ""
            ),
            source_updated_at=datetime.combine(
                updated, time(rng.randrange(7, 19), rng.randrange(60)), tzinfo=UTC
            ),
            errors=tuple(dict.fromkeys(errors)),
        )
        if p.uppercase:
            record.given_name = record.given_name.upper()
            record.middle_name = record.middle_name.upper()
            record.family_name = record.family_name.upper()
            record.previous_family_name = record.previous_family_name.upper()
            record.address_line = record.address_line.upper()
            record.locality = record.locality.upper()
        record.extra = self._extra(person, record, number, updated)
        return record

    def _spell(self, name: str, errors: list[ErrorKind]) -> str:
        variants = SPELLINGS.get(name)
        if variants and self.rng.random() < self.profile.spelling:
            errors.append(ErrorKind.SPELLING_VARIANT)
            return variants[self.rng.randrange(len(variants))]
        return name

    def _date_of_birth(self, true_dob: date, errors: list[ErrorKind]) -> tuple[date | None, str]:
        p, r = self.profile, self.rng.random()
        if r < p.dob_missing:
            errors.append(ErrorKind.DOB_MISSING)
            return None, ""
        r -= p.dob_missing
        if r < p.dob_unparseable:
            errors.append(ErrorKind.DOB_UNPARSEABLE)
            return None, noise.unparseable_date(self.rng, true_dob)
        r -= p.dob_unparseable
        if r < p.dob_defaulted and (true_dob.month, true_dob.day) != (1, 1):
            errors.append(ErrorKind.DOB_DEFAULTED)
            return true_dob.replace(month=1, day=1), ""
        r -= p.dob_defaulted
        if r < p.dob_swapped:
            swapped = noise.date_swap_day_month(true_dob)
            if swapped is None:
                return true_dob, ""
            errors.append(ErrorKind.DOB_SWAPPED_DAY_MONTH)
            return swapped, ""
        r -= p.dob_swapped
        if r < p.dob_typo:
            errors.append(ErrorKind.DOB_TYPO)
            return noise.date_typo(self.rng, true_dob, latest=self.today), ""
        return true_dob, ""

    def _street(self, address: Address) -> str:
        line = address.line
        if self.profile.abbreviates_streets:
            head, _, last = line.rpartition(" ")
            line = f"{head} {STREET_ABBREVIATIONS.get(last, last)}"
        return line

    def _extra(
        self, person: TruePerson, record: SynthRecord, number: int, updated: date
    ) -> dict[str, Any]:
        """The agency's own attributes, beyond the common person schema."""
        rng, code = self.rng, self.profile.code
        age = person.age_on(self.today)
        if code == "revenue":
            band = "ABCDE"[min(4, max(0, int(rng.gauss(2, 1.1))))]
            status = (
                "retired"
                if age >= 67
                else "student"
                if age < 22 and rng.random() < 0.5
                else EMPLOYMENT[rng.choices(range(4), (70, 15, 3, 12))[0]]
            )
            return {
                "tax_reference": f"{(number * 37 + 1) % 10**10:010d}",
                "income_band": band,
                "employment_status": status,
            }
        if code == "health":
            town = record.locality.title()
            practice = GP_PRACTICE_KINDS[int(stable_hash("gp", town), 16) % 4]
            return {
                "health_number": f"{(number * 73 + 9) % 10**10:010d}",
                "gp_practice": f"{town} {practice}",
                "gp_practice_code": f"P{int(stable_hash('gpc', town), 16) % 10**5:05d}",
            }
        if code == "social-services":
            since = date.fromordinal(updated.toordinal() - rng.randrange(10 * 365))
            return {
                "benefit_reference": f"BR{(number * 91 + 5) % 10**8:08d}",
                "service": SOCIAL_SERVICES[rng.randrange(len(SOCIAL_SERVICES))],
                "client_since": max(since, person.date_of_birth).isoformat(),
            }
        return {
            "licence_number": licence_number(record, person.date_of_birth, rng),
            "licence_categories": "B" if rng.random() < 0.8 else "A, B",
        }


def licence_number(record: SynthRecord, dob: date, rng: random.Random) -> str:
    """A driving-licence number in the British style: it encodes name, birth date and sex."""
    letters = "".join(c for c in record.family_name.upper() if c.isalpha())
    surname = (letters + "99999")[:5]
    month = dob.month + (50 if record.sex == "F" else 0)
    initials = (record.given_name[:1] + record.middle_name[:1]).upper().ljust(2, "9")
    tail = "".join("ABCDEFGHJKLMNPRSTUVWXYZ"[rng.randrange(23)] for _ in range(2))
    return (
        f"{surname}{dob.year % 100 // 10}{month:02d}{dob.day:02d}{dob.year % 10}{initials}9{tail}"
    )
