"""The synthetic population: deterministic, realistic in its errors, and streamed."""

import dataclasses
import gc
import tracemalloc
from collections import Counter, defaultdict

import pytest

from demo.synth import AGENCY_BY_CODE, REFERENCE_DATE, ErrorKind, Population, TruePerson
from demo.synth.noise import luhn_valid, scramble
from demo.synth.tables import TYPO_KINDS

NAME_NOISE = {*TYPO_KINDS, ErrorKind.SPELLING_VARIANT, ErrorKind.FAMILY_NAME_PARTIAL}


def _rows(population: Population) -> list[tuple]:
    return [dataclasses.astuple(r) for r in population.records()]


@pytest.fixture(scope="module")
def sample() -> tuple[Population, dict[str, TruePerson], list]:
    """2,000 people with their records, kept in memory for checking (tests only)."""
    population = Population(people=2000, seed=11)
    people: dict[str, TruePerson] = {}
    records = []
    for household in population.households():
        people.update((p.person_id, p) for p in household.members)
        records.extend(household.records)
    return population, people, records


def test_same_seed_gives_the_same_people_and_records():
    # given two generators with the same size and seed
    # when both are run
    first = _rows(Population(people=500, seed=3))
    second = _rows(Population(people=500, seed=3))
    # then every record is identical, errors included
    assert first == second
    assert len(first) > 500


def test_another_seed_gives_another_population():
    assert _rows(Population(people=200, seed=3)) != _rows(Population(people=200, seed=4))


def test_a_bigger_run_starts_with_the_smaller_one():
    # given the same seed at two sizes
    small = list(Population(people=100, seed=5).households())
    big = list(Population(people=400, seed=5).households())
    # then the small run's households come first in the big one (its last one may be cut)
    assert len(big) > len(small) > 10
    for mine, theirs in zip(small[:-1], big, strict=False):
        assert mine.members == theirs.members
        assert mine.records == theirs.records


def test_the_requested_number_of_people_is_generated(sample):
    population, people, _ = sample
    assert population.stats.people == len(people) == 2000
    assert len({p.national_id for p in people.values()}) == 2000


def test_national_ids_are_unique_and_carry_a_valid_check_digit(sample):
    _, people, _ = sample
    ids = [p.national_id for p in people.values()]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 10 and luhn_valid(i) for i in ids)


def test_scramble_is_a_permutation():
    values = [scramble(n, key="k", half=30) for n in range(900)]
    assert sorted(values) == list(range(900))
    assert values[:20] != list(range(20))


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_kind_of_error_appears_in_two_thousand_people(sample, kind):
    population, _, records = sample
    # the generator's own log and the records' labels agree, and the kind is there
    labelled = sum(1 for r in records if kind in r.errors)
    assert labelled > 0
    assert population.stats.errors[kind] == labelled


def _agency_view(record, person):
    """The truth as this agency formats it (case, postcodes, phones)."""
    profile = AGENCY_BY_CODE[record.agency]
    family = person.family_name
    given = person.given_name
    if profile.uppercase:
        family, given = family.upper(), given.upper()
    return given, family


def test_records_without_errors_agree_with_the_truth(sample):
    _, people, records = sample
    clean = [r for r in records if not r.errors]
    assert len(clean) > len(records) / 3
    for record in clean:
        person = people[record.true_person_id]
        given, family = _agency_view(record, person)
        assert (record.given_name, record.family_name) == (given, family)
        assert record.date_of_birth == person.date_of_birth
        assert record.national_id == person.national_id
        assert record.postcode.replace(" ", "") == person.address.postcode.replace(" ", "")


