"""Golden records computed for many persons at once choose as the one-person rules do."""

import datetime
import json
import random

import pytest

from identity.services import system_actor
from identity.tests.factories import AgencyFactory
from registry import standardise
from registry.models import Person, SourceRecord
from registry.services import linkage, persons
from registry.tests.test_linkage_run import population  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def test_bulk_golden_records_equal_the_per_person_survivorship(population):  # noqa: F811
    # given the synthetic government linked (its golden records computed in bulk)
    linkage.link_run(actor=system_actor())
    rows: dict[str, list[dict]] = {}
    for row in SourceRecord.objects.values(*persons._RECORD_COLUMNS):
        rows.setdefault(row["person_id"], []).append(row)
    # when each person's golden record is computed alone, then it is the stored one
    for person in Person.objects.filter(retired_at__isnull=True):
        alone = json.loads(json.dumps(persons.golden_record(rows[person.pk]), sort_keys=True))
        assert persons.person_golden(person) == alone, person.pk
    assert len(rows) > 250


AGENCIES = ("health", "revenue", "transport", "social-services", "police")
T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
# few distinct values, so ties are common; empty and blank values, text JSON must escape
NAMES = ("Maria", "Mari", "Ana", "", "   ", "Zoë", 'O"Brien', "Ⅻ \\ slash", "\u00a0", "Jo")
ADDRESSES = ("12 High Street", "12 High St", "", " ", "Flat 2, 65 New Row")
TOWNS = ("Northtown", "", "Southtown")
POSTCODES = ("NT1 2AB", "", "\t")
IDS = ("100000001", "", "  ", "AB 12 34 56 C", "100000001 ")
WHEN = (None, T0, T0 + datetime.timedelta(days=1), T0 + datetime.timedelta(microseconds=1))


def _varied_population(rng: random.Random, people: int) -> list[Person]:
    agencies = [AgencyFactory(code=code) for code in AGENCIES]
    people = [Person(id=f"PV{n:06d}") for n in range(people)]
    Person.objects.bulk_create(people)
    records = []
    for person in people:
        for _ in range(rng.choice((1, 1, 2, 3, 4, 6))):
            records.append(
                SourceRecord(
                    agency=rng.choice(agencies),
                    agency_record_id=f"R{len(records)}",
                    person=person,
                    given_name=rng.choice(NAMES),
                    middle_name=rng.choice(NAMES),
                    family_name=rng.choice(NAMES),
                    date_of_birth=rng.choice((None, datetime.date(1985, 3, 14), T0.date())),
                    date_of_birth_raw=rng.choice(("", "31/02/85")),
                    sex=rng.choice(("", "F", "M")),
                    address_line=rng.choice(ADDRESSES),
                    locality=rng.choice(TOWNS),
                    postcode=rng.choice(POSTCODES),
                    phone=rng.choice(("", "+44 20 7946 0000", "020 7946 0000")),
                    email=rng.choice(("", "maria@example.org", "m@example.org")),
                    national_id=rng.choice(IDS),
                    source_updated_at=rng.choice(WHEN),
                    loaded_at=rng.choice(WHEN[1:]),
                )
            )
    SourceRecord.objects.bulk_create(records)
    return people


def _assert_refresh_matches_per_person_rules(people: list[Person], rules) -> None:
    rows: dict[str, list[dict]] = {}
    for row in SourceRecord.objects.values(*persons._RECORD_COLUMNS):
        rows.setdefault(row["person_id"], []).append(row)
    stored = Person.objects.in_bulk([p.pk for p in people])
    for person in people:
        golden = persons.golden_record(rows[person.pk], rules)
        # the stored text is, byte for byte, the JSON of the per-person choice
        assert stored[person.pk].golden == json.dumps(golden, sort_keys=True), person.pk
        given = golden.get("given_name", {}).get("value", "")
        family = golden.get("family_name", {}).get("value", "")
        dob = golden.get("date_of_birth", {}).get("value")
        assert stored[person.pk].given_name == given
        assert stored[person.pk].family_name == family
        assert stored[person.pk].std_given_name == standardise.name(given)
        assert stored[person.pk].std_family_name == standardise.name(family)
        assert stored[person.pk].date_of_birth == (
            datetime.date.fromisoformat(dob) if dob else None
        )


@pytest.mark.parametrize("numpy_strings", [True, False], ids=["numpy-strings", "value-by-value"])
def test_bulk_golden_text_is_the_per_person_json_on_ties_gaps_and_odd_text(
    monkeypatch, numpy_strings
):
    # given persons with tied, empty, blank and non-ASCII values, records without a
    # source date, and chunks that end mid-population
    people = _varied_population(random.Random(7), 120)
    monkeypatch.setattr(persons, "CHUNK", 17)
    if not numpy_strings:  # as with NumPy before 2.0
        monkeypatch.setattr(persons, "_texts", lambda values: None)
    # when their golden records are refreshed in bulk
    written = persons.person_golden_refresh(person_ids=[p.pk for p in people] + ["P-NONE"])
    # then each is the per-person survivorship's JSON, and the search columns follow it
    assert written == len(people)
    _assert_refresh_matches_per_person_rules(people, persons.survivorship())


OWN_RULES = {
    # the fuller value first, trust lists that repeat or omit agencies, the national ID
    # by its length before trust
    "fuller-first": {
        "default": {"rules": ["complete", "recent", "trust"], "trust": ["police", "health"]},
        "fields": {
            "given_name": {"rules": ["trust"], "trust": ["revenue", "revenue", "health"]},
            "family_name": {"rules": ["recent"]},
            "national_id": {"rules": ["complete", "trust"], "trust": ["transport"]},
            "date_of_birth": {"rules": ["complete", "trust"]},
            "postcode": {"with": "locality"},
            "sex": {"with": "given_name"},
        },
    },
    # the national ID from the record that gave the given name; length breaks late ties
    "national-id-with-name": {
        "default": {"rules": ["recent", "trust", "complete", "complete"]},
        "fields": {"national_id": {"with": "given_name"}, "email": {"rules": ["trust"]}},
    },
    # the national ID by trust alone: a blank one from a trusted agency must not win
    "national-id-by-trust": {
        "fields": {"national_id": {"rules": ["trust"], "trust": ["police", "revenue"]}},
    },
}


@pytest.mark.parametrize("name", list(OWN_RULES))
def test_bulk_golden_text_follows_a_deployments_own_rules(settings, tmp_path, name):
    # given a deployment's own survivorship rules
    spec = OWN_RULES[name]
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(json.dumps(spec))
    settings.REGISTRY_SURVIVORSHIP_FILE = str(rules_file)
    persons.survivorship.cache_clear()
    try:
        people = _varied_population(random.Random(11), 90)
        # when the golden records are refreshed in bulk
        persons.person_golden_refresh(person_ids=[p.pk for p in people])
        # then they are what these rules choose person by person
        _assert_refresh_matches_per_person_rules(people, persons.survivorship())
    finally:
        persons.survivorship.cache_clear()
