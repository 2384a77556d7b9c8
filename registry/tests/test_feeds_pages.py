"""Feed pages: upload -> progress -> batch page with rejected rows -> correction; the command."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from identity.choices import Role
from identity.tests.factories import staff
from registry.models import BatchStatus, FeedMapping, IngestBatch, RejectedRow, SourceRecord
from registry.tests.feeds_helpers import (
    REVENUE_HEADER,
    csv_bytes,
    revenue_agency,
    revenue_row,
    signed_in,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def revenue():
    return revenue_agency()


@pytest.fixture
def steward_client(revenue):
    return signed_in(Client(), staff(Role.DATA_STEWARD, revenue, username="stew"))


def _text(response):
    return re.sub(r"\s+", " ", response.content.decode())


def _error_beside(response, field):
    """Whether the page marks the field's own group as in error (its message sits there)."""
    pattern = (
        rf'<div class="govuk-form-group govuk-form-group--error">\s*'
        rf'<label class="govuk-label" for="id_{field}">'
    )
    return re.search(pattern, response.content.decode()) is not None


def _upload(client, data, name="export.csv", **fields):
    return client.post(
        "/registry/feeds/revenue/upload/",
        {"file": SimpleUploadedFile(name, data, content_type="text/csv"), **fields},
    )


def test_upload_then_progress_then_rejected_rows_then_correction(
    steward_client, django_capture_on_commit_callbacks, run_worker
):
    # given a file with two good rows and one with an e-mail that is not one
    data = csv_bytes(
        [revenue_row("RV1"), revenue_row("RV2", EMAIL_ADDR="nope"), revenue_row("RV3")]
    )
    # when the steward uploads it, then they land on the batch page, which waits for the worker
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(steward_client, data)
    assert response.status_code == 302
    batch = IngestBatch.objects.get()
    assert response["Location"] == f"/registry/feeds/batches/{batch.pk}/"
    waiting = steward_client.get(response["Location"])
    assert waiting.status_code == 200
    assert 'hx-trigger="every' in waiting.content.decode()
    assert "0 of 3 rows processed" in _text(waiting)
    # when the worker has run the load
    run_worker()
    done = steward_client.get(response["Location"])
    # then the page stops refreshing and lists the rejected row with its reason
    page = _text(done)
    assert 'hx-trigger="every' not in page
    assert "3 of 3 rows processed" in page
    assert "Row 2" in page and "column EMAIL_ADDR: not an e-mail address" in page
    assert SourceRecord.objects.count() == 2
    # when the steward opens the row and corrects the e-mail
    row = RejectedRow.objects.get()
    form = steward_client.get(f"/registry/feeds/rejected/{row.pk}/")
    assert form.status_code == 200
    email_field = f"c{REVENUE_HEADER.index('EMAIL_ADDR')}"
    assert f'name="{email_field}"' in form.content.decode()
    posted = {f"c{i}": v for i, v in enumerate(revenue_row("RV2", EMAIL_ADDR="nope").values())}
    posted[email_field] = "still wrong"
    bad = steward_client.post(f"/registry/feeds/rejected/{row.pk}/", posted)
    # then a still-wrong value is shown beside its field
    assert bad.status_code == 400
    assert _error_beside(bad, email_field)
    posted[email_field] = "rv2@example.org"
    good = steward_client.post(f"/registry/feeds/rejected/{row.pk}/", posted)
    assert good.status_code == 302
    assert SourceRecord.objects.get(agency_record_id="RV2").email == "rv2@example.org"


def test_wrong_encoding_upload_gets_a_message_not_a_crash(steward_client):
    data = csv_bytes([revenue_row("RV1", SURNAME="Muñoz")], encoding="latin-1")
    response = _upload(steward_client, data)
    assert response.status_code == 400
    assert "is not valid utf-8" in _text(response)
    assert not IngestBatch.objects.exists()


def test_declared_encoding_makes_the_same_file_load(
    steward_client, django_capture_on_commit_callbacks
):
    data = csv_bytes([revenue_row("RV1", SURNAME="Muñoz")], encoding="latin-1")
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(steward_client, data, encoding="latin-1")
    assert response.status_code == 302
    assert SourceRecord.objects.get().family_name == "Muñoz"
    assert IngestBatch.objects.get().status == BatchStatus.DONE


