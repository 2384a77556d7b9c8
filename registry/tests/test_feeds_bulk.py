"""Large loads: rows prepared by worker processes, the national ID's indexes, sent again.

The command line prepares a large file's rows in forked worker processes while it writes
them; what lands in the database must be exactly what a load in one process writes.
"""

import json
import multiprocessing
import re

import pytest
from django.core.management import call_command

from core.fields import lookup_value
from registry.mapping import mapping_parse
from registry.models import RejectedRow, SourceRecord, SourceRecordVersion
from registry.services import feeds
from registry.tests.feeds_helpers import csv_bytes, revenue_agency, revenue_row, steward_of

pytestmark = pytest.mark.django_db

needs_fork = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this system"
)

# Columns that differ between two loads of the same rows whatever the code: ids, times,
# the batch, and the national ID's token (AES-GCM with a random nonce).
_PER_LOAD = {"id", "batch", "loaded_at", "created_at", "updated_at", "national_id"}


@pytest.fixture
def revenue():
    return revenue_agency()


@pytest.fixture
def steward(revenue):
    return steward_of(revenue, username="stew")


def _rows(count, **overrides):
    """`count` taxpayers, with the variety of a real export and a few bad rows."""
    rows = []
    for i in range(count):
        row = revenue_row(
            f"RV{i:05d}",
            FORENAME=["Maria", "Bob", "Zoë", "William"][i % 4],
            SURNAME=["Garcia", "O'Brien-Smith", "Ng"][i % 3],
            NINO="" if i % 5 == 0 else f"AB{i:06d}C",
            TEL_NO="" if i % 7 == 0 else f"07700 9{i:05d}",
            DOB=f"{1 + i % 28:02d}/{1 + i % 12:02d}/19{50 + i % 50}",
            **overrides,
        )
        rows.append(row)
    rows[3]["DOB"] = "31/02/1980"  # not a real date
    rows[8]["TEL_NO"] = "not a phone"
    rows[11]["TAXPAYER_REF"] = rows[2]["TAXPAYER_REF"]  # sent twice in one batch
    return rows


def _load(agency, steward, rows, **kwargs):
    return feeds.ingest_file(
        agency=agency, data=csv_bytes(rows), actor=steward, filename="export.csv", **kwargs
    )


def _stored(batch):
    """What a load wrote: every record's columns, and every rejected row."""
    records = {
        r.agency_record_id: {
            **{
                f.attname: getattr(r, f.attname)
                for f in SourceRecord._meta.concrete_fields
                if f.name not in _PER_LOAD
            },
            "national_id (decrypted)": r.national_id,
        }
        for r in SourceRecord.objects.filter(agency=batch.agency)
    }
    rejected = [
        (row.row_number, row.agency_record_id, row.errors, json.loads(row.raw))
        for row in RejectedRow.objects.filter(batch=batch).order_by("row_number")
    ]
    return records, rejected


@needs_fork
def test_rows_prepared_by_worker_processes_are_stored_as_by_one_process(revenue, steward):
    # given an export of 120 taxpayers, loaded by one process in chunks of 25 rows
    rows = _rows(120)
    one = feeds.ingest_batch_create(agency=revenue, actor=steward, channel="command")
    feeds.ingest_rows(batch=one, rows=rows, actor=steward, chunk_rows=25)
    alone = _stored(one)
    SourceRecord.objects.all().delete()
    # when the same rows are loaded again with two worker processes preparing them
    two = feeds.ingest_batch_create(agency=revenue, actor=steward, channel="command")
    result = feeds.ingest_rows(batch=two, rows=rows, actor=steward, chunk_rows=25, workers=2)
    # then every record and every rejected row (with its errors) is the same
    assert _stored(two) == alone
    assert (two.created_count, two.rejected_count, two.processed_rows) == (117, 3, 120)
    assert len(result.created_ids) == 117
    assert {e["field"] for r in alone[1] for e in r[2]} == {
        "date_of_birth",
        "phone",
        "agency_record_id",
    }


@needs_fork
def test_a_large_file_from_the_command_line_uses_workers_and_finds_the_national_id(
    revenue, steward, monkeypatch, settings
):
    # given a deployment with two workers, and a file large enough for them
    settings.REGISTRY_INGEST_WORKERS = 2
    monkeypatch.setattr(feeds, "PARALLEL_MIN_ROWS", 50)
    rows = _rows(60)
    assert feeds.ingest_workers(rows=len(rows)) == 2
    # when the command line loads it
    batch = _load(revenue, steward, rows, workers=None).batch
    # then the records are there, each found by its national ID's blind index
    assert (batch.created_count, batch.rejected_count) == (57, 3)
    record = SourceRecord.objects.get(agency_record_id="RV00001")
    index = lookup_value(SourceRecord, "national_id", "ab 000001 c")
    assert SourceRecord.objects.get(national_id_index=index) == record
    assert record.national_id == "AB000001C"
    # and its near keys are the blind indexes its field makes, so linkage finds typos
    near = SourceRecord._meta.get_field("national_id_near")
    assert record.national_id_near == near.value_for("AB000001C")
    assert len(record.national_id_near.split()) == len("AB000001C") + 3


