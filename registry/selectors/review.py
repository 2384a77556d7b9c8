"""Reads for clerical review: the queue of uncertain pairs, one pair side by side, a
person's membership history.

All are authorised by ``person.review``. The queue lists pairs by their agencies, record
ids and scores only, so listing reads no one's personal data; opening a pair or a person's
review page reads the source records, and each record read is an audit entry with the
purpose "clerical review" under the record's person.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import F, FloatField, Q, QuerySet
from django.db.models.functions import Abs
from django.utils.translation import gettext_lazy as _

from core import audit
from core.errors import NotFound, ValidationFailed
from identity import policy
from identity.models import User
from registry import standardise
from registry.models import (
    CandidateStatus,
    MatchCandidate,
    MembershipEvent,
    Person,
    SourceRecord,
)
from registry.selectors.records import source_record_subject
from registry.services.review import UNDOABLE_REASONS

PURPOSE = "clerical review"
ORDERINGS: dict[str, tuple[str, ...]] = {
    # closest to an even chance first: the pairs the model is least sure about
    "uncertainty": ("uncertainty", "-match_probability", "id"),
    "probability": ("-match_probability", "id"),
    "probability_asc": ("match_probability", "id"),
    "oldest": ("created_at", "id"),
    "newest": ("-created_at", "-id"),
}
STATUSES = (*CandidateStatus.values, "all")
HISTORY_ACTIONS = 100


# --- the queue ---------------------------------------------------------------------------


def match_candidate_queue(
    *,
    viewer: User,
    status: str = CandidateStatus.OPEN,
    ordering: str = "uncertainty",
    agency: str | None = None,
) -> QuerySet[MatchCandidate]:
    """Candidate pairs with `status` ("all" for every one), least certain first by default."""
    policy.authorize(viewer, "person.review", policy.ANY_OBJECT)
    errors: dict[str, list[str]] = {}
    if status not in STATUSES:
        errors["status"] = [f"Choose one of {', '.join(STATUSES)}."]
    if ordering not in ORDERINGS:
        errors["ordering"] = [f"Choose one of {', '.join(ORDERINGS)}."]
    if errors:
        raise ValidationFailed(errors=errors)
    qs = MatchCandidate.objects.select_related(
        "record__agency", "other__agency", "decided_by"
    ).annotate(uncertainty=Abs(F("match_probability") - 0.5, output_field=FloatField()))
    if status != "all":
        qs = qs.filter(status=status)
    if agency:
        qs = qs.filter(Q(record__agency__code=agency) | Q(other__agency__code=agency))
    return qs.order_by(*ORDERINGS[ordering])


def match_pair_rejected(*, record_id: int, other_id: int) -> bool:
    """Whether a steward said these two records are different people (either order).

    For linkage, before it proposes a pair or joins the two records: no viewer, no audit.
    """
    return MatchCandidate.objects.filter(
        Q(record_id=record_id, other_id=other_id) | Q(record_id=other_id, other_id=record_id),
        status=CandidateStatus.REJECTED,
    ).exists()


# --- one pair side by side ---------------------------------------------------------------


@dataclass(frozen=True)
class FieldRow:
    name: str
    label: str
    record: str
    other: str
    agreement: str  # "same", "different" or "missing"

    @property
    def agreement_label(self) -> str:
        if not self.record and not self.other:
            return str(_("Not recorded"))
        return str(AGREEMENT_LABELS[self.agreement])


@dataclass(frozen=True)
class Bar:
    comparison: str
    label: str
    level: str
    weight: float
    width: int  # share of the largest weight, 0-100 in steps of 5 (CSS classes)

    @property
    def direction(self) -> str:
        if self.weight > 0:
            return "for"
        if self.weight < 0:
            return "against"
        return "neutral"


@dataclass(frozen=True)
class CandidateReview:
    candidate: MatchCandidate
    record: SourceRecord
    other: SourceRecord
    rows: list[FieldRow]
    bars: list[Bar]
    prior: float  # the model's starting weight before any comparison


AGREEMENT_LABELS = {
    "same": _("Same"),
    "different": _("Differs"),
    "missing": _("Missing on one side"),
}


def _safe(fn: Callable[[str], str]) -> Callable[[str], str]:
    def run(value: str) -> str:
        try:
            return fn(value)
        except ValueError:
            return standardise.fold(value)

    return run


# field, label, how to compare (None: equal as given)
FIELDS: tuple[tuple[str, Any, Callable[[str], str] | None], ...] = (
    ("given_name", _("Given name"), standardise.name),
    ("middle_name", _("Middle name"), standardise.name),
    ("family_name", _("Family name"), standardise.name),
    ("previous_family_name", _("Previous family name"), standardise.name),
    ("date_of_birth", _("Date of birth"), None),
    ("sex", _("Sex"), None),
    ("address_line", _("Address"), standardise.address),
    ("locality", _("Town"), standardise.fold),
    ("postcode", _("Postcode"), standardise.postcode),
    ("phone", _("Phone"), _safe(standardise.phone)),
    ("email", _("Email"), _safe(standardise.email)),
    ("national_id", _("National ID"), None),
    ("household_ref", _("Household reference"), standardise.fold),
)


def _shown(record: SourceRecord, name: str) -> str:
    if name == "date_of_birth":
        if record.date_of_birth:
            return record.date_of_birth.isoformat()
        return record.date_of_birth_raw
    if name == "sex":
        return str(record.get_sex_display()) if record.sex else ""
    if name == "national_id":
        return mask(record.national_id)
    return str(getattr(record, name) or "")


def mask(value: str) -> str:
    """An identifier shown by its last three characters: enough to tell two apart."""
    value = (value or "").strip()
    if not value:
        return ""
    return "\u2022" * max(len(value) - 3, 3) + value[-3:]


def field_rows(record: SourceRecord, other: SourceRecord) -> list[FieldRow]:
    """Each common-schema field of the two records, and whether they agree."""
    rows = []
    for name, label, compare in FIELDS:
        left, right = _shown(record, name), _shown(other, name)
        if not left or not right:
            agreement = "missing"
        elif name == "national_id":
            same = record.national_id_index == other.national_id_index
            agreement = "same" if same else "different"
        elif compare is None:
            agreement = "same" if left == right else "different"
        else:
            raw_left, raw_right = str(getattr(record, name)), str(getattr(other, name))
            agreement = "same" if compare(raw_left) == compare(raw_right) else "different"
        if not left and not right:
            agreement = "missing"
        rows.append(FieldRow(name, str(label), left, right, agreement))
    return rows


def comparison_label(comparison: str) -> str:
    """ "date_of_birth" -> "Date of birth"."""
    text = comparison.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def explanation_bars(candidate: MatchCandidate) -> tuple[list[Bar], float]:
    """The model's explanation as bars scaled to the largest weight, and the prior."""
    items = [
        (str(item.get("comparison", "")), str(item.get("level", "")), float(item["weight"]))
        for item in candidate.explanation or []
        if isinstance(item, dict) and isinstance(item.get("weight"), int | float)
    ]
    prior = round(candidate.match_weight - sum(w for _, _, w in items), 4)
    largest = max((abs(w) for _, _, w in items), default=0.0) or 1.0
    bars = [
        Bar(name, comparison_label(name), level, round(w, 4), _width(abs(w) / largest))
        for name, level, w in items
    ]
    return bars, prior


