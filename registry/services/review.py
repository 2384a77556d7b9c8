"""Clerical review: a data steward's decisions on uncertain pairs, merges, splits and undo.

What a steward can expect:

- **Accept** a candidate pair says "these two records are the same person", so their
  persons become one. The other record's person survives (a candidate pairs a record with
  the closest record of an established person) and keeps its id; every record of the
  record's person moves to it, and the record's person is retired with
  ``merged_into`` = the survivor. A record without a person simply joins the other's; if
  neither had one, a new person holds both. Already the same person: only the decision is
  recorded.
- **Reject** says "different people". The candidate stays, rejected: the unique
  (record, other) pair keeps the pair from being proposed again (linkage asks
  `match_pair_rejected`, which checks both orders).

Every decision also binds later batch runs (`manage.py link`), as a `LinkConstraint` per
pair of records: an accepted pair and a merge (every record of both persons) are "same
person", a rejected pair and a split (each record split off against each that stayed)
are "different people"; registry.linkage.constraints clusters with them. Undoing an
action deactivates its constraints.
- **Merge** moves every record of one person to another and retires the first.
- **Split** moves chosen records of a person to a new person; it never takes them all.
- **Undo** reverses every membership change of one action: records go back to their
  previous persons, a person the action retired is restored, a person it created and
  left empty is retired. Undo is refused if any of those records has changed person
  since ("undo the later change first"); an undo itself is not undone (make the change
  again), nor is a batch linkage run (split or merge instead).

After accept, merge, split and undo, every open candidate whose two records now belong to
the same person is superseded; an undo reopens the candidates its action had accepted or
superseded, when their records are apart again.

Each service authorises ``person.review``, runs in one transaction, writes its
`MembershipEvent`s under one action uuid (all with the same timestamp, which undo uses to
find what the action retired, created, accepted and superseded), writes the audit trail
(one entry per person concerned, so each person's "who touched my data" finds it; the
entries of one action share its uuid in ``data.action``), and refreshes the golden
records of the persons concerned.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core import audit
from core.errors import ApplicationError, Conflict, NotFound, ValidationFailed
from identity import policy
from identity.models import User
from registry.models import (
    CandidateStatus,
    LinkConstraint,
    MatchCandidate,
    MembershipEvent,
    MembershipReason,
    PairRule,
    Person,
    SourceRecord,
)
from registry.services.persons import person_golden_refresh

NOTE_MAX = 500
# Changes a steward made; batch linkage and real-time matching are corrected by a split
# or a merge instead, and an undo by making the change again.
UNDOABLE_REASONS = frozenset(
    {MembershipReason.REVIEW, MembershipReason.MERGE, MembershipReason.SPLIT}
)


class CandidateAlreadyDecided(Conflict):
    code = "match_candidate_decided"
    title = "This pair has already been decided"


class PersonRetired(Conflict):
    code = "person_retired"
    title = "This person is no longer in the index"


class MergeInvalid(ApplicationError):
    code = "merge_invalid"
    status = 422
    title = "These persons cannot be merged"


class SplitInvalid(ApplicationError):
    code = "split_invalid"
    status = 422
    title = "This split is not possible"


class UndoRefused(Conflict):
    code = "undo_refused"
    title = "This change cannot be undone"


class ActionNotFound(NotFound):
    code = "membership_action_not_found"
    title = "No such change"


@dataclass(frozen=True)
class MembershipChange:
    """What one action did: its uuid (None when nobody moved) and the persons concerned."""

    action: uuid.UUID | None
    persons: list[str]
    records_moved: list[int] = field(default_factory=list)
    survivor: str | None = None
    new_person: str | None = None
    candidate_status: str | None = None


# --- the services ------------------------------------------------------------------------


@transaction.atomic
def match_candidate_accept(
    *, candidate: MatchCandidate, actor: User, note: str = ""
) -> MembershipChange:
    """The two records are the same person: their persons merge (see the module doc)."""
    policy.authorize(actor, "person.review", candidate)
    note = _clean_note(note)
    candidate = _open_candidate(candidate.pk)
    now = timezone.now()
    action = uuid.uuid4()
    record = SourceRecord.objects.select_for_update().get(pk=candidate.record_id)
    other = SourceRecord.objects.select_for_update().get(pk=candidate.other_id)
    persons = _lock_persons([p for p in (record.person_id, other.person_id) if p])
    for person in persons.values():
        _require_active(person)

    moves: list[SourceRecord] = []
    survivor: Person
    retired: Person | None = None
    created: Person | None = None
    if record.person_id and record.person_id == other.person_id:
        survivor = persons[record.person_id]
    elif other.person_id:
        survivor = persons[other.person_id]
        if record.person_id:
            retired = persons[record.person_id]
            moves = list(SourceRecord.objects.filter(person_id=retired.pk).order_by("pk"))
        else:
            moves = [record]
    elif record.person_id:
        survivor = persons[record.person_id]
        moves = [other]
    else:
        survivor = created = Person.objects.create(created_at=now)
        moves = [record, other]

    _move(
        moves,
        to=survivor,
        reason=MembershipReason.REVIEW,
        action=action,
        actor=actor,
        note=note,
        now=now,
    )
    if retired is not None:
        _retire(retired, into=survivor, now=now)
    candidate.status = CandidateStatus.ACCEPTED
    candidate.decided_by = actor
    candidate.decided_at = now
    candidate.save(update_fields=["status", "decided_by", "decided_at"])
    _constrain(
        [(record.pk, other.pk)],
        rule=PairRule.SAME,
        reason=MembershipReason.REVIEW,
        action=action,
        actor=actor,
        now=now,
    )
    superseded = _supersede_moot([r.pk for r in moves] + [record.pk, other.pk], actor, now)

    concerned = _ids(survivor.pk, retired.pk if retired else None)
    change = MembershipChange(
        action=action if moves else None,
        persons=concerned,
        records_moved=[r.pk for r in moves],
        survivor=survivor.pk,
        new_person=created.pk if created else None,
        candidate_status=CandidateStatus.ACCEPTED,
    )
    _audit(
        actor=actor,
        action="match_candidate.accept",
        persons=concerned,
        target=candidate,
        data={
            **_change_data(change, note),
            "candidate": candidate.pk,
            "match_probability": candidate.match_probability,
            "superseded": superseded,
        },
    )
    person_golden_refresh(person_ids=concerned)
    return change


@transaction.atomic
def match_candidate_reject(
    *, candidate: MatchCandidate, actor: User, note: str = ""
) -> MembershipChange:
    """The two records are different people; the pair is remembered and not proposed again."""
    policy.authorize(actor, "person.review", candidate)
    note = _clean_note(note)
    candidate = _open_candidate(candidate.pk)
    candidate.status = CandidateStatus.REJECTED
    candidate.decided_by = actor
    candidate.decided_at = timezone.now()
    candidate.save(update_fields=["status", "decided_by", "decided_at"])
    _constrain(
        [(candidate.record_id, candidate.other_id)],
        rule=PairRule.DIFFERENT,
        reason=MembershipReason.REVIEW,
        action=None,
        actor=actor,
        now=candidate.decided_at,
    )
    person_ids = SourceRecord.objects.filter(
        pk__in=[candidate.record_id, candidate.other_id]
    ).values_list("person_id", flat=True)
    concerned = _ids(*person_ids)
    change = MembershipChange(
        action=None, persons=concerned, candidate_status=CandidateStatus.REJECTED
    )
    _audit(
        actor=actor,
        action="match_candidate.reject",
        persons=concerned or [None],
        target=candidate,
        data={
            **_change_data(change, note),
            "candidate": candidate.pk,
            "records": [candidate.record_id, candidate.other_id],
            "match_probability": candidate.match_probability,
        },
    )
    return change


@transaction.atomic
def persons_merge(
    *, survivor: Person, merged: Person, actor: User, note: str = ""
) -> MembershipChange:
    """Every record of `merged` moves to `survivor`; `merged` is retired into it."""
    policy.authorize(actor, "person.review", survivor)
    note = _clean_note(note)
    if survivor.pk == merged.pk:
        raise MergeInvalid(
            f"{survivor.pk} cannot be merged with itself.",
            errors={"other": ["Give the id of a different person."]},
        )
    persons = _lock_persons([survivor.pk, merged.pk])
    survivor, merged = persons[survivor.pk], persons[merged.pk]
    _require_active(survivor)
    _require_active(merged, field_name="other")
    now = timezone.now()
    action = uuid.uuid4()
    moves = list(SourceRecord.objects.select_for_update().filter(person=merged).order_by("pk"))
    kept = list(
        SourceRecord.objects.filter(person=survivor).order_by("pk").values_list("pk", flat=True)
    )
    # every record of both persons stays together: a star from the survivor's first record
    together = kept + [r.pk for r in moves]
    _constrain(
        [(together[0], pk) for pk in together[1:]],
        rule=PairRule.SAME,
        reason=MembershipReason.MERGE,
        action=action,
        actor=actor,
        now=now,
    )
    _move(
        moves,
        to=survivor,
        reason=MembershipReason.MERGE,
        action=action,
        actor=actor,
        note=note,
        now=now,
    )
    _retire(merged, into=survivor, now=now)
    superseded = _supersede_moot([r.pk for r in moves], actor, now)
    change = MembershipChange(
        action=action,
        persons=[survivor.pk, merged.pk],
        records_moved=[r.pk for r in moves],
        survivor=survivor.pk,
    )
    _audit(
        actor=actor,
        action="person.merge",
        persons=change.persons,
        target=survivor,
        data={**_change_data(change, note), "merged": merged.pk, "superseded": superseded},
    )
    person_golden_refresh(person_ids=change.persons)
    return change


@transaction.atomic
def person_split(
    *, person: Person, record_ids: Sequence[int], actor: User, note: str = ""
) -> MembershipChange:
    """The chosen records of `person` become a new person; at least one record stays."""
    policy.authorize(actor, "person.review", person)
    note = _clean_note(note)
    person = _lock_persons([person.pk])[person.pk]
    _require_active(person)
    wanted = sorted(set(record_ids))
    if not wanted:
        raise SplitInvalid(
            "Choose at least one record to split off.",
            errors={"record_ids": ["Choose at least one record."]},
        )
    records = list(SourceRecord.objects.select_for_update().filter(person=person).order_by("pk"))
    held = {r.pk for r in records}
    strangers = [pk for pk in wanted if pk not in held]
    if strangers:
        listed = ", ".join(str(pk) for pk in strangers)
        raise SplitInvalid(
            f"Records {listed} do not belong to {person.pk}.",
            errors={"record_ids": [f"Not records of {person.pk}: {listed}."]},
        )
    if len(wanted) == len(held):
        raise SplitInvalid(
            f"A split must leave at least one record with {person.pk}; "
            "all of its records were chosen.",
            errors={"record_ids": ["Leave at least one record with this person."]},
        )
    now = timezone.now()
    action = uuid.uuid4()
    new = Person.objects.create(created_at=now)
    chosen = set(wanted)
    moves = [r for r in records if r.pk in chosen]
    # no record split off may be linked again with one that stayed
    _constrain(
        [(stay.pk, gone.pk) for stay in records if stay.pk not in chosen for gone in moves],
        rule=PairRule.DIFFERENT,
        reason=MembershipReason.SPLIT,
        action=action,
        actor=actor,
        now=now,
    )
    _move(
        moves,
        to=new,
        reason=MembershipReason.SPLIT,
        action=action,
        actor=actor,
        note=note,
        now=now,
    )
    change = MembershipChange(
        action=action,
        persons=[person.pk, new.pk],
        records_moved=[r.pk for r in moves],
        new_person=new.pk,
    )
    _audit(
        actor=actor,
        action="person.split",
        persons=change.persons,
        target=person,
        data=_change_data(change, note),
    )
    person_golden_refresh(person_ids=change.persons)
    return change


@transaction.atomic
def membership_action_undo(*, action: uuid.UUID, actor: User, note: str = "") -> MembershipChange:
    """Reverse every membership change of one action (see the module doc for the rules)."""
    policy.authorize(actor, "person.review", policy.ANY_OBJECT)
    note = _clean_note(note)
    events = list(
        MembershipEvent.objects.select_for_update()
        .filter(action=action)
        .select_related("record__agency")
        .order_by("pk")
    )
    if not events:
        raise ActionNotFound(f"No membership change has the action id {action}.")
    _require_undoable(events)
    at = events[0].at
    records = {
        r.pk: r
        for r in SourceRecord.objects.select_for_update().filter(
            pk__in=[e.record_id for e in events]
        )
    }
    for event in events:
        current = records[event.record_id].person_id
        if current != event.to_person_id:
            raise UndoRefused(
                f"Record {_record_label(event.record)} has changed person since: it is now "
                f"with {current or 'no person'}, not {event.to_person_id}. "
                "Undo the later change first.",
                record=event.record_id,
            )
    touched = _ids(*(p for e in events for p in (e.from_person_id, e.to_person_id)))
    persons = _lock_persons(touched)

    now = timezone.now()
    undo = uuid.uuid4()
    reverse = [
        MembershipEvent(
            record_id=e.record_id,
            from_person_id=e.to_person_id,
            to_person_id=e.from_person_id,
            reason=MembershipReason.UNDO,
            action=undo,
            actor=actor,
            note=note,
            at=now,
        )
        for e in events
    ]
    for e in events:
        SourceRecord.objects.filter(pk=e.record_id).update(person_id=e.from_person_id)
    MembershipEvent.objects.bulk_create(reverse)
    MembershipEvent.objects.filter(pk__in=[e.pk for e in events]).update(undone=True)
    # the undone decision no longer binds batch linkage
    LinkConstraint.objects.filter(action=action, active=True).update(active=False)

    restored, retired = _undo_person_states(persons, events, at=at, now=now)
    reopened = _reopen_candidates([e.record_id for e in events], at=at)
    change = MembershipChange(
        action=undo,
        persons=touched,
        records_moved=[e.record_id for e in events],
    )
    _audit(
        actor=actor,
        action="person.membership_undo",
        persons=touched,
        target=f"membership_action:{action}",
        data={
            **_change_data(change, note),
            "undone_action": str(action),
            "undone_reason": events[0].reason,
            "restored": restored,
            "retired": retired,
            "reopened": reopened,
        },
    )
    person_golden_refresh(person_ids=touched)
    return change


# --- helpers -----------------------------------------------------------------------------


def _clean_note(note: str) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ValidationFailed(
            f"The note is {len(note)} characters; at most {NOTE_MAX} are kept.",
            errors={"note": [f"Keep the note to {NOTE_MAX} characters or fewer."]},
        )
    return note


def _open_candidate(pk: int) -> MatchCandidate:
    candidate = (
        MatchCandidate.objects.select_for_update(of=("self",))
        .select_related("decided_by")
        .filter(pk=pk)
    ).first()
    if candidate is None:
        raise NotFound(f"No match candidate {pk}.")
    if candidate.status != CandidateStatus.OPEN:
        who = candidate.decided_by.username if candidate.decided_by else "the index"
        when = f" on {candidate.decided_at:%Y-%m-%d %H:%M}" if candidate.decided_at else ""
        raise CandidateAlreadyDecided(
            f"Pair {pk} was already decided: {candidate.status} "
            f"({candidate.get_status_display().lower()}), by {who}{when}.",
            candidate=pk,
            status=candidate.status,
        )
    return candidate


def _lock_persons(ids: Iterable[str]) -> dict[str, Person]:
    wanted = _ids(*ids)
    persons = {p.pk: p for p in Person.objects.select_for_update().filter(pk__in=wanted)}
    missing = [pk for pk in wanted if pk not in persons]
    if missing:
        raise NotFound(f"No person {', '.join(missing)}.")
    return persons


def _require_active(person: Person, *, field_name: str | None = None) -> None:
    if person.retired_at is None:
        return
    where = (
        f" into {person.merged_into_id}; use that person instead" if person.merged_into_id else ""
    )
    detail = f"{person.pk} was retired on {person.retired_at:%Y-%m-%d %H:%M}{where}."
    errors = {field_name: [detail]} if field_name else None
    raise PersonRetired(detail, errors=errors, person=person.pk)


def _require_undoable(events: list[MembershipEvent]) -> None:
    first = events[0]
    if any(e.undone for e in events):
        raise UndoRefused(f"The change {first.action} has already been undone.")
    if first.reason == MembershipReason.UNDO:
        raise UndoRefused(
            "An undo cannot itself be undone; make the change again instead "
            "(accept, merge or split)."
        )
    if first.reason not in UNDOABLE_REASONS:
        raise UndoRefused(
            f"Changes made by {first.get_reason_display().lower()} cannot be undone "
            "here; split or merge the persons instead."
        )


def _move(
    records: list[SourceRecord],
    *,
    to: Person,
    reason: str,
    action: uuid.UUID,
    actor: User,
    note: str,
    now: datetime,
) -> None:
    if not records:
        return
    MembershipEvent.objects.bulk_create(
        MembershipEvent(
            record_id=r.pk,
            from_person_id=r.person_id,
            to_person=to,
            reason=reason,
            action=action,
            actor=actor,
            note=note,
            at=now,
        )
        for r in records
    )
    SourceRecord.objects.filter(pk__in=[r.pk for r in records]).update(person=to)


def _constrain(
    pairs: Iterable[tuple[int, int]],
    *,
    rule: str,
    reason: str,
    action: uuid.UUID | None,
    actor: User,
    now: datetime,
) -> None:
    """Record the steward's word on these pairs for the next batch runs (LinkConstraint)."""
    LinkConstraint.objects.bulk_create(
        LinkConstraint(
            record_id=min(a, b),
            other_id=max(a, b),
            rule=rule,
            reason=reason,
            action=action,
            actor=actor if actor.pk else None,
            at=now,
        )
        for a, b in pairs
        if a != b
    )


