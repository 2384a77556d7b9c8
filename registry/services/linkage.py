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
from collections.abc import Iterable
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
from registry.linkage import comparisons, ids, pipeline
from registry.linkage import frame as linkage_frame
from registry.linkage import model as linkage_model
from registry.models import (
    BatchStatus,
    CandidateStatus,
    LinkageModel,
    LinkRun,
    MatchCandidate,
    MembershipEvent,
    MembershipReason,
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
    records = linkage_frame.records_frame()
    return _train(actor=actor, engine=engine, records=records, previous=linkage_model_active())


def link_run(
    *,
    actor: User,
    engine: str = "duckdb",
    retrain: bool = False,
    threshold: float | None = None,
) -> LinkRun:
    """Link every source record into persons with stable ids (see the module docstring).

    Trains a model first when `retrain` is set or no usable model exists. `threshold`
    overrides the model's match threshold for this run.
    """
    policy.authorize(actor, "linkage.manage")
    _check_engine(engine)
    _check_threshold(threshold, "match threshold")
    started = time.perf_counter()
    records = linkage_frame.records_frame()
    model = linkage_model_active()
    if retrain or not _model_usable(model):
        model = _train(actor=actor, engine=engine, records=records, previous=model)
    assert model is not None
    match_threshold = threshold if threshold is not None else model.match_threshold
    review_threshold = min(model.review_threshold, match_threshold)
    run = LinkRun.objects.create(model=model, engine=engine, actor=actor, records=len(records))
    try:
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
        )
    except Exception as exc:
        LinkRun.objects.filter(pk=run.pk).update(
            status=BatchStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    person_golden_refresh(person_ids=touched)
    run.refresh_from_db()
    return run


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
    Person.objects.bulk_create(
        [Person(id=pid, created_at=now) for pid in plan.created], batch_size=CHUNK
    )
    _set_persons([(record, new) for record, (_old, new) in plan.moves.items()])
    action = uuid.uuid4()
    MembershipEvent.objects.bulk_create(
        (
            MembershipEvent(
                record_id=record,
                from_person_id=old,
                to_person_id=new,
                reason=MembershipReason.LINK_RUN,
                action=action,
                run=run,
                actor=actor,
                at=now,
            )
            for record, (old, new) in plan.moves.items()
        ),
        batch_size=CHUNK,
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


def _chunks(items: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _set_persons(moves: list[tuple[int, str]]) -> None:
    """Point many records at their new persons with one UPDATE through a temporary table."""
    if not moves:
        return
    table = connection.ops.quote_name(SourceRecord._meta.db_table)
    temp = "registry_link_moves"
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {temp}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {temp} (record_id bigint PRIMARY KEY, person_id varchar(16))"
        )
        for chunk in _chunks(moves):
            cursor.executemany(
                f"INSERT INTO {temp} (record_id, person_id) VALUES (%s, %s)",  # noqa: S608
                chunk,
            )
        cursor.execute(
            f"UPDATE {table} SET person_id = (SELECT m.person_id FROM {temp} m "  # noqa: S608
            f"WHERE m.record_id = {table}.id) WHERE id IN (SELECT record_id FROM {temp})"
        )
        cursor.execute(f"DROP TABLE {temp}")


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
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in values.items()}


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
    """After a feed load: give each new record a person at once, refresh changed persons.

    Records without a person are matched in real time (join, new person, or new person
    with a pair for review). Records that already have one keep it (a changed record
    moves, if it must, at the next batch link run, which sees all pairs at once); their
    persons' golden records are refreshed. With no trained model yet, nothing is matched:
    the first `manage.py link` links everyone. Returns counts by outcome.
    """
    from registry.linkage.realtime import record_match_realtime

    counts = {"joined": 0, "new": 0, "review": 0, "refreshed": 0, "waiting": 0}
    records = list(SourceRecord.objects.filter(pk__in=list(record_ids)).order_by("pk"))
    linked = {r.person_id for r in records if r.person_id}
    if linked:
        person_golden_refresh(person_ids={str(p) for p in linked})
        counts["refreshed"] = len(linked)
    if linkage_model_active() is None:
        counts["waiting"] = sum(1 for r in records if not r.person_id)
        return counts
    for record in records:
        if not record.person_id:
            counts[record_match_realtime(record=record, actor=actor).decision] += 1
    return counts
