import pytest

from core.errors import PermissionDenied, ValidationFailed
from core.models import AuditEntry
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff, verified
from registry.models import MembershipEvent, MembershipReason
from registry.selectors import review as selectors
from registry.services import review as services
from registry.tests.factories import SourceRecordFactory
from registry.tests.factories_review import (
    MatchCandidateFactory,
    person_with_records,
    records_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def steward():
    return verified(staff(Role.DATA_STEWARD, AgencyFactory(code="health")))


def test_history_says_which_changes_can_be_undone_and_why_not(steward):
    # given a merge, then a split that took a merged record away again
    survivor, merged = person_with_records(1), person_with_records(2)
    moved = records_of(merged)[0]
    merge = services.persons_merge(survivor=survivor, merged=merged, actor=steward, note="dup")
    split = services.person_split(person=survivor, record_ids=[moved.pk], actor=steward)
    # when the survivor's history is read
    history = selectors.person_history(viewer=steward, person_id=survivor.pk)
    # then the split (newest) can be undone, the merge cannot until the split is
    assert [item.action for item in history] == [split.action, merge.action]
    assert history[0].can_undo is True
    assert history[1].can_undo is False and "undo the later change first" in history[1].why_not
    assert history[1].note == "dup" and len(history[1].events) == 2
    # and the read is in the person's trail
    assert AuditEntry.objects.filter(
        action="person.history_read", subject_person=survivor.pk
    ).exists()


def test_history_shows_only_this_persons_part_of_a_batch_run(steward):
    # given one link run that assigned records of two persons
    mine, theirs = person_with_records(1), person_with_records(3)
    run = MembershipEvent.objects.create(
        record=records_of(mine)[0], to_person=mine, reason=MembershipReason.LINK_RUN
    ).action
    for record in records_of(theirs):
        MembershipEvent.objects.create(
            record=record, to_person=theirs, reason=MembershipReason.LINK_RUN, action=run
        )
    # when my history is read
    (item,) = selectors.person_history(viewer=steward, person_id=mine.pk)
    # then it shows my record's assignment only, not undoable from here
    assert [e.record_id for e in item.events] == [records_of(mine)[0].pk]
    assert item.can_undo is False and "Only review, merge and split" in item.why_not


def test_queue_filters_on_agency_and_refuses_unknown_ordering(steward):
    revenue = AgencyFactory(code="revenue")
    touching = MatchCandidateFactory(other__agency=revenue)
    MatchCandidateFactory()
    qs = selectors.match_candidate_queue(viewer=steward, agency="revenue")
    assert list(qs) == [touching]
    with pytest.raises(ValidationFailed) as caught:
        selectors.match_candidate_queue(viewer=steward, ordering="random")
    assert "ordering" in caught.value.errors


def test_fields_agree_after_standardisation_and_missing_is_not_a_difference():
    # given the same person keyed differently by two agencies
    left = SourceRecordFactory(
        given_name="MARÍA", phone="07700 900123", email="", address_line="12 High St"
    )
    right = SourceRecordFactory(
        given_name="Maria",
        phone="+44 7700 900123",
        email="m@example.org",
        address_line="12 High Street",
    )
    # when compared field by field
    rows = {row.name: row for row in selectors.field_rows(left, right)}
    # then accents, case, phone format and street abbreviations do not count as differences
    assert rows["given_name"].agreement == "same"
    assert rows["phone"].agreement == "same"
    assert rows["address_line"].agreement == "same"
    # and a value only one side has is "missing", a value neither has is "not recorded"
    assert rows["email"].agreement == "missing"
    assert rows["email"].agreement_label == "Missing on one side"
    assert rows["middle_name"].agreement_label == "Not recorded"


def test_explanation_bars_scale_to_the_largest_weight_and_keep_the_prior():
    candidate = MatchCandidateFactory(
        explanation=[
            {"comparison": "dob", "level": "exact", "weight": 8.0},
            {"comparison": "postcode", "level": "different", "weight": -2.0},
            {"comparison": "broken"},  # no weight: left out rather than guessed
        ],
        match_weight=1.5,
    )
    bars, prior = selectors.explanation_bars(candidate)
    assert [(b.label, b.width, b.direction) for b in bars] == [
        ("Dob", 100, "for"),
        ("Postcode", 25, "against"),
    ]
    assert prior == pytest.approx(1.5 - 6.0)


def test_person_review_audits_each_record_read(steward):
    person = person_with_records(3)
    review = selectors.person_review_get(viewer=steward, person_id=person.pk.lower())
    assert len(review.records) == 3
    reads = AuditEntry.objects.filter(action="source_record.read", subject_person=person.pk)
    assert reads.count() == 3 and {r.purpose for r in reads} == {"clerical review"}


def test_a_caseworker_cannot_read_the_queue():
    worker = verified(staff(Role.CASEWORKER, AgencyFactory(code="health")))
    with pytest.raises(PermissionDenied):
        selectors.match_candidate_queue(viewer=worker)
