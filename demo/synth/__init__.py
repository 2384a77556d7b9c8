"""The synthetic government's population, streamed household by household.

    population = Population(people=10_000, seed=42)
    for household in population.households():
        household.members   # the true people
        household.records   # what Revenue, Health, Social Services and Transport hold
    population.stats        # counts of records, people and every error kind so far

The same `people` and `seed` always give the same people and the same records; the
first households do not depend on `people`, so a bigger run extends a smaller one.
Memory does not grow with `people`: nothing is kept once a household is handed on.
"""

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

from demo.synth.agencies import AgencyClerk, SynthRecord
from demo.synth.people import Address, PeopleFactory, TruePerson
from demo.synth.profiles import AGENCIES, AGENCY_BY_CODE, AgencyProfile
from demo.synth.tables import ErrorKind

__all__ = [
    "AGENCIES",
    "AGENCY_BY_CODE",
    "REFERENCE_DATE",
    "Address",
    "AgencyProfile",
    "ErrorKind",
    "Household",
    "Population",
    "SynthRecord",
    "SynthStats",
    "TruePerson",
]

# "Today" in the synthetic world. Fixed, so that a seed gives the same data on any day.
REFERENCE_DATE = date(2025, 6, 30)


@dataclass(slots=True)
class Household:
    household_id: str
    members: list[TruePerson]
    records: list[SynthRecord]


@dataclass
class SynthStats:
    """Running counts, updated as households are generated (the generator's error log)."""

    people: int = 0
    households: int = 0
    twins: int = 0
    moved_people: int = 0
    renamed_people: int = 0
    records: Counter[str] = field(default_factory=Counter)  # per agency
    errors: Counter[str] = field(default_factory=Counter)  # per error kind
    errors_by_agency: Counter[tuple[str, str]] = field(default_factory=Counter)
    records_with_errors: int = 0

    @property
    def record_total(self) -> int:
        return sum(self.records.values())

    def rate(self, kind: ErrorKind, agency: str | None = None) -> float:
        """Share of records (of one agency, or of all) that carry this kind of error."""
        if agency is None:
            total, hits = self.record_total, self.errors[kind]
        else:
            total, hits = self.records[agency], self.errors_by_agency[(agency, kind)]
        return hits / total if total else 0.0


class Population:
    """A deterministic, streaming generator of people and their agency records."""

    def __init__(
        self,
        *,
        people: int,
        seed: int,
        today: date = REFERENCE_DATE,
        featured: int = 3,
        agencies: tuple[AgencyProfile, ...] = AGENCIES,
    ) -> None:
        if people < 0:
            raise ValueError("people must be zero or more")
        self.people = people
        self.seed = seed
        self.today = today
        self.featured = featured
        self.agencies = agencies
        self.stats = SynthStats()

    def households(self) -> Iterator[Household]:
        """Every household in order; each call starts the stream afresh."""
        rng = random.Random(self.seed)  # noqa: S311 - synthetic data, not secrets
        factory = PeopleFactory(rng=rng, seed=self.seed, today=self.today)
        clerks = [
            AgencyClerk(profile=p, rng=rng, seed=self.seed, today=self.today) for p in self.agencies
        ]
        stats = self.stats = SynthStats()
        remaining = self.people
        while remaining > 0:
            members = factory.household()[:remaining]
            remaining -= len(members)
            if stats.households < self.featured:
                members[0].featured = True  # a household head: an adult
            # Social Services takes on households rather than individuals.
            client = rng.random() < 0.3
            records: list[SynthRecord] = []
            for person in members:
                for clerk in clerks:
                    if clerk.holds(person, household_client=client):
                        records.extend(clerk.records(person))
            stats.households += 1
            stats.people += len(members)
            stats.twins += sum(1 for m in members if m.twin)
            stats.moved_people += sum(1 for m in members if m.moved_on is not None)
            stats.renamed_people += sum(1 for m in members if m.name_changed_on is not None)
            for record in records:
                stats.records[record.agency] += 1
                if record.errors:
                    stats.records_with_errors += 1
                for kind in record.errors:
                    stats.errors[kind] += 1
                    stats.errors_by_agency[(record.agency, kind)] += 1
            yield Household(household_id=members[0].household_id, members=members, records=records)

    def records(self) -> Iterator[SynthRecord]:
        for household in self.households():
            yield from household.records

    def featured_people(self) -> list[TruePerson]:
        """The adults the demo citizens are (they are in every agency's records)."""
        found: list[TruePerson] = []
        for household in self.households():
            found += [m for m in household.members if m.featured]
            if len(found) >= self.featured:
                break
        return found
