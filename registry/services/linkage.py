"""Writes of batch linkage: train a model, run linkage over every record, export the links.

`link_run` reads every source record in bulk, links them with the active model
(registry.linkage.pipeline; trained first when there is none or `retrain` is asked),
gives the clusters stable master person ids (registry.linkage.ids, which documents the
rule), and writes in one transaction: new persons, retired persons (with `merged_into`),
the records' new persons, one MembershipEvent per record whose person changed (all sharing
the run's `action`), and MatchCandidates for the best uncertain pair between two persons.
The golden records of the persons a run changed are refreshed afterwards.

The model's term frequencies (for the Python scorer of real-time matching) are refreshed
from the records of each run and kept beside the model (`splink_model["civicstack"]`).
"""

from __future__ import annotations

import csv
import logging
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from core import audit
from core.errors import ApplicationError
from identity import policy
from identity.models import User
from registry.linkage import comparisons, constraints, ids, pipeline
from registry.linkage import frame as linkage_frame
from registry.linkage import model as linkage_model
from registry.models import (
    BatchStatus,
    CandidateStatus,
    LinkageModel,
    LinkConstraint,
    LinkRun,
    MatchCandidate,
    MembershipEvent,
    MembershipReason,
    PairRule,
    Person,
    SourceRecord,
    new_person_id,
)
from registry.services.persons import person_golden_refresh

logger = logging.getLogger(__name__)


class SupportsWrite(Protocol):
    def write(self, text: str, /) -> Any: ...


CHUNK = 5000


class LinkageError(ApplicationError):
    code = "linkage_error"
    status = 400
    title = "Linkage cannot run"


class LinkageEngineUnavailable(LinkageError):
    code = "linkage_engine_unavailable"
    status = 503
    title = "The linkage engine is not available"


def _check_engine(engine: str) -> None:
    if engine not in pipeline.ENGINES:
        raise LinkageError(
            f"Unknown engine {engine!r}: choose one of {', '.join(pipeline.ENGINES)}."
        )
    if engine == "spark":
        from registry.linkage.spark import spark_missing_reason

        reason = spark_missing_reason()
        if reason:
            raise LinkageEngineUnavailable(f"The Spark engine cannot run: {reason}.")


def _check_threshold(value: float | None, name: str) -> None:
    if value is not None and not 0 < value < 1:
        raise LinkageError(f"The {name} must be a probability between 0 and 1, not {value}.")


def linkage_model_active() -> LinkageModel | None:
    return LinkageModel.objects.filter(active=True).order_by("-version").first()


def _default_thresholds() -> tuple[float, float]:
    match = float(getattr(settings, "REGISTRY_MATCH_THRESHOLD", pipeline.DEFAULT_MATCH_THRESHOLD))
    review = float(
        getattr(settings, "REGISTRY_REVIEW_THRESHOLD", pipeline.DEFAULT_REVIEW_THRESHOLD)
    )
    return match, review


def _model_usable(model: LinkageModel | None) -> bool:
    if model is None:
        return False
    try:
        linkage_model.check_spec(model.splink_model)
    except (ValueError, KeyError, TypeError):
        return False
    return True


def _train(
    *, actor: User, engine: str, records: pd.DataFrame, previous: LinkageModel | None
) -> LinkageModel:
    if len(records) < 2:
        raise LinkageError("At least two source records are needed to train a linkage model.")
    with pipeline.backend(engine) as db_api:
        trained = linkage_model.train_on(records, db_api=db_api, engine=engine)
    trained[linkage_model.CIVICSTACK_KEY]["term_frequencies"] = linkage_frame.term_frequencies(
        records, comparisons.TF_COLUMNS
    )
    match, review = _default_thresholds()
    if previous is not None:
        match, review = previous.match_threshold, previous.review_threshold
    with transaction.atomic():
        version = (LinkageModel.objects.aggregate(v=Max("version"))["v"] or 0) + 1
        LinkageModel.objects.filter(active=True).update(active=False)
        model = LinkageModel.objects.create(
            version=version,
            engine=engine,
            splink_model=trained,
            match_threshold=match,
            review_threshold=review,
            records=len(records),
            active=True,
            trained_by=actor,
        )
        audit.record(
            actor=actor,
            action="linkage.model_train",
            target=model,
            data={"version": version, "engine": engine, "records": len(records)},
        )
    return model


