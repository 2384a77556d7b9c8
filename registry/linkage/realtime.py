"""Real-time matching: one arriving record matched against the index at once.

`record_match_realtime(record=..., actor=...)`:

1. Candidates come from indexed lookups only (no scan): the national ID's blind index;
   family name + date of birth; postcode + date of birth (at most CANDIDATE_CAP each);
   then date of birth alone and postcode alone (the raw postcode when it has no
   standard form; at most BROAD_CAP each), among records that already belong to a person.
2. Each candidate is scored with the Python scorer (registry.linkage.comparisons) using the
   active model's m, u and prior and the term frequencies saved at the last link run, so a
   pair gets the weight batch linkage would give it.
3. The best probability decides: at or above the model's match threshold the record joins
   that person; below the review threshold it becomes a new person; in between it becomes
   a new person and the pair waits for a data steward as a MatchCandidate (origin
   "realtime"). A change of person is a MembershipEvent (reason "realtime"); the decision
   is audited.

A record that already has a person (a feed sent it again with changed data) is matched
again the same way, its own person's other records among the candidates: it stays when
they still match best, moves to another person that matches above the threshold, or
leaves for a person of its own (keeping its person when it was that person's only
record). A person it leaves empty is retired. Stewards' decisions hold
(registry.models.LinkConstraint): a record a steward put with another ("same person")
keeps its person ("kept"), and the persons of records a steward told apart from it
("different people") are never candidates. The golden records of the persons concerned
are refreshed after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core import audit
from core.errors import ApplicationError
from identity import policy
from identity.models import User
from registry.linkage import comparisons
from registry.linkage import frame as linkage_frame
from registry.linkage import model as linkage_model
from registry.models import (
    LinkageModel,
    LinkConstraint,
    MatchCandidate,
    MembershipEvent,
    MembershipReason,
    PairRule,
    Person,
    SourceRecord,
)
from registry.services.persons import person_golden_refresh

CANDIDATE_CAP = 200  # per selective lookup (national ID; a name or postcode with the date)
BROAD_CAP = 100  # per broad lookup (date of birth alone, postcode alone)
_FIELDS = ("person_id", *linkage_frame._DB_FIELDS)
_cache: dict[tuple[int, Any], comparisons.ScoringModel] = {}


class NoLinkageModel(ApplicationError):
    code = "no_linkage_model"
    status = 409
    title = "No linkage model has been trained yet"


@dataclass(frozen=True)
class RealtimeMatch:
    person: Person
    decision: str  # joined | new | review | kept (a steward's decision holds it)
    probability: float | None  # the best candidate's, None when there was none
    other: SourceRecord | None  # the best candidate record
    candidates: int


def scoring_model(model: LinkageModel) -> comparisons.ScoringModel:
    """The model in the Python scorer's shape, cached per model and term-frequency run."""
    extra = model.splink_model.get(linkage_model.CIVICSTACK_KEY) or {}
    key = (model.pk, extra.get("term_frequencies_run"))
    cached = _cache.get(key)
    if cached is None:
        linkage_model.check_spec(model.splink_model)
        cached = comparisons.ScoringModel.from_json(
            model.splink_model, term_frequencies=extra.get("term_frequencies") or {}
        )
        _cache.clear()
        _cache[key] = cached
    return cached


def _candidates(record: SourceRecord, row: dict[str, Any]) -> list[dict[str, Any]]:
    base = SourceRecord.objects.exclude(pk=record.pk).filter(person__isnull=False)
    lookups = []
    if row["national_id_index"]:
        lookups.append(base.filter(national_id_index=row["national_id_index"]))
    dob = record.date_of_birth
    if dob is not None:
        if row["family_name"]:
            lookups.append(base.filter(std_family_name=row["family_name"], date_of_birth=dob))
        if row["postcode"]:
            lookups.append(base.filter(std_postcode=row["postcode"], date_of_birth=dob))
    selective = len(lookups)
    if dob is not None:
        lookups.append(base.filter(date_of_birth=dob))
    if row["postcode"]:
        lookups.append(base.filter(std_postcode=row["postcode"]))
    elif record.postcode:
        lookups.append(base.filter(postcode=record.postcode))
    found: dict[int, dict[str, Any]] = {}
    for number, qs in enumerate(lookups):
        # the selective lookups first; the broad ones (one field alone) add a few more
        cap = CANDIDATE_CAP if number < selective else BROAD_CAP
        for values in qs.values(*_FIELDS)[:cap]:
            found.setdefault(values["id"], values)
    return list(found.values())