def _width(share: float) -> int:
    width = round(share * 20) * 5
    return max(width, 5) if share > 0 else 0


def match_candidate_get(*, viewer: User, candidate_id: int) -> CandidateReview:
    """One pair with both records side by side; reading the two records is audited."""
    policy.authorize(viewer, "person.review", policy.ANY_OBJECT)
    candidate = (
        MatchCandidate.objects.select_related(
            "record__agency", "other__agency", "decided_by", "model"
        )
        .filter(pk=candidate_id)
        .first()
    )
    if candidate is None:
        raise NotFound(f"No match candidate {candidate_id}.")
    record, other = candidate.record, candidate.other
    _audit_reads(viewer=viewer, records=[record, other], target_label=f"candidate {candidate.pk}")
    bars, prior = explanation_bars(candidate)
    return CandidateReview(candidate, record, other, field_rows(record, other), bars, prior)


def match_candidate_for_decision(*, viewer: User, candidate_id: int) -> MatchCandidate:
    """The candidate a decision is about (no personal data is read)."""
    policy.authorize(viewer, "person.review", policy.ANY_OBJECT)
    candidate = MatchCandidate.objects.filter(pk=candidate_id).first()
    if candidate is None:
        raise NotFound(f"No match candidate {candidate_id}.")
    return candidate


