import uuid

import pytest
from django.db import IntegrityError, transaction

from core.errors import PermissionDenied, ValidationFailed
from core.models import AuditEntry
from identity.choices import Role
from identity.tests.factories import AgencyFactory, CitizenFactory, staff, verified
from registry.models import (
    CandidateStatus,
    MatchCandidate,
    MembershipEvent,
    MembershipReason,
    Person,
    SourceRecord,
)
from registry.selectors.review import match_pair_rejected
from registry.services import review
from registry.tests.factories import SourceRecordFactory
from registry.tests.factories_review import (
    MatchCandidateFactory,
    PersonFactory,
    person_ids_of,
    person_with_records,
    records_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def steward():
    return verified(staff(Role.DATA_STEWARD, AgencyFactory(code="health"), username="stew"))


def _snapshot():
    """Everything review may change: who holds which record, persons' state, pair statuses."""
    return (
        dict(SourceRecord.objects.values_list("pk", "person_id")),
        {p.pk: (p.retired_at, p.merged_into_id) for p in Person.objects.all()},
        dict(MatchCandidate.objects.values_list("pk", "status")),
    )


# --- accept ------------------------------------------------------------------------------


def test_accepting_a_pair_merges_the_records_person_into_the_others(steward):
    # given the record's person holds two records and the other record's person one
    mine = person_with_records(2)
    theirs = person_with_records(1)
    record, sibling = records_of(mine)
    (other,) = records_of(theirs)
    candidate = MatchCandidateFactory(record=record, other=other)
    # when the steward accepts the pair
    change = review.match_candidate_accept(candidate=candidate, actor=steward, note="same NI")
    # then all three records are one person, the other's, and the record's person is retired
    assert person_ids_of(record, sibling, other) == [theirs.pk] * 3
    mine.refresh_from_db()
    assert mine.retired_at is not None and mine.merged_into_id == theirs.pk
    candidate.refresh_from_db()
    assert candidate.status == CandidateStatus.ACCEPTED
    assert candidate.decided_by == steward and candidate.decided_at is not None
    # and the two moves are one action, by the steward, with the note
    events = MembershipEvent.objects.filter(action=change.action)
    assert {e.record_id for e in events} == {record.pk, sibling.pk}
    assert {(e.from_person_id, e.to_person_id, e.reason) for e in events} == {
        (mine.pk, theirs.pk, MembershipReason.REVIEW)
    }
    assert all(e.actor == steward and e.note == "same NI" for e in events)
    # and each person's trail shows the decision
    entries = AuditEntry.objects.filter(action="match_candidate.accept")
    assert {e.subject_person for e in entries} == {mine.pk, theirs.pk}
    assert {e.data["action"] for e in entries} == {str(change.action)}
    assert all(e.actor == "stew" and e.data["note"] == "same NI" for e in entries)


def test_accepting_a_record_without_a_person_adds_it_to_the_others_person(steward):
    # given a record nobody holds yet and a person's record
    theirs = person_with_records(1)
    lone = SourceRecordFactory()
    candidate = MatchCandidateFactory(record=lone, other=records_of(theirs)[0])
    # when the pair is accepted
    change = review.match_candidate_accept(candidate=candidate, actor=steward)
    # then the record joins that person and nobody is retired
    assert person_ids_of(lone) == [theirs.pk]
    assert change.persons == [theirs.pk] and change.new_person is None
    assert not Person.objects.filter(retired_at__isnull=False).exists()


def test_accepting_two_records_without_persons_makes_a_new_person(steward):
    # given two records no person holds
    left, right = SourceRecordFactory(), SourceRecordFactory()
    candidate = MatchCandidateFactory(record=left, other=right)
    # when the pair is accepted
    change = review.match_candidate_accept(candidate=candidate, actor=steward)
    # then one new person holds both
    assert change.new_person is not None
    assert person_ids_of(left, right) == [change.new_person] * 2


def test_accepting_supersedes_open_pairs_that_are_now_within_one_person(steward):
    # given two persons with two pairs between them, and a pair with a third person
    mine, theirs, third = (person_with_records(2) for _ in range(3))
    a1, a2 = records_of(mine)
    b1, b2 = records_of(theirs)
    chosen = MatchCandidateFactory(record=a1, other=b1)
    also_between = MatchCandidateFactory(record=a2, other=b2, match_probability=0.6)
    elsewhere = MatchCandidateFactory(record=a2, other=records_of(third)[0])
    # when the first pair is accepted
    review.match_candidate_accept(candidate=chosen, actor=steward)
    # then the other pair between them is moot, the pair with the third person still open
    also_between.refresh_from_db()
    elsewhere.refresh_from_db()
    assert also_between.status == CandidateStatus.SUPERSEDED
    assert elsewhere.status == CandidateStatus.OPEN


@pytest.mark.parametrize("decide", [review.match_candidate_accept, review.match_candidate_reject])
def test_a_decided_pair_cannot_be_decided_again(steward, decide):
    # given a pair already rejected
    candidate = MatchCandidateFactory(record__person=PersonFactory(), other__person=PersonFactory())
    review.match_candidate_reject(candidate=candidate, actor=steward)
    before = _snapshot()
    # when a second decision comes (a stale page, another steward)
    with pytest.raises(review.CandidateAlreadyDecided) as caught:
        decide(candidate=candidate, actor=steward)
    # then it is refused as a conflict naming who decided, and nothing changed
    assert caught.value.status == 409
    assert "rejected" in caught.value.detail and "stew" in caught.value.detail
    assert _snapshot() == before


# --- reject ------------------------------------------------------------------------------


def test_rejecting_is_remembered_and_moves_nobody(steward):
    # given a pair between two persons
    mine, theirs = person_with_records(1), person_with_records(1)
    (record,), (other,) = records_of(mine), records_of(theirs)
    candidate = MatchCandidateFactory(record=record, other=other)
    # when the steward says they are different people
    change = review.match_candidate_reject(candidate=candidate, actor=steward, note="twins")
    # then nobody moved, the pair is rejected and recognised in either order
    assert change.action is None
    assert person_ids_of(record, other) == [mine.pk, theirs.pk]
    candidate.refresh_from_db()
    assert candidate.status == CandidateStatus.REJECTED and candidate.decided_by == steward
    assert match_pair_rejected(record_id=record.pk, other_id=other.pk)
    assert match_pair_rejected(record_id=other.pk, other_id=record.pk)
    assert not MembershipEvent.objects.exists()
    # and the same pair cannot be proposed again
    with pytest.raises(IntegrityError), transaction.atomic():
        MatchCandidateFactory(record=record, other=other)
    # and both persons' trails show the rejection with its note
    entries = AuditEntry.objects.filter(action="match_candidate.reject")
    assert {e.subject_person for e in entries} == {mine.pk, theirs.pk}
    assert {e.data["note"] for e in entries} == {"twins"}


def test_an_open_pair_is_not_reported_as_rejected():
    candidate = MatchCandidateFactory()
    assert not match_pair_rejected(record_id=candidate.record_id, other_id=candidate.other_id)


# --- merge -------------------------------------------------------------------------------


def test_merge_moves_every_record_and_retires_the_merged_person(steward):
    # given two persons with two and three records
    survivor, merged = person_with_records(2), person_with_records(3)
    moved = records_of(merged)
    # when the steward merges the second into the first
    change = review.persons_merge(survivor=survivor, merged=merged, actor=steward, note="dup")
    # then the survivor holds all five and the merged person points to it
    assert SourceRecord.objects.filter(person=survivor).count() == 5
    merged.refresh_from_db()
    assert merged.retired_at is not None and merged.merged_into_id == survivor.pk
    assert sorted(change.records_moved) == [r.pk for r in moved]
    assert MembershipEvent.objects.filter(action=change.action, reason="merge").count() == 3
    entries = AuditEntry.objects.filter(action="person.merge")
    assert {e.subject_person for e in entries} == {survivor.pk, merged.pk}


def test_merge_then_undo_restores_exactly(steward):
    # given two persons, an open pair between them and an open pair with a third person
    survivor, merged, third = (person_with_records(2) for _ in range(3))
    between = MatchCandidateFactory(record=records_of(merged)[0], other=records_of(survivor)[0])
    elsewhere = MatchCandidateFactory(record=records_of(merged)[1], other=records_of(third)[0])
    before = _snapshot()
    # when they are merged (the pair between them becomes moot) and the merge is undone
    change = review.persons_merge(survivor=survivor, merged=merged, actor=steward)
    between.refresh_from_db()
    assert between.status == CandidateStatus.SUPERSEDED
    undo = review.membership_action_undo(action=change.action, actor=steward, note="oops")
    # then records, persons and pairs are exactly as before
    assert _snapshot() == before
    elsewhere.refresh_from_db()
    assert elsewhere.status == CandidateStatus.OPEN
    # and the history keeps both: the merge marked undone, the undo as its own action
    assert set(MembershipEvent.objects.filter(action=change.action).values_list("undone")) == {
        (True,)
    }
    undo_events = MembershipEvent.objects.filter(action=undo.action)
    assert {(e.from_person_id, e.to_person_id, e.reason) for e in undo_events} == {
        (survivor.pk, merged.pk, MembershipReason.UNDO)
    }
    assert AuditEntry.objects.filter(
        action="person.membership_undo", subject_person=merged.pk
    ).exists()


def test_accept_then_undo_reopens_the_pair(steward):
    # given an accepted pair that merged two persons
    mine, theirs = person_with_records(1), person_with_records(1)
    candidate = MatchCandidateFactory(record=records_of(mine)[0], other=records_of(theirs)[0])
    before = _snapshot()
    change = review.match_candidate_accept(candidate=candidate, actor=steward)
    # when the acceptance is undone
    review.membership_action_undo(action=change.action, actor=steward)
    # then the two persons are apart again and the pair waits for review again
    assert _snapshot() == before
    candidate.refresh_from_db()
    assert candidate.decided_by is None and candidate.decided_at is None


@pytest.mark.parametrize(
    "make_survivor_retired", [True, False], ids=["survivor retired", "merged retired"]
)
def test_merge_refuses_a_retired_person_and_says_where_it_went(steward, make_survivor_retired):
    # given a person already merged into another
    a, b, c = (person_with_records(1) for _ in range(3))
    review.persons_merge(survivor=c, merged=a, actor=steward)
    a.refresh_from_db()
    before = _snapshot()
    # when a merge names the retired person
    pair = {"survivor": a, "merged": b} if make_survivor_retired else {"survivor": b, "merged": a}
    with pytest.raises(review.PersonRetired) as caught:
        review.persons_merge(**pair, actor=steward)
    # then it is refused, pointing to the person it went into, and nothing changed
    assert caught.value.status == 409
    assert c.pk in caught.value.detail
    assert _snapshot() == before


def test_merge_with_itself_is_refused(steward):
    person = person_with_records(1)
    with pytest.raises(review.MergeInvalid) as caught:
        review.persons_merge(survivor=person, merged=person, actor=steward)
    assert caught.value.status == 422 and "other" in caught.value.errors


# --- split -------------------------------------------------------------------------------


def test_split_then_undo_restores_exactly(steward):
    # given a person with three records
    person = person_with_records(3)
    first, second, third = records_of(person)
    before = _snapshot()
    # when two are split off
    change = review.person_split(
        person=person, record_ids=[second.pk, third.pk], actor=steward, note="wrong twin"
    )
    # then they belong to a new person, the first stays
    assert change.new_person is not None
    assert person_ids_of(first, second, third) == [person.pk] + [change.new_person] * 2
    assert AuditEntry.objects.filter(action="person.split", subject_person=change.new_person)
    # when the split is undone
    review.membership_action_undo(action=change.action, actor=steward)
    # then the records are back, and the emptied new person is retired into the original
    holders, persons, statuses = _snapshot()
    holders_before, persons_before, statuses_before = before
    assert holders == holders_before and statuses == statuses_before
    new = Person.objects.get(pk=change.new_person)
    assert new.retired_at is not None and new.merged_into_id == person.pk
    assert {pk: state for pk, state in persons.items() if pk != new.pk} == persons_before


def test_split_may_not_take_every_record(steward):
    # given a person with two records
    person = person_with_records(2)
    before = _snapshot()
    # when both are chosen for a split
    with pytest.raises(review.SplitInvalid) as caught:
        review.person_split(
            person=person, record_ids=[r.pk for r in records_of(person)], actor=steward
        )
    # then it is refused and nothing changed
    assert caught.value.status == 422
    assert "at least one record" in caught.value.detail
    assert _snapshot() == before
    assert not Person.objects.exclude(pk=person.pk).exists()


def test_split_names_records_that_are_not_the_persons(steward):
    person, other = person_with_records(2), person_with_records(1)
    stranger = records_of(other)[0]
    with pytest.raises(review.SplitInvalid) as caught:
        review.person_split(person=person, record_ids=[stranger.pk], actor=steward)
    assert str(stranger.pk) in caught.value.errors["record_ids"][0]
    assert person_ids_of(stranger) == [other.pk]


def test_split_needs_at_least_one_record(steward):
    person = person_with_records(2)
    with pytest.raises(review.SplitInvalid):
        review.person_split(person=person, record_ids=[], actor=steward)


# --- undo --------------------------------------------------------------------------------


def test_undo_is_refused_after_a_later_change_until_that_is_undone(steward):
    # given a merge, then a split that took one of the merged records away again
    survivor, merged = person_with_records(1), person_with_records(2)
    moved = records_of(merged)[0]
    merge = review.persons_merge(survivor=survivor, merged=merged, actor=steward)
    split = review.person_split(person=survivor, record_ids=[moved.pk], actor=steward)
    after_split = _snapshot()
    # when the merge is undone first
    with pytest.raises(review.UndoRefused) as caught:
        review.membership_action_undo(action=merge.action, actor=steward)
    # then it is refused, naming the record and what to do, and nothing changed
    assert caught.value.status == 409
    assert moved.agency_record_id in caught.value.detail
    assert "Undo the later change first" in caught.value.detail
    assert _snapshot() == after_split
    # when the split is undone, then the merge
    review.membership_action_undo(action=split.action, actor=steward)
    review.membership_action_undo(action=merge.action, actor=steward)
    # then both persons are as at the start
    assert SourceRecord.objects.filter(person=merged).count() == 2
    assert SourceRecord.objects.filter(person=survivor).count() == 1
    merged.refresh_from_db()
    assert merged.retired_at is None and merged.merged_into_id is None


def test_undo_twice_and_undo_of_an_undo_are_refused(steward):
    survivor, merged = person_with_records(1), person_with_records(1)
    merge = review.persons_merge(survivor=survivor, merged=merged, actor=steward)
    undo = review.membership_action_undo(action=merge.action, actor=steward)
    with pytest.raises(review.UndoRefused, match="already been undone"):
        review.membership_action_undo(action=merge.action, actor=steward)
    with pytest.raises(review.UndoRefused, match="cannot itself be undone"):
        review.membership_action_undo(action=undo.action, actor=steward)


def test_undo_of_a_batch_linkage_change_is_refused(steward):
    person = person_with_records(1)
    event = MembershipEvent.objects.create(
        record=records_of(person)[0], to_person=person, reason=MembershipReason.LINK_RUN
    )
    with pytest.raises(review.UndoRefused, match="split or merge"):
        review.membership_action_undo(action=event.action, actor=steward)
    assert person_ids_of(records_of(person)[0]) == [person.pk]


def test_undo_of_an_unknown_action_is_not_found(steward):
    with pytest.raises(review.ActionNotFound):
        review.membership_action_undo(action=uuid.uuid4(), actor=steward)


# --- who may, and what is kept -----------------------------------------------------------


def _caseworker():
    return verified(staff(Role.CASEWORKER, AgencyFactory(code="health")))


def _unverified_steward():
    return staff(Role.DATA_STEWARD, AgencyFactory(code="health"))  # no second factor


@pytest.mark.parametrize(
    "make_user",
    [_caseworker, CitizenFactory, _unverified_steward],
    ids=["caseworker", "citizen", "steward without MFA"],
)
def test_only_a_verified_steward_may_review(make_user):
    # given persons, pairs and a steward's earlier merge
    user = make_user()
    steward = verified(staff(Role.DATA_STEWARD, AgencyFactory(code="revenue")))
    a, b, c = (person_with_records(2) for _ in range(3))
    earlier = review.persons_merge(survivor=b, merged=c, actor=steward)
    candidate = MatchCandidateFactory(record=records_of(a)[0], other=records_of(b)[0])
    before = _snapshot()
    audit_before = AuditEntry.objects.count()
    attempts = [
        lambda: review.match_candidate_accept(candidate=candidate, actor=user),
        lambda: review.match_candidate_reject(candidate=candidate, actor=user),
        lambda: review.persons_merge(survivor=a, merged=b, actor=user),
        lambda: review.person_split(person=a, record_ids=[records_of(a)[0].pk], actor=user),
        lambda: review.membership_action_undo(action=earlier.action, actor=user),
    ]
    # when the user tries each decision, then each is refused and nothing changes
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            attempt()
    assert _snapshot() == before
    assert AuditEntry.objects.count() == audit_before


def test_a_platform_admin_may_review():
    admin = verified(staff(Role.PLATFORM_ADMIN))
    survivor, merged = person_with_records(1), person_with_records(1)
    review.persons_merge(survivor=survivor, merged=merged, actor=admin)
    assert SourceRecord.objects.filter(person=survivor).count() == 2


def test_a_note_too_long_is_refused_before_anything_changes(steward):
    survivor, merged = person_with_records(1), person_with_records(1)
    before = _snapshot()
    with pytest.raises(ValidationFailed) as caught:
        review.persons_merge(survivor=survivor, merged=merged, actor=steward, note="x" * 501)
    assert "note" in caught.value.errors
    assert _snapshot() == before


def test_merge_refreshes_the_survivors_golden_record(steward):
    # given a survivor whose records have no e-mail, and a merged person with one
    survivor = person_with_records(1, email="")
    merged = person_with_records(1, email="maria@example.org")
    pytest.importorskip("registry.services.persons")
    # when merged
    review.persons_merge(survivor=survivor, merged=merged, actor=steward)
    # then the survivor's golden record has the e-mail from the merged person's record
    from registry.services.persons import person_golden

    survivor.refresh_from_db()
    assert person_golden(survivor)["email"]["value"] == "maria@example.org"
