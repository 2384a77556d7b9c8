"""A record an agency sends again with changed data is matched again at once (issue 3)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from identity.models import Agency
from identity.services import system_actor
from registry.models import MembershipEvent, MembershipReason, Person, SourceRecord
from registry.services import feeds, linkage, persons, review
from registry.tests.factories_review import MatchCandidateFactory
from registry.tests.feeds_helpers import csv_bytes
from registry.tests.test_linkage_feeds import _row_for
from registry.tests.test_linkage_run import population  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def _known(*, exclude: tuple[str, ...] = ()) -> SourceRecord:
    """A non-Revenue record with a date of birth and a national ID, of a linked person."""
    return (
        SourceRecord.objects.exclude(agency__code="revenue")
        .exclude(date_of_birth=None)
        .exclude(national_id_index=None)
        .exclude(person_id__in=exclude)
        .order_by("pk")
        .first()
    )


def _load(rows, capture) -> None:
    # updated at source yesterday: the latest address, so golden records cite it
    yesterday = (timezone.now() - timedelta(days=1)).strftime("%d/%m/%Y %H:%M")
    rows = [row | {"LAST_UPDATED": yesterday} for row in rows]
    with capture(execute=True):
        result = feeds.ingest_file(
            agency=Agency.objects.get(code="revenue"), data=csv_bytes(rows), actor=system_actor()
        )
    assert result.batch.rejected_count == 0


def _cited(person_id: str, record: SourceRecord) -> bool:
    golden = persons.person_golden(Person.objects.get(pk=person_id))
    return any(value["record_id"] == record.pk for value in golden.values())


def test_a_corrected_record_moves_to_the_right_person_at_once(
    population,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    # given a linked index and a Revenue record that joined person K on arrival
    linkage.link_run(actor=system_actor())
    k = _known()
    _load([_row_for(k, "RV-FIX-1")], django_capture_on_commit_callbacks)
    record = SourceRecord.objects.get(agency_record_id="RV-FIX-1")
    assert record.person_id == k.person_id
    assert _cited(k.person_id, record)

    # when Revenue sends it again, corrected: it was J's record all along
    j = _known(exclude=(k.person_id,))
    _load([_row_for(j, "RV-FIX-1")], django_capture_on_commit_callbacks)

    # then it is J's now, without waiting for a batch run, with a membership event
    record.refresh_from_db()
    assert record.version == 2
    assert record.person_id == j.person_id
    event = MembershipEvent.objects.filter(record=record).order_by("-pk").first()
    assert (event.from_person_id, event.to_person_id) == (k.person_id, j.person_id)
    assert event.reason == MembershipReason.REALTIME
    # and both golden records are refreshed: K's no longer cites it, J's may
    assert not _cited(k.person_id, record)
    assert SourceRecord.objects.filter(person_id=k.person_id).exists()


def test_a_corrected_date_of_birth_takes_a_record_away_from_the_wrong_person(
    population,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    # given a Revenue record that joined person K on arrival
    linkage.link_run(actor=system_actor())
    k = _known()
    _load([_row_for(k, "RV-FIX-2")], django_capture_on_commit_callbacks)
    record = SourceRecord.objects.get(agency_record_id="RV-FIX-2")
    assert record.person_id == k.person_id

    # when Revenue corrects its date of birth (and drops the national ID it had wrong)
    row = _row_for(k, "RV-FIX-2") | {"DOB": "01/01/1931", "NINO": ""}
    _load([row], django_capture_on_commit_callbacks)

    # then it leaves K at once: a person of its own, or one waiting for a steward
    record.refresh_from_db()
    assert record.person_id != k.person_id
    assert not _cited(k.person_id, record)
    assert _cited(record.person_id, record)


def test_a_record_a_steward_placed_keeps_its_person_when_it_changes(
    population,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    # given a Revenue record a steward merged into person K
    actor = system_actor()
    linkage.link_run(actor=actor)
    k = _known()
    _load([_row_for(k, "RV-FIX-3")], django_capture_on_commit_callbacks)
    record = SourceRecord.objects.get(agency_record_id="RV-FIX-3")
    review.match_candidate_accept(
        candidate=MatchCandidateFactory(record=record, other=k), actor=actor
    )

    # when Revenue sends it again with another person's details
    j = _known(exclude=(k.person_id,))
    _load([_row_for(j, "RV-FIX-3")], django_capture_on_commit_callbacks)

    # then the steward's decision holds until a steward changes it
    record.refresh_from_db()
    assert record.person_id == k.person_id