def _audit_reads(*, viewer: User, records: list[SourceRecord], target_label: str = "") -> None:
    for record in records:
        audit.record(
            actor=viewer,
            action="source_record.read",
            subject_person=record.person_id or source_record_subject(record),
            target=record,
            purpose=PURPOSE,
            data={"for": target_label} if target_label else None,
        )


# --- persons -----------------------------------------------------------------------------


def person_for_review(*, viewer: User, person_id: str) -> Person:
    """The person a merge, split or history is about (no personal data is read)."""
    policy.authorize(viewer, "person.review", policy.ANY_OBJECT)
    person = Person.objects.filter(pk=(person_id or "").strip().upper()).first()
    if person is None:
        raise NotFound(f"No person {person_id}.")
    return person


@dataclass(frozen=True)
class HistoryEvent:
    record_id: int
    record_label: str
    from_person: str | None
    to_person: str | None


@dataclass
class HistoryAction:
    action: uuid.UUID
    at: datetime
    reason: str
    reason_label: str
    actor: str
    note: str
    undone: bool
    events: list[HistoryEvent] = field(default_factory=list)
    can_undo: bool = False
    why_not: str = ""


def person_history(
    *, viewer: User, person_id: str, limit: int = HISTORY_ACTIONS
) -> list[HistoryAction]:
    """The membership changes of a person's records, newest first, grouped by action.

    An action is listed if it moved a record into or out of the person, or moved a record
    the person holds now. `can_undo` says whether `membership_action_undo` would accept it,
    and `why_not` why not. Reading a person's history is audited (one entry).
    """
    person = person_for_review(viewer=viewer, person_id=person_id)
    concerns = (
        Q(from_person_id=person.pk) | Q(to_person_id=person.pk) | Q(record__person_id=person.pk)
    )
    actions: list[uuid.UUID] = []
    newest_first = MembershipEvent.objects.filter(concerns).order_by("-at", "-id")
    for action in newest_first.values_list("action", flat=True).iterator():
        if action not in actions:
            actions.append(action)
            if len(actions) >= limit:
                break
    # Only the events that concern this person: a batch linkage run is one action over
    # every record of the index.
    events = list(
        MembershipEvent.objects.filter(concerns, action__in=actions)
        .select_related("record__agency", "actor")
        .order_by("id")
    )
    grouped: dict[uuid.UUID, HistoryAction] = {}
    for event in events:
        item = grouped.get(event.action)
        if item is None:
            item = grouped[event.action] = HistoryAction(
                action=event.action,
                at=event.at,
                reason=event.reason,
                reason_label=str(event.get_reason_display()),
                actor=event.actor.username if event.actor else str(_("the index")),
                note=event.note,
                undone=event.undone,
            )
        item.undone = item.undone or event.undone
        item.events.append(
            HistoryEvent(
                record_id=event.record_id,
                record_label=f"{event.record.agency.code}:{event.record.agency_record_id}",
                from_person=event.from_person_id,
                to_person=event.to_person_id,
            )
        )
    undoable = [a for a, item in grouped.items() if item.reason in UNDOABLE_REASONS]
    # every event of the action counts, also those of records this person never held
    moved_since = set(
        MembershipEvent.objects.filter(action__in=undoable)
        .exclude(record__person_id=F("to_person_id"))
        .values_list("action", flat=True)
    )
    for action, item in grouped.items():
        if item.undone:
            item.why_not = str(_("Already undone."))
        elif item.reason not in UNDOABLE_REASONS:
            item.why_not = str(_("Only review, merge and split changes can be undone."))
        elif action in moved_since:
            item.why_not = str(_("A record has changed person since; undo the later change first."))
        item.can_undo = not item.why_not
    audit.record(
        actor=viewer,
        action="person.history_read",
        subject_person=person.pk,
        target=person,
        purpose=PURPOSE,
    )
    return [grouped[a] for a in actions if a in grouped]


@dataclass(frozen=True)
class PersonReview:
    person: Person
    records: list[SourceRecord]
    history: list[HistoryAction]


def person_review_get(*, viewer: User, person_id: str) -> PersonReview:
    """A person's records (each read audited) and history, for merging and splitting."""
    person = person_for_review(viewer=viewer, person_id=person_id)
    records = list(
        SourceRecord.objects.filter(person=person)
        .select_related("agency")
        .order_by("agency__code", "agency_record_id")
    )
    _audit_reads(viewer=viewer, records=records)
    history = person_history(viewer=viewer, person_id=person.pk)
    return PersonReview(person, records, history)