def test_oversized_upload_is_refused(steward_client, settings):
    settings.REGISTRY_UPLOAD_MAX_BYTES = 1024 * 1024
    response = _upload(steward_client, b"x" * (1024 * 1024 + 1))
    assert response.status_code == 400
    assert "the largest accepted is 1 MB" in _text(response)


def test_mapping_errors_show_beside_the_field(steward_client):
    response = steward_client.post(
        "/registry/feeds/revenue/", {"text": "record_id: REF\nfields:\n  surname: NAME\n"}
    )
    assert response.status_code == 400
    assert _error_beside(response, "text")
    assert "fields.surname: not a common field" in _text(response)
    saved = steward_client.post(
        "/registry/feeds/revenue/", {"text": "record_id: REF\nfields:\n  family_name: NAME\n"}
    )
    assert saved.status_code == 302
    assert FeedMapping.objects.get().version == 1


def test_caseworker_sees_the_feed_but_cannot_upload(revenue):
    client = signed_in(Client(), staff(Role.CASEWORKER, revenue))
    assert client.get("/registry/feeds/revenue/").status_code == 200
    assert _upload(client, csv_bytes([revenue_row("RV1")])).status_code == 403


def test_signed_out_is_sent_to_sign_in(revenue):
    response = Client().get("/registry/feeds/revenue/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# --- the command ----------------------------------------------------------------------------


def test_command_loads_and_prints_a_summary(revenue, tmp_path, capsys):
    path = tmp_path / "revenue.csv"
    path.write_bytes(
        csv_bytes([revenue_row("RV1"), revenue_row("RV2"), revenue_row("RV3", DOB="soon")])
    )
    call_command("ingest", str(path), agency="revenue")
    out, err = capsys.readouterr()
    assert re.search(
        r"revenue: 3 rows - 2 created, 0 updated, 0 unchanged, 1 rejected \(batch .*, done\)", out
    )
    assert "rows" in err  # the progress bar
    call_command("ingest", str(path), agency="revenue", no_progress=True)
    assert "0 created, 0 updated, 2 unchanged, 1 rejected" in capsys.readouterr().out


def test_command_with_a_mapping_file_saves_it(revenue, tmp_path, capsys):
    mapping = tmp_path / "m.yaml"
    mapping.write_text("record_id: ID\nfields:\n  family_name: NAME\n")
    data = tmp_path / "d.csv"
    data.write_text("ID,NAME\n1,Smith\n")
    call_command("ingest", str(data), agency="revenue", mapping=str(mapping), no_progress=True)
    assert FeedMapping.objects.get().spec["record_id"] == "ID"
    assert SourceRecord.objects.get().family_name == "Smith"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "Cannot read"),
        (b"SURNAME\nSmith\n", "TAXPAYER_REF (mapping record_id)"),
        (csv_bytes([revenue_row("RV1", SURNAME="Muñoz")], encoding="latin-1"), "not valid utf-8"),
    ],
)
def test_command_fails_only_when_the_file_cannot_be_read(revenue, tmp_path, content, words):
    path = tmp_path / "f.csv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CommandError, match=re.escape(words)):
        call_command("ingest", str(path), agency="revenue", no_progress=True)
    assert not SourceRecord.objects.exists()


def test_the_progress_is_announced_by_a_live_region_that_stays_in_place(
    steward_client, django_capture_on_commit_callbacks, run_worker
):
    """The polled part of the load page is replaced; the status text screen readers
    announce lives outside it and is updated out of band, so each change is read."""
    data = csv_bytes([revenue_row("RV1"), revenue_row("RV2", EMAIL_ADDR="nope")])
    with django_capture_on_commit_callbacks(execute=True):
        url = _upload(steward_client, data)["Location"]
    waiting = _text(steward_client.get(url))
    # the announcement sits before (outside) the polled block, which names it out of band
    assert waiting.index('id="batch-announce"') < waiting.index('id="batch-live"')
    assert re.search(r'id="batch-announce"[^>]*role="status"', waiting)
    assert 'hx-select-oob="#batch-announce"' in waiting
    assert "0 of 2 rows processed" in waiting
    # when the load is done, the announcement says so, rejected rows counted
    run_worker()
    done = _text(steward_client.get(url))
    announced = re.search(r'id="batch-announce"[^>]*>(.*?)</p>', done).group(1)
    assert "2 of 2 rows processed, 1 row rejected" in announced