def linkage_model_train(*, actor: User, engine: str = "duckdb") -> LinkageModel:
    """Train a new model version on every source record and make it the active one."""
    policy.authorize(actor, "linkage.manage")
    _check_engine(engine)
    records = linkage_frame.records_frame(compact=engine == "duckdb")
    return _train(actor=actor, engine=engine, records=records, previous=linkage_model_active())


def link_run(
    *,
    actor: User,
    engine: str = "duckdb",
    retrain: bool = False,
    threshold: float | None = None,
    timings: dict[str, float] | None = None,
) -> LinkRun:
    """Link every source record into persons with stable ids (see the module docstring).

    Trains a model first when `retrain` is set or no usable model exists. `threshold`
    overrides the model's match threshold for this run. `timings`, when given, receives
    the seconds of each stage: read, train, link (predict and cluster), persist and golden.
    """
    policy.authorize(actor, "linkage.manage")
    _check_engine(engine)
    _check_threshold(threshold, "match threshold")
    started = time.perf_counter()
    clock = _Stopwatch(timings)
    records = linkage_frame.records_frame(compact=engine == "duckdb")
    clock.lap("read")
    model = linkage_model_active()
    if retrain or not _model_usable(model):
        model = _train(actor=actor, engine=engine, records=records, previous=model)
    clock.lap("train")
    assert model is not None
    match_threshold = threshold if threshold is not None else model.match_threshold
    review_threshold = min(model.review_threshold, match_threshold)
    run = LinkRun.objects.create(model=model, engine=engine, actor=actor, records=len(records))
    try:
        different: list[tuple[int, int]] = []
        if len(records) == 0:
            clusters = pd.DataFrame({"unique_id": [], "cluster_id": []})
            predictions = pd.DataFrame()
        else:
            result = pipeline.link_frame(
                records,
                model_json=model.splink_model,
                engine=engine,
                threshold=match_threshold,
                floor=review_threshold,
                explain=True,
                prepared=True,
            )
            clusters, predictions = result.clusters, result.predictions
            same, different = link_constraints_current()
            clusters = constraints.apply(
                clusters,
                predictions,
                threshold=match_threshold,
                same=same,
                different=different,
            )
        clock.lap("link")
        touched = _apply(
            run=run,
            model=model,
            actor=actor,
            clusters=clusters,
            predictions=predictions,
            match_threshold=match_threshold,
            review_threshold=review_threshold,
            records=records,
            started=started,
            different=different,
        )
    except Exception as exc:
        LinkRun.objects.filter(pk=run.pk).update(
            status=BatchStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    clock.lap("persist")
    person_golden_refresh(person_ids=touched)
    clock.lap("golden")
    run.refresh_from_db()
    return run


class _Stopwatch:
    """Seconds per stage of a run, written into `into` (nothing when it is None)."""

    def __init__(self, into: dict[str, float] | None) -> None:
        self.into = into
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        if self.into is not None:
            self.into[stage] = self.into.get(stage, 0.0) + now - self.last
        self.last = now


@transaction.atomic
def _apply(
    *,
    run: LinkRun,
    model: LinkageModel,
    actor: User,
    clusters: pd.DataFrame,
    predictions: pd.DataFrame,
    match_threshold: float,
    review_threshold: float,
    records: pd.DataFrame,
    started: float,
    different: list[tuple[int, int]],
) -> set[str]:
    record_clusters = dict(
        zip(clusters["unique_id"].tolist(), clusters["cluster_id"].tolist(), strict=True)
    )
    record_persons = dict(SourceRecord.objects.values_list("id", "person_id"))
    person_created = dict(Person.objects.values_list("id", "created_at"))
    plan = ids.assign(
        record_clusters=record_clusters,
        record_persons=record_persons,
        person_created=person_created,
        new_id=new_person_id,
    )
    now = timezone.now()
    persons_insert(plan.created, now=now)
    action = uuid.uuid4()
    _set_persons(
        [(record, old, new) for record, (old, new) in plan.moves.items()],
        event={"action": action, "run": run, "actor": actor, "at": now},
    )
    _retire(plan.retired, now=now)
    scoring = comparisons.ScoringModel.from_json(model.splink_model)
    review_pairs = _review_candidates(
        predictions=predictions,
        record_clusters=record_clusters,
        cluster_person=plan.cluster_person,
        model=model,
        scoring=scoring,
        match_threshold=match_threshold,
        review_threshold=review_threshold,
        records=records,
        different=different,
    )
    superseded = _supersede_joined_candidates()
    _store_term_frequencies(model, records, run)
    counts = {
        "records": len(record_clusters),
        "pairs": len(predictions),
        "persons": len(set(plan.cluster_person.values())),
        "persons_created": len(plan.created),
        "persons_retired": len(plan.retired),
        "membership_changes": len(plan.moves),
        "review_pairs": review_pairs,
    }
    LinkRun.objects.filter(pk=run.pk).update(
        status=BatchStatus.DONE,
        seconds=time.perf_counter() - started,
        finished_at=timezone.now(),
        **counts,
    )
    audit.record(
        actor=actor,
        action="linkage.run",
        target=run,
        data={
            **counts,
            "model_version": model.version,
            "engine": run.engine,
            "match_threshold": match_threshold,
            "review_threshold": review_threshold,
            "candidates_superseded": superseded,
        },
    )
    touched = {new for _old, new in plan.moves.values()}
    touched |= {old for old, _new in plan.moves.values() if old is not None}
    return touched - set(plan.retired)


def link_constraints_current() -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Stewards' decisions in force: (same-person pairs, different-people pairs).

    For each pair of records the latest active LinkConstraint counts (registry.models).
    """
    latest: dict[tuple[int, int], str] = {}
    rows = (
        LinkConstraint.objects.filter(active=True)
        .order_by("at", "id")
        .values_list("record_id", "other_id", "rule")
    )
    for record, other, rule in rows.iterator(chunk_size=CHUNK):
        latest[(min(record, other), max(record, other))] = rule
    same = [pair for pair, rule in latest.items() if rule == PairRule.SAME]
    different = [pair for pair, rule in latest.items() if rule == PairRule.DIFFERENT]
    return same, different


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def persons_insert(person_ids: list[str], *, now: Any) -> None:
    """New, empty persons (their golden records come later), in one executemany."""
    if not person_ids:
        return
    quote = connection.ops.quote_name
    table = quote(Person._meta.db_table)
    at = Person._meta.get_field("created_at").get_db_prep_save(now, connection)
    columns = (
        "id",
        "golden",
        "given_name",
        "family_name",
        "std_given_name",
        "std_family_name",
        "created_at",
        "updated_at",
    )
    names = ", ".join(quote(c) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - model's names
    with connection.cursor() as cursor:
        for chunk in _chunks(sorted(person_ids)):  # stored in the order golden refresh writes
            cursor.executemany(sql, [(pid, "", "", "", "", "", at, at) for pid in chunk])


def _set_persons(
    moves: Sequence[tuple[int, str | None, str]], *, event: dict[str, Any] | None = None
) -> None:
    """Point many records at their new persons with one UPDATE through a temporary table.

    `moves` are (record, old person or None, new person). With `event` (action, run, actor,
    at), one MembershipEvent per move is written by one INSERT ... SELECT from the same
    table: set operations in the database instead of a model instance per record.
    """
    if not moves:
        return
    quote = connection.ops.quote_name
    table = quote(SourceRecord._meta.db_table)
    temp = "registry_link_moves"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {temp}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {temp} (record_id bigint PRIMARY KEY, "
            "from_person_id varchar(16), person_id varchar(16))"
        )
        for chunk in _chunks(moves):
            cursor.executemany(
                f"INSERT INTO {temp} (record_id, from_person_id, person_id) "  # noqa: S608
                "VALUES (%s, %s, %s)",
                chunk,
            )
        cursor.execute(
            f"UPDATE {table} SET person_id = (SELECT m.person_id FROM {temp} m "  # noqa: S608
            f"WHERE m.record_id = {table}.id) WHERE id IN (SELECT record_id FROM {temp})"
        )
        if event is not None:
            _events_insert(cursor, temp, event)
        cursor.execute(f"DROP TABLE {temp}")


def _events_insert(cursor: Any, temp: str, event: dict[str, Any]) -> None:
    """One link-run MembershipEvent per row of the moves table, in one statement."""
    quote = connection.ops.quote_name
    meta = MembershipEvent._meta

    def prep(name: str, value: Any) -> Any:
        return meta.get_field(name).get_db_prep_save(value, connection)  # type: ignore[union-attr]

    run, actor = event["run"], event["actor"]
    columns = (
        "record_id",
        "from_person_id",
        "to_person_id",
        "reason",
        "action",
        "run_id",
        "actor_id",
        "note",
        "undone",
        "at",
    )
    values = (
        prep("reason", MembershipReason.LINK_RUN.value),
        prep("action", event["action"]),
        run.pk if run is not None else None,
        actor.pk if actor is not None and actor.pk else None,
        "",
        prep("undone", False),
        prep("at", event["at"]),
    )
    # Values are parameters; the names come from the model.
    cursor.execute(
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(c) for c in columns)}) "  # noqa: S608
        f"SELECT record_id, from_person_id, person_id, %s, %s, %s, %s, %s, %s, %s "
        f"FROM {temp} ORDER BY record_id",
        values,
    )


def _retire(retired: dict[str, str | None], *, now: Any) -> None:
    by_target: dict[str | None, list[str]] = {}
    for person, target in retired.items():
        by_target.setdefault(target, []).append(person)
    for target, persons in by_target.items():
        for chunk in _chunks(persons):
            Person.objects.filter(pk__in=chunk).update(retired_at=now, merged_into_id=target)


def _review_candidates(
    *,
    predictions: pd.DataFrame,
    record_clusters: dict[Any, Any],
    cluster_person: dict[Any, str],
    model: LinkageModel,
    scoring: comparisons.ScoringModel,
    match_threshold: float,
    review_threshold: float,
    records: pd.DataFrame,
    different: list[tuple[int, int]],
) -> int:
    """The best uncertain pair between each two persons, as a MatchCandidate."""
    if predictions.empty:
        return 0
    uncertain = predictions[
        (predictions["match_probability"] >= review_threshold)
        & (predictions["match_probability"] < match_threshold)
    ]
    if uncertain.empty:
        return 0
    person_l = uncertain["unique_id_l"].map(record_clusters).map(cluster_person)
    person_r = uncertain["unique_id_r"].map(record_clusters).map(cluster_person)
    uncertain = uncertain.assign(person_l=person_l, person_r=person_r)
    uncertain = uncertain[uncertain["person_l"] != uncertain["person_r"]]
    # Two persons a steward already told apart (a rejected pair, a split) are not proposed.
    told_apart = set()
    for a, b in different:
        pa = cluster_person.get(record_clusters.get(a))
        pb = cluster_person.get(record_clusters.get(b))
        told_apart |= {(pa, pb), (pb, pa)}
    if told_apart:
        asked = pd.Series(list(zip(uncertain["person_l"], uncertain["person_r"], strict=True)))
        uncertain = uncertain[~asked.isin(told_apart).to_numpy()]
    if uncertain.empty:
        return 0
    a = uncertain[["person_l", "person_r"]].min(axis=1)
    b = uncertain[["person_l", "person_r"]].max(axis=1)
    best = (
        uncertain.assign(a=a, b=b)
        .sort_values("match_probability", ascending=False)
        .drop_duplicates(["a", "b"])
    )
    existing = set(
        MatchCandidate.objects.filter(
            record_id__in=best["unique_id_l"].tolist() + best["unique_id_r"].tolist()
        ).values_list("record_id", "other_id")
    )
    frame = records.set_index("unique_id", drop=False)
    rows = []
    for row in best.to_dict("records"):
        left, right = sorted((int(row["unique_id_l"]), int(row["unique_id_r"])))
        if (left, right) in existing or (right, left) in existing:
            continue
        rows.append(
            MatchCandidate(
                record_id=left,
                other_id=right,
                match_probability=float(row["match_probability"]),
                match_weight=float(row["match_weight"]),
                explanation=comparisons.explanation_from_columns(
                    row,
                    scoring,
                    _row(frame, row["unique_id_l"]),
                    _row(frame, row["unique_id_r"]),
                ),
                origin=MembershipReason.LINK_RUN,
                model=model,
            )
        )
    MatchCandidate.objects.bulk_create(rows, batch_size=CHUNK, ignore_conflicts=True)
    return len(rows)


def _row(frame: pd.DataFrame, unique_id: Any) -> dict[str, Any]:
    values = frame.loc[unique_id].to_dict()
    # missing: NaN, or pd.NA in the Arrow-string frame
    return {
        k: (None if v is pd.NA or (isinstance(v, float) and v != v) else v)
        for k, v in values.items()
    }


def _supersede_joined_candidates() -> int:
    """Open candidates whose two records now belong to one person need no review."""
    open_pairs = MatchCandidate.objects.filter(status=CandidateStatus.OPEN).values_list(
        "pk", "record__person_id", "other__person_id"
    )
    done = [pk for pk, a, b in open_pairs if a is not None and a == b]
    for chunk in _chunks(done):
        MatchCandidate.objects.filter(pk__in=chunk).update(status=CandidateStatus.SUPERSEDED)
    return len(done)


def _store_term_frequencies(model: LinkageModel, records: pd.DataFrame, run: LinkRun) -> None:
    data = dict(model.splink_model)
    extra = dict(data.get(linkage_model.CIVICSTACK_KEY) or {})
    extra["term_frequencies"] = linkage_frame.term_frequencies(records, comparisons.TF_COLUMNS)
    extra["term_frequencies_run"] = run.pk
    data[linkage_model.CIVICSTACK_KEY] = extra
    model.splink_model = data
    model.save(update_fields=["splink_model"])


def persons_export_links(*, actor: User, out: SupportsWrite) -> int:
    """Write `agency,agency_record_id,person_id` for every source record; returns the rows."""
    policy.authorize(actor, "linkage.manage")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("agency", "agency_record_id", "person_id"))
    count = 0
    rows = (
        SourceRecord.objects.order_by("agency__code", "agency_record_id")
        .values_list("agency__code", "agency_record_id", "person_id")
        .iterator(chunk_size=CHUNK)
    )
    for agency, record_id, person_id in rows:
        writer.writerow((agency, record_id, person_id or ""))
        count += 1
    audit.record(actor=actor, action="linkage.export_links", data={"records": count})
    return count


def records_match(*, record_ids: Iterable[int], actor: User) -> dict[str, int]:
    """After a feed load: match each new or changed record at once, refresh golden records.

    Every record is matched in real time (registry.linkage.realtime): a new one joins a
    person, becomes a new one, or a new one with a pair for review; a changed one (the
    agency sent it again with other values) is matched again and stays, moves, or leaves
    its person, unless a steward's decision holds it ("kept"). The golden records of the
    persons concerned are refreshed. With no trained model yet, nothing is matched (the
    first `manage.py link` links everyone): changed records' persons are only refreshed.
    Returns counts by outcome.
    """
    from registry.linkage.realtime import record_match_realtime

    counts = {"joined": 0, "new": 0, "review": 0, "kept": 0, "refreshed": 0, "waiting": 0}
    records = list(SourceRecord.objects.filter(pk__in=list(record_ids)).order_by("pk"))
    if linkage_model_active() is None:
        linked = {str(r.person_id) for r in records if r.person_id}
        if linked:
            counts["refreshed"] = person_golden_refresh(person_ids=linked)
        counts["waiting"] = sum(1 for r in records if not r.person_id)
        return counts
    for record in records:
        counts[record_match_realtime(record=record, actor=actor).decision] += 1
    return counts