def record_match_realtime(*, record: SourceRecord, actor: User) -> RealtimeMatch:
    """Match one record against the index now and give it a person (see the docstring)."""
    if not policy.can(actor, "linkage.manage"):
        policy.authorize(actor, "source_record.manage", record)
    model = LinkageModel.objects.filter(active=True).order_by("-version").first()
    if model is None:
        raise NoLinkageModel("Run batch linkage (manage.py link) once before matching records.")
    scorer = scoring_model(model)
    left_base = linkage_frame.base_values(record)
    left = linkage_frame.features(left_base)
    same, different = _steward_pairs(record)
    if record.person_id and same:
        return _kept(record=record, actor=actor, model=model)
    best: tuple[float, dict[str, Any], comparisons.PairScore] | None = None
    candidates = _candidates(record, left)
    if different:
        apart = set(
            SourceRecord.objects.filter(pk__in=different, person__isnull=False).values_list(
                "person_id", flat=True
            )
        )
        candidates = [c for c in candidates if c["person_id"] not in apart]
    for values in candidates:
        right = linkage_frame.features(linkage_frame._base_from_row(values))
        score = comparisons.score_pair(scorer, left, right)
        if best is None or score.probability > best[0]:
            best = (score.probability, values, score)
    return _decide(record=record, actor=actor, model=model, best=best, candidates=len(candidates))


def _steward_pairs(record: SourceRecord) -> tuple[set[int], set[int]]:
    """The records a steward put with this one, and those told apart from it (in force)."""
    latest: dict[int, str] = {}
    rows = (
        LinkConstraint.objects.filter(Q(record=record) | Q(other=record), active=True)
        .order_by("at", "id")
        .values_list("record_id", "other_id", "rule")
    )
    for left, right, rule in rows:
        latest[right if left == record.pk else left] = rule
    same = {pk for pk, rule in latest.items() if rule == PairRule.SAME}
    return same, {pk for pk, rule in latest.items() if rule == PairRule.DIFFERENT}


def _kept(*, record: SourceRecord, actor: User, model: LinkageModel) -> RealtimeMatch:
    person = Person.objects.get(pk=record.person_id)
    audit.record(
        actor=actor,
        action="linkage.realtime_match",
        subject_person=person.pk,
        target=record,
        data={"decision": "kept", "reason": "steward decision", "model_version": model.version},
    )
    transaction.on_commit(lambda: person_golden_refresh(person_ids=[person.pk]))
    return RealtimeMatch(person, "kept", None, None, 0)


@transaction.atomic
def _decide(
    *,
    record: SourceRecord,
    actor: User,
    model: LinkageModel,
    best: tuple[float, dict[str, Any], comparisons.PairScore] | None,
    candidates: int,
) -> RealtimeMatch:
    probability = best[0] if best else None
    other = SourceRecord.objects.get(pk=best[1]["id"]) if best else None
    previous = record.person_id
    alone = (
        previous is not None
        and not SourceRecord.objects.filter(person_id=previous).exclude(pk=record.pk).exists()
    )
    if best is not None and best[0] >= model.match_threshold:
        person = Person.objects.get(pk=best[1]["person_id"])
        decision = "joined"
    elif alone:
        person = Person.objects.get(pk=previous)  # already a person of its own
        decision = "review" if best is not None and best[0] >= model.review_threshold else "new"
    else:
        person = Person.objects.create()
        decision = "review" if best is not None and best[0] >= model.review_threshold else "new"
    if previous is not None and previous != person.pk and alone:
        # the record was its person's last: that person leaves the index, into this one
        Person.objects.filter(pk=previous).update(retired_at=timezone.now(), merged_into=person)
    if previous != person.pk:
        SourceRecord.objects.filter(pk=record.pk).update(person=person)
        record.person = person
        MembershipEvent.objects.create(
            record=record,
            from_person_id=previous,
            to_person=person,
            reason=MembershipReason.REALTIME,
            actor=actor,
            note=f"{decision} at p={probability:.4f}" if probability is not None else decision,
        )
    if decision == "review" and best is not None and other is not None:
        left, right = sorted((record.pk, other.pk))
        MatchCandidate.objects.get_or_create(
            record_id=left,
            other_id=right,
            defaults={
                "match_probability": best[2].probability,
                "match_weight": best[2].weight,
                "explanation": best[2].explanation,
                "origin": MembershipReason.REALTIME,
                "model": model,
                "created_at": timezone.now(),
            },
        )
    audit.record(
        actor=actor,
        action="linkage.realtime_match",
        subject_person=person.pk,
        target=record,
        data={
            "decision": decision,
            "probability": probability,
            "candidates": candidates,
            "model_version": model.version,
            "previous_person": previous,
        },
    )
    concerned = [p for p in (person.pk, previous) if p]
    transaction.on_commit(lambda: person_golden_refresh(person_ids=concerned))
    return RealtimeMatch(person, decision, probability, other, candidates)