def _retire(person: Person, *, into: Person | None, now: datetime) -> None:
    person.retired_at = now
    person.merged_into = into
    person.save(update_fields=["retired_at", "merged_into", "updated_at"])


def _supersede_moot(record_ids: Iterable[int], actor: User, now: datetime) -> list[int]:
    """Open pairs among these records whose two records now share a person."""
    ids = set(record_ids)
    moot = list(
        MatchCandidate.objects.filter(status=CandidateStatus.OPEN)
        .filter(Q(record_id__in=ids) | Q(other_id__in=ids))
        .filter(record__person__isnull=False, record__person_id=F("other__person_id"))
        .values_list("pk", flat=True)
    )
    MatchCandidate.objects.filter(pk__in=moot).update(
        status=CandidateStatus.SUPERSEDED, decided_by=actor, decided_at=now
    )
    return sorted(moot)


def _reopen_candidates(record_ids: list[int], *, at: datetime) -> list[int]:
    """Pairs the undone action accepted or superseded, whose records are apart again."""
    ids = set(record_ids)
    candidates = (
        MatchCandidate.objects.filter(
            status__in=[CandidateStatus.ACCEPTED, CandidateStatus.SUPERSEDED], decided_at=at
        )
        .filter(Q(record_id__in=ids) | Q(other_id__in=ids))
        .values_list("pk", "record__person_id", "other__person_id")
    )
    reopen = sorted(pk for pk, left, right in candidates if left is None or left != right)
    MatchCandidate.objects.filter(pk__in=reopen).update(
        status=CandidateStatus.OPEN, decided_by=None, decided_at=None
    )
    return reopen


