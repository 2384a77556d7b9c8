"""Golden records computed for many persons at once choose as the one-person rules do."""

import json

import pytest

from identity.services import system_actor
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
