import csv
import io
import itertools
import re
from collections import defaultdict

import pytest
from django.core.management import call_command

from core.errors import PermissionDenied
from core.models import AuditEntry
from demo.services import demo_government_seed
from identity.choices import Role
from identity.services import system_actor
from identity.tests.factories import staff
from registry.models import (
    LinkageModel,
    MembershipEvent,
    MembershipReason,
    Person,
    SourceRecord,
)
from registry.services import linkage

PEOPLE = 300


def _pairs(groups: dict[object, list[int]]) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for members in groups.values():
        pairs.update(itertools.combinations(sorted(members), 2))
    return pairs


def _precision_recall(truth_csv: str) -> tuple[float, float]:
    ids = {
        (code, rid): pk
        for pk, code, rid in SourceRecord.objects.values_list(
            "pk", "agency__code", "agency_record_id"
        )
    }
    true_groups: dict[object, list[int]] = defaultdict(list)
    for row in csv.DictReader(io.StringIO(truth_csv)):
        true_groups[row["true_person_id"]].append(ids[(row["agency"], row["agency_record_id"])])
    found: dict[object, list[int]] = defaultdict(list)
    for pk, person in SourceRecord.objects.values_list("pk", "person_id"):
        found[person].append(pk)
    truth, links = _pairs(true_groups), _pairs(found)
    hits = len(truth & links)
    return hits / len(links), hits / len(truth)


@pytest.fixture
def population(db):
    truth = io.StringIO()
    demo_government_seed(actor=system_actor(), people=PEOPLE, seed=11, truth=truth)
    return truth.getvalue()


def test_link_run_finds_the_synthetic_people_with_high_precision_and_recall(population):
    # given the synthetic government's records of a few hundred people, never linked
    actor = system_actor()

    # when batch linkage runs
    run = linkage.link_run(actor=actor)

    # then every record belongs to a person and the pairs agree with the truth
    assert not SourceRecord.objects.filter(person__isnull=True).exists()
    precision, recall = _precision_recall(population)
    print(f"pairwise precision {precision:.4f} recall {recall:.4f}")
    assert precision >= 0.97
    assert recall >= 0.97
    # and the run is counted, a model version was trained and the run was audited
    assert run.status == "done"
    assert run.records == SourceRecord.objects.count()
    assert run.persons == Person.objects.filter(retired_at__isnull=True).count()
    assert LinkageModel.objects.filter(active=True).count() == 1
    assert AuditEntry.objects.filter(action="linkage.run").count() == 1
    # and every record got its first person with a membership event
    assert MembershipEvent.objects.filter(reason=MembershipReason.LINK_RUN).count() == run.records


def test_a_second_run_keeps_every_person_id_and_records_no_change(population):
    # given records linked once
    actor = system_actor()
    linkage.link_run(actor=actor)
    before = dict(SourceRecord.objects.values_list("pk", "person_id"))
    models = LinkageModel.objects.count()

    # when linkage runs again on the same records
    run = linkage.link_run(actor=actor)

    # then nobody changed person, no model was retrained and no person was created
    assert dict(SourceRecord.objects.values_list("pk", "person_id")) == before
    assert run.membership_changes == 0
    assert run.persons_created == 0
    assert LinkageModel.objects.count() == models


def test_a_record_changed_to_look_like_another_person_moves_with_an_event(population):
    # given linked records, and a person with two or more records
    actor = system_actor()
    linkage.link_run(actor=actor)
    crowded = (
        Person.objects.filter(retired_at__isnull=True).order_by("id").values_list("id", flat=True)
    )
    source_person = next(p for p in crowded if SourceRecord.objects.filter(person_id=p).count() > 2)
    target = SourceRecord.objects.exclude(person_id=source_person).order_by("pk").first()
    moved = SourceRecord.objects.filter(person_id=source_person).order_by("pk").first()

    # when one of that person's records is corrected to describe someone else entirely
    for field in (
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
    ):
        setattr(moved, field, getattr(target, field))
    for field in (
        "std_given_name",
        "std_given_name_root",
        "std_family_name",
        "std_address",
        "std_postcode",
        "std_phone",
        "std_email",
    ):
        setattr(moved, field, "")
    moved.save()
    run = linkage.link_run(actor=actor)

    # then it joined the other person, the first person kept its id, and the move is recorded
    moved.refresh_from_db()
    assert moved.person_id == SourceRecord.objects.get(pk=target.pk).person_id
    assert Person.objects.get(pk=source_person).retired_at is None
    event = MembershipEvent.objects.get(record=moved, run=run)
    assert (event.from_person_id, event.to_person_id) == (source_person, moved.person_id)
    assert run.membership_changes >= 1