def _undo_person_states(
    persons: dict[str, Person], events: list[MembershipEvent], *, at: datetime, now: datetime
) -> tuple[list[str], list[str]]:
    """Restore the persons the action retired; retire those it left empty."""
    holding = set(
        SourceRecord.objects.filter(person_id__in=list(persons))
        .values_list("person_id", flat=True)
        .distinct()
    )
    restored: list[str] = []
    retired: list[str] = []
    for pk, person in sorted(persons.items()):
        if person.retired_at == at and pk in holding:
            person.retired_at = None
            person.merged_into = None
            person.save(update_fields=["retired_at", "merged_into", "updated_at"])
            restored.append(pk)
        elif person.retired_at is None and pk not in holding:
            # Emptied by the undo: it was created by the action (a split, or an accepted
            # pair of two records without persons); point to where its records went back.
            back = {e.from_person_id for e in events if e.to_person_id == pk}
            home = back.pop() if len(back) == 1 else None
            into = persons.get(home) if home else None
            _retire(person, into=into, now=now)
            retired.append(pk)
    return restored, retired


def _ids(*ids: str | None) -> list[str]:
    return sorted({pk for pk in ids if pk})


def _record_label(record: SourceRecord) -> str:
    return f"{record.agency.code}:{record.agency_record_id}"


def _change_data(change: MembershipChange, note: str) -> dict[str, Any]:
    return {
        "action": str(change.action) if change.action else None,
        "persons": change.persons,
        "records_moved": change.records_moved,
        "survivor": change.survivor,
        "new_person": change.new_person,
        "note": note,
    }


def _audit(
    *,
    actor: User,
    action: str,
    persons: Sequence[str | None],
    target: Any,
    data: dict[str, Any],
) -> None:
    # One entry per person concerned: a person's own trail (filtered by subject_person)
    # then shows every decision about them; data.action ties the entries of one action.
    for person_id in persons:
        audit.record(
            actor=actor,
            action=action,
            subject_person=person_id,
            target=target,
            purpose="clerical review",
            data=data,
        )
