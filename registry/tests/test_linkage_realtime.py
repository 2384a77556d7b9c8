import pytest

from core.models import AuditEntry
from identity.services import system_actor
from registry.linkage.realtime import NoLinkageModel, record_match_realtime
from registry.models import MatchCandidate, MembershipEvent, MembershipReason, SourceRecord
from registry.services import linkage
from registry.tests.factories import SourceRecordFactory
from registry.tests.test_linkage_run import population  # noqa: F401 - fixture


def _copy_of(record: SourceRecord, **changes) -> SourceRecord:
    fields = (
        "given_name",
        "middle_name",
        "family_name",
        "previous_family_name",
        "date_of_birth",
        "sex",
        "address_line",
        "locality",
        "postcode",
        "phone",
        "email",
        "national_id",
    )
    values = {f: getattr(record, f) for f in fields} | changes
    return SourceRecordFactory(agency=record.agency, agency_record_id="NEW-1", **values)


def _person_with_id(exclude_records=()):
    return (
        SourceRecord.objects.exclude(national_id_index=None)
        .exclude(date_of_birth=None)
        .exclude(pk__in=exclude_records)
        .order_by("pk")
        .first()
    )


def test_a_record_of_a_known_person_joins_that_person(population):  # noqa: F811
    # given a linked index and a new record of someone in it (a typo in the given name)
    actor = system_actor()
    linkage.link_run(actor=actor)
    known = _person_with_id()
    arriving = _copy_of(known, given_name=known.given_name + "e", phone="", email="")

    # when it is matched on arrival
    result = record_match_realtime(record=arriving, actor=actor)

    # then it joins the known person, with a membership event and an audit entry
    assert result.decision == "joined"
    assert result.probability >= 0.95
    arriving.refresh_from_db()
    assert arriving.person_id == known.person_id
    event = MembershipEvent.objects.get(record=arriving)
    assert event.reason == MembershipReason.REALTIME
    assert AuditEntry.objects.filter(action="linkage.realtime_match").exists()


def test_a_record_of_nobody_known_becomes_a_new_person(population):  # noqa: F811
    # given a linked index and a record of someone entirely new
    actor = system_actor()
    linkage.link_run(actor=actor)
    known = _person_with_id()
    arriving = _copy_of(
        known,
        given_name="Zebedee",
        family_name="Quixotic",
        previous_family_name="",
        date_of_birth=known.date_of_birth.replace(year=1901),
        address_line="1 Nowhere Lane",
        postcode="ZZ9 9ZZ",
        national_id="999999999",
        phone="",
        email="",
    )

    # when it is matched on arrival, then it is a new person of its own
    result = record_match_realtime(record=arriving, actor=actor)
    assert result.decision == "new"
    assert SourceRecord.objects.filter(person=result.person).count() == 1
    assert not MatchCandidate.objects.filter(record=arriving).exists()


def test_an_uncertain_record_becomes_a_new_person_and_waits_for_review(population):  # noqa: F811
    # given a linked index whose thresholds put this pair between them
    actor = system_actor()
    run = linkage.link_run(actor=actor)
    known = _person_with_id()
    # same name and date of birth, but another address and no national ID
    arriving = _copy_of(
        known,
        national_id="",
        address_line="77 Elsewhere Road",
        postcode="ZZ1 1ZZ",
        phone="",
        email="",
    )
    probe = record_match_realtime(record=arriving, actor=actor)
    model = run.model
    model.review_threshold = probe.probability * 0.5
    model.match_threshold = min(0.999999, probe.probability + (1 - probe.probability) / 2)
    model.save()
    SourceRecord.objects.filter(pk=arriving.pk).update(person=None)
    arriving.refresh_from_db()

    # when it is matched again
    result = record_match_realtime(record=arriving, actor=actor)

    # then it is a person of its own, and the pair is waiting for a data steward
    assert result.decision == "review"
    assert result.person.pk != known.person_id
    candidate = MatchCandidate.objects.get(origin=MembershipReason.REALTIME)
    assert {candidate.record_id, candidate.other_id} == {arriving.pk, result.other.pk}
    assert {e["comparison"] for e in candidate.explanation} >= {"given_name", "national_id"}


def test_realtime_matching_needs_a_trained_model(db):
    record = SourceRecordFactory()
    with pytest.raises(NoLinkageModel):
        record_match_realtime(record=record, actor=system_actor())