def test_only_data_stewards_and_platform_admins_run_linkage(db):
    # given a caseworker
    caseworker = staff(Role.CASEWORKER)

    # when they try to run linkage, then they are refused and nothing is linked
    with pytest.raises(PermissionDenied):
        linkage.link_run(actor=caseworker)
    assert not Person.objects.exists()


def test_export_links_writes_every_record_with_its_person(population, tmp_path):
    # given linked records
    linkage.link_run(actor=system_actor())
    target = tmp_path / "links.csv"

    # when the links are exported
    call_command("export_links", str(target), verbosity=0)

    # then the file has a header and one row per record with its person
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert len(rows) == SourceRecord.objects.count()
    record = SourceRecord.objects.select_related("agency").order_by("pk").first()
    assert {
        "agency": record.agency.code,
        "agency_record_id": record.agency_record_id,
        "person_id": record.person_id,
    } in rows
    assert AuditEntry.objects.filter(action="linkage.export_links").exists()


def test_link_command_prints_a_summary(population):
    # given unlinked records
    out = io.StringIO()

    # when the command runs
    call_command("link", stdout=out)

    # then it says how many records and persons it found
    text = out.getvalue()
    assert f"{SourceRecord.objects.count():,} records" in text
    assert f"{Person.objects.filter(retired_at__isnull=True).count():,} persons" in text
    # and how long each stage took, golden records included
    assert re.search(r"Stages: read [\d.]+ s, train [\d.]+ s, link .* golden [\d.]+ s", text)


def test_link_command_rejects_an_impossible_threshold(db):
    with pytest.raises(Exception, match="between 0 and 1"):
        call_command("link", "--threshold", "1.5")


def _plain(frame):
    """The frame with every missing value as None, for comparing frames of either kind."""
    return frame.astype(object).where(frame.notna(), None)


def test_the_linkage_frame_read_in_chunks_and_compacted_holds_the_same_records(
    population, monkeypatch
):
    # given the records read in one go, as plain Python objects
    from registry.linkage import frame as linkage_frame
    from registry.linkage import pipeline

    whole = linkage_frame.records_frame()
    # then with text as Arrow strings it takes less memory (the long blind-index keys of
    # national_id_near weigh the same either way)
    size = linkage_frame.records_frame(compact=True).memory_usage(deep=True).sum()
    assert size < whole.memory_usage(deep=True).sum() * 0.8
    # when they are read in chunks of 7 records, with text as Arrow strings
    monkeypatch.setattr(linkage_frame, "READ_CHUNK", 7)
    compact = linkage_frame.records_frame(compact=True)
    # then the frames hold the same values, in the same order
    assert len(compact) == len(whole) == SourceRecord.objects.count()
    assert _plain(compact).equals(_plain(whole))
    assert str(compact["family_name"].dtype) == "string"
    # and one model links both into the same persons
    model = linkage.linkage_model_train(actor=system_actor())
    a = pipeline.link_frame(whole, model_json=model.splink_model, prepared=True).clusters
    b = pipeline.link_frame(compact, model_json=model.splink_model, prepared=True).clusters
    joined = a.merge(b, on="unique_id")
    assert len(joined) == len(whole)
    assert (joined["cluster_id_x"] == joined["cluster_id_y"]).all()


def test_duckdb_kept_under_a_small_memory_limit_links_the_same_persons(population, settings):
    # given the records, and the persons a link run finds with DuckDB's default memory
    from registry.linkage import frame as linkage_frame
    from registry.linkage import pipeline

    records = linkage_frame.records_frame(compact=True)
    model = linkage.linkage_model_train(actor=system_actor())
    free = pipeline.link_frame(records, model_json=model.splink_model, prepared=True).clusters
    # when DuckDB may take only 256 MB (it spills to a temporary directory past that)
    settings.REGISTRY_LINKAGE_DUCKDB_MEMORY = "256MB"
    with pipeline.backend("duckdb") as db_api:
        limit = db_api._con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    held = pipeline.link_frame(records, model_json=model.splink_model, prepared=True).clusters
    # then DuckDB runs under the limit
    assert limit.endswith("MiB") and float(limit.split()[0]) < 300, limit
    # and the persons are the same
    joined = free.merge(held, on="unique_id")
    assert len(joined) == len(records)
    assert (joined["cluster_id_x"] == joined["cluster_id_y"]).all()


def test_a_malformed_duckdb_memory_limit_is_refused_by_name(settings):
    from django.core.exceptions import ImproperlyConfigured

    from registry.linkage import pipeline

    # given a limit that is not an amount of memory
    settings.REGISTRY_LINKAGE_DUCKDB_MEMORY = "2GB; DROP TABLE x"
    # when linkage opens DuckDB, then the setting is named with what is wrong
    with (
        pytest.raises(ImproperlyConfigured, match="REGISTRY_LINKAGE_DUCKDB_MEMORY"),
        pipeline.backend("duckdb"),
    ):
        pass