@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=needs_fork)])
def test_a_file_sent_again_changes_only_what_changed_and_keeps_history(revenue, steward, workers):
    # given an export loaded once
    rows = _rows(40)
    _load(revenue, steward, rows, workers=workers)
    before = SourceRecord.objects.get(agency_record_id="RV00010")
    # when the next night's export moves one taxpayer and corrects another's national ID
    rows[10]["ADDR_LINE_1"] = "3 Mill Lane"
    rows[20]["NINO"] = "ZZ999999Z"
    again = _load(revenue, steward, rows, workers=workers).batch
    # then those two are updated, the rest unchanged, the bad rows rejected again
    assert (again.updated_count, again.unchanged_count, again.rejected_count) == (2, 35, 3)
    moved = SourceRecord.objects.get(agency_record_id="RV00010")
    assert (moved.address_line, moved.version, moved.pk) == ("3 Mill Lane", 2, before.pk)
    assert moved.national_id_near == before.national_id_near
    history = json.loads(SourceRecordVersion.objects.get(record=moved).values)
    assert history["address_line"] == "12 High St"
    corrected = SourceRecord.objects.get(agency_record_id="RV00020")
    assert corrected.national_id == "ZZ999999Z"
    assert corrected.national_id_index == lookup_value(SourceRecord, "national_id", "ZZ999999Z")
    near = SourceRecord._meta.get_field("national_id_near")
    assert corrected.national_id_near == near.value_for("ZZ999999Z")


def test_an_update_through_a_mapping_without_national_id_keeps_the_ids_indexes(revenue, steward):
    # given a record loaded with its national ID
    _load(revenue, steward, [revenue_row("RV1")])
    stored = SourceRecord.objects.get(agency_record_id="RV1")
    # when a feed that does not carry national IDs changes the record's name
    batch = feeds.ingest_batch_create(agency=revenue, actor=steward, channel="api")
    spec = mapping_parse(
        {"record_id": "ref", "fields": {"given_name": "first", "family_name": "last"}}
    )
    feeds.ingest_rows(
        batch=batch,
        rows=[{"ref": "RV1", "first": "Mary", "last": "Garcia"}],
        actor=steward,
        spec=spec,
    )
    # then the name changed and the national ID is still found by its indexes
    record = SourceRecord.objects.get(agency_record_id="RV1")
    assert (batch.updated_count, record.given_name) == (1, "Mary")
    assert record.national_id == "AB123456C"
    assert record.national_id_index == stored.national_id_index
    assert record.national_id_near == stored.national_id_near


def test_workers_only_when_configured_and_for_a_large_file(settings):
    # given no setting, every file is prepared in the loading process
    assert feeds.ingest_workers(rows=10_000_000) == 0
    # when a deployment asks for two workers
    settings.REGISTRY_INGEST_WORKERS = 2
    # then a large file gets them, and a file of a few rows does not
    assert feeds.ingest_workers(rows=10_000_000) == 2
    assert feeds.ingest_workers(rows=10) == 0


def test_short_long_and_blank_csv_rows_are_kept_or_left_out_as_before(revenue, steward):
    # given an export with a blank line, a row of empty cells, a short and a long row
    good = ",".join(revenue_row("RV1").values())
    short = ",".join(list(revenue_row("RV2").values())[:5])
    long = ",".join([*revenue_row("RV3").values(), "surplus"])
    empty = "," * (len(revenue_row()) - 1)
    text = "\n".join([",".join(revenue_row()), good, "", empty, short, long, ""])
    # when it is loaded
    batch = feeds.ingest_file(agency=revenue, data=text.encode(), actor=steward).batch
    # then the blank line and the empty row are not rows; the short and long ones are kept
    # with what is wrong with them (numbered among the rows that are there)
    assert (batch.processed_rows, batch.created_count, batch.rejected_count) == (3, 1, 2)
    errors = {r.row_number: r.errors[0]["message"] for r in RejectedRow.objects.filter(batch=batch)}
    assert errors == {
        2: "the row has fewer values than the header has columns",
        3: "the row has more values than the header has columns",
    }


@needs_fork
def test_the_command_with_workers_loads_shows_progress_and_sums_up(revenue, tmp_path, capsys):
    # given an export on disk
    path = tmp_path / "revenue.csv"
    path.write_bytes(csv_bytes(_rows(30)))
    # when the command loads it with two worker processes, showing its progress bar
    call_command("ingest", str(path), agency="revenue", workers=2)
    # then the summary counts every row and the bar reached the end
    out, err = capsys.readouterr()
    assert re.search(r"revenue: 30 rows - 27 created, 0 updated, 0 unchanged, 3 rejected", out)
    assert "30/30" in err
    assert SourceRecord.objects.filter(agency=revenue).count() == 27