def test_error_labels_describe_what_was_done(sample):
    _, people, records = sample
    checked: Counter[str] = Counter()
    for record in records:
        person = people[record.true_person_id]
        true_dob = person.date_of_birth
        if ErrorKind.DOB_SWAPPED_DAY_MONTH in record.errors:
            assert record.date_of_birth == true_dob.replace(day=true_dob.month, month=true_dob.day)
            checked["swap"] += 1
        if ErrorKind.NATIONAL_ID_MISTYPED in record.errors:
            assert record.national_id != person.national_id
            assert len(record.national_id) == len(person.national_id)
            diffs = sum(a != b for a, b in zip(record.national_id, person.national_id, strict=True))
            assert diffs in (1, 2)
            checked["nid"] += 1
        if ErrorKind.NATIONAL_ID_MISSING in record.errors:
            assert record.national_id == ""
        if ErrorKind.NICKNAME in record.errors:
            assert record.given_name.lower() != person.given_name.lower()
            checked["nick"] += 1
        if ErrorKind.MOVED_ADDRESS in record.errors:
            assert person.previous_address is not None
            assert record.locality.lower() == person.previous_address.locality.lower()
            assert person.moved_on is not None
            assert record.source_updated_at.date() < person.moved_on
            checked["moved"] += 1
        if ErrorKind.NAME_CHANGE in record.errors:
            assert person.birth_family_name != person.family_name
            if not set(record.errors) & NAME_NOISE:
                assert record.family_name.lower() == person.birth_family_name.lower()
                checked["name"] += 1
        if ErrorKind.DOB_UNPARSEABLE in record.errors:
            assert record.date_of_birth is None and record.date_of_birth_raw
        if ErrorKind.DOB_MISSING in record.errors:
            assert record.date_of_birth is None and not record.date_of_birth_raw
    assert min(checked.values()) > 0 and len(checked) == 5


def test_agencies_hold_plausible_shares_of_the_population():
    # given 5,000 people
    population = Population(people=5000, seed=2)
    held: dict[str, set[str]] = defaultdict(set)
    adults = 0
    for household in population.households():
        adults += sum(1 for m in household.members if m.age_on(REFERENCE_DATE) >= 18)
        for record in household.records:
            held[record.agency].add(record.true_person_id)
    # then each agency's coverage is near its profile (Revenue and Transport: adults only)
    assert 0.80 < len(held["revenue"]) / adults < 0.90
    assert 0.90 < len(held["health"]) / 5000 < 0.99
    assert 0.20 < len(held["social-services"]) / 5000 < 0.40
    assert 0.50 < len(held["transport"]) / adults < 0.70


def test_duplicates_are_the_same_person_twice_in_one_agency(sample):
    _, _, records = sample
    per_agency_person = Counter((r.agency, r.true_person_id) for r in records)
    duplicates = [r for r in records if ErrorKind.DUPLICATE in r.errors]
    assert duplicates
    for record in duplicates:
        assert per_agency_person[(record.agency, record.true_person_id)] == 2
    ids = [(r.agency, r.agency_record_id) for r in records]
    assert len(set(ids)) == len(ids)


def test_households_share_an_address_and_usually_a_name(sample):
    population, people, _ = sample
    households: dict[str, list[TruePerson]] = defaultdict(list)
    for person in people.values():
        households[person.household_id].append(person)
    assert len(households) == population.stats.households
    assert all(len({m.address for m in members}) == 1 for members in households.values())
    shared_name = [
        members
        for members in households.values()
        if len(members) > 1 and len({m.family_name for m in members}) == 1
    ]
    assert len(shared_name) > len(households) / 5
    twins = [p for p in people.values() if p.twin]
    assert twins
    for twin in twins:
        siblings = [
            m
            for m in households[twin.household_id]
            if m.twin and m.date_of_birth == twin.date_of_birth
        ]
        assert len(siblings) == 2


def test_featured_people_are_adults_in_every_agency():
    population = Population(people=300, seed=9)
    featured = population.featured_people()
    assert len(featured) == 3
    agencies: dict[str, set[str]] = defaultdict(set)
    for record in population.records():
        agencies[record.true_person_id].add(record.agency)
    for person in featured:
        assert person.age_on(REFERENCE_DATE) >= 18
        assert agencies[person.person_id] == set(AGENCY_BY_CODE)


def _peak_bytes(people: int) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        count = sum(1 for _ in Population(people=people, seed=1).records())
        assert count > people
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_people():
    # given a small and a ten times larger run, records counted but not kept
    small = _peak_bytes(300)
    large = _peak_bytes(3_000)
    # then the peak stays within a modest, constant bound
    assert large < 20 * 1024 * 1024
    assert large < small * 1.5 + 512 * 1024
