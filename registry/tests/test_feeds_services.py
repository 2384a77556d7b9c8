"""Feed loads against the database: mapping, validation, rejected rows, history, corrections."""

import json
from datetime import date, timedelta

import pytest

from core.errors import PermissionDenied
from core.fields import lookup_value
from core.models import AuditEntry
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff, verified
from registry.mapping import MappingInvalid
from registry.models import (
    BatchChannel,
    BatchStatus,
    FeedMapping,
    RejectedRow,
    RejectedRowStatus,
    SourceRecord,
    SourceRecordVersion,
)
from registry.services import feeds
from registry.tests.feeds_helpers import (
    REVENUE_HEADER,
    csv_bytes,
    revenue_agency,
    revenue_row,
    steward_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def revenue():
    return revenue_agency()


@pytest.fixture
def steward(revenue):
    return steward_of(revenue, username="stew")


def _load(agency, steward, rows, **kwargs):
    return feeds.ingest_file(
        agency=agency, data=csv_bytes(rows, **kwargs), actor=steward, filename="export.csv"
    )


def _errors(batch):
    return {
        row.row_number: [(e["field"], e["message"]) for e in row.errors]
        for row in RejectedRow.objects.filter(batch=batch)
    }


def test_rows_are_mapped_standardised_and_created(revenue, steward):
    # given a Revenue export in its own column names (the shipped mapping)
    rows = [revenue_row("RV1"), revenue_row("RV2", FORENAME="Bob", SURNAME="O'Brien-Smith")]
    # when it is loaded
    result = _load(revenue, steward, rows)
    # then both records exist in the common schema, with standardised copies
    batch = result.batch
    assert (batch.status, batch.created_count, batch.rejected_count) == (BatchStatus.DONE, 2, 0)
    assert batch.processed_rows == batch.total_rows == 2
    maria = SourceRecord.objects.get(agency_record_id="RV1")
    assert maria.date_of_birth == date(1985, 3, 14)
    assert maria.sex == "F"
    assert maria.std_phone == "+447700900123"
    assert maria.std_email == "maria.garcia@example.org"
    assert maria.std_address == "12 high street"
    assert maria.std_postcode == "NT12AB"
    assert maria.extra == {
        "tax_reference": "1234567890",
        "income_band": "B",
        "employment_status": "employed",
    }
    assert maria.national_id_index == lookup_value(SourceRecord, "national_id", "ab 123456 c")
    bill = SourceRecord.objects.get(agency_record_id="RV2")
    assert (bill.std_given_name, bill.std_given_name_root) == ("bob", "robert")
    assert bill.std_family_name == "obrien smith"
    assert sorted(result.created_ids) == sorted([maria.pk, bill.pk])


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"TAXPAYER_REF": ""}, "agency_record_id", "record id is missing"),
        ({"FORENAME": "", "SURNAME": ""}, "family_name", "family name or a given name"),
        ({"DOB": "31/02/1980"}, "date_of_birth", "not a real date"),
        ({"DOB": "1980-02-03"}, "date_of_birth", "not a date in any of the formats %d/%m/%Y"),
        ({"DOB": "01/01/1850"}, "date_of_birth", "before 1880"),
        ({"GENDER": "Q"}, "sex", "'Q' is not a value the mapping knows"),
        ({"TEL_NO": "call me maybe"}, "phone", "column TEL_NO: not a phone number"),
        ({"EMAIL_ADDR": "maria at example"}, "email", "not an e-mail address"),
        ({"POSTCODE": "X" * 40}, "postcode", "longer than 16 characters"),
        ({"LAST_UPDATED": "yesterday"}, "source_updated_at", "not a date and time"),
    ],
)
def test_each_validation_rule_rejects_the_row_and_keeps_it(
    revenue, steward, overrides, field, words
):
    # given one good row and one breaking a rule
    rows = [revenue_row("RV1"), revenue_row("RV2", **overrides)]
    # when loaded
    batch = _load(revenue, steward, rows).batch
    # then the good row loads, the bad one is kept with its error, naming field and column
    assert (batch.created_count, batch.rejected_count, batch.status) == (1, 1, BatchStatus.DONE)
    rejected = RejectedRow.objects.get(batch=batch)
    assert rejected.row_number == 2
    assert [e["field"] for e in rejected.errors] == [field]
    assert words in rejected.errors[0]["message"]
    # and the row as sent is kept, value for value
    assert feeds.rejected_row_values(rejected) == revenue_row("RV2", **overrides)


def test_date_in_the_future_is_rejected(revenue, steward):
    tomorrow = (date.today() + timedelta(days=2)).strftime("%d/%m/%Y")
    batch = _load(revenue, steward, [revenue_row("RV1", DOB=tomorrow)]).batch
    assert _errors(batch) == {1: [("date_of_birth", f"column DOB: {tomorrow} is in the future")]}


def test_duplicate_id_in_one_batch_rejects_the_later_row_naming_the_earlier(revenue, steward):
    rows = [revenue_row("RV1"), revenue_row("RV2"), revenue_row("RV1", FORENAME="Mary")]
    batch = _load(revenue, steward, rows).batch
    assert batch.created_count == 2
    assert _errors(batch) == {
        3: [("agency_record_id", "record id RV1 was already sent in row 1 of this batch")]
    }
    assert SourceRecord.objects.get(agency_record_id="RV1").given_name == "Maria"


def test_duplicates_are_found_across_chunks(revenue, steward):
    rows = [revenue_row(f"RV{i}") for i in range(5)] + [revenue_row("RV0")]
    batch = feeds.ingest_batch_create(agency=revenue, actor=steward, channel=BatchChannel.API)
    spec = feeds.feed_spec_for(agency=revenue)[1]
    feeds.ingest_rows(batch=batch, rows=rows, actor=steward, spec=spec, chunk_rows=2)
    assert (batch.created_count, batch.rejected_count, batch.processed_rows) == (5, 1, 6)
    assert "row 1" in RejectedRow.objects.get(batch=batch).errors[0]["message"]


def test_same_id_again_updates_and_keeps_history(revenue, steward):
    # given Maria loaded once
    first = _load(revenue, steward, [revenue_row("RV1")]).batch
    # when a later export says she moved
    second = _load(
        revenue, steward, [revenue_row("RV1", ADDR_LINE_1="3 Mill Lane", POSTCODE="ST4 9ZZ")]
    )
    # then the record changed, its version went up, and the old address is in its history
    assert (second.batch.updated_count, second.batch.created_count) == (1, 0)
    record = SourceRecord.objects.get(agency_record_id="RV1")
    assert (record.address_line, record.std_postcode, record.version) == (
        "3 Mill Lane",
        "ST49ZZ",
        2,
    )
    assert record.batch_id == second.batch.pk
    assert second.updated_ids == [record.pk]
    old = SourceRecordVersion.objects.get(record=record)
    assert old.version == 1
    assert old.batch_id == first.pk
    values = json.loads(old.values)
    assert (values["address_line"], values["postcode"]) == ("12 High St", "NT1 2AB")
    assert values["national_id"] == "AB123456C"


def test_same_values_again_are_unchanged(revenue, steward):
    _load(revenue, steward, [revenue_row("RV1"), revenue_row("RV2")])
    again = _load(revenue, steward, [revenue_row("RV1"), revenue_row("RV2", EMP_STATUS="retired")])
    assert (again.batch.unchanged_count, again.batch.updated_count) == (1, 1)
    assert again.updated_ids == [SourceRecord.objects.get(agency_record_id="RV2").pk]
    assert SourceRecordVersion.objects.count() == 1


def test_a_rejected_update_leaves_the_stored_record_alone(revenue, steward):
    _load(revenue, steward, [revenue_row("RV1")])
    batch = _load(revenue, steward, [revenue_row("RV1", DOB="not known")]).batch
    assert batch.rejected_count == 1
    record = SourceRecord.objects.get(agency_record_id="RV1")
    assert (record.date_of_birth, record.version) == (date(1985, 3, 14), 1)


def test_correction_loads_the_row_in_a_new_batch_and_resolves_it(revenue, steward):
    # given a row rejected for its date
    batch = _load(revenue, steward, [revenue_row("RV9", DOB="31/02/1980")]).batch
    rejected = RejectedRow.objects.get(batch=batch)
    # when the steward corrects the date and sends it again
    values = {**feeds.rejected_row_values(rejected), "DOB": "28/02/1980"}
    result = feeds.rejected_row_resubmit(row=rejected, values=values, actor=steward)
    # then the record exists, loaded by a correction batch, and the row is resolved
    record = SourceRecord.objects.get(agency_record_id="RV9")
    assert record.date_of_birth == date(1980, 2, 28)
    assert result.batch.channel == BatchChannel.CORRECTION
    assert record.batch_id == result.batch.pk
    rejected.refresh_from_db()
    assert (rejected.status, rejected.resolved_by_id) == (
        RejectedRowStatus.RESOLVED,
        result.batch.pk,
    )
    # and one audit entry records the correction (not one for the batch as well)
    assert AuditEntry.objects.filter(action="registry.rejected_row.correct").count() == 1
    assert AuditEntry.objects.filter(action="registry.ingest_batch").count() == 1
    # and it cannot be corrected twice
    with pytest.raises(feeds.RejectedRowClosed):
        feeds.rejected_row_resubmit(row=rejected, values=values, actor=steward)


def test_still_invalid_correction_is_refused_and_nothing_stored(revenue, steward):
    batch = _load(revenue, steward, [revenue_row("RV9", DOB="31/02/1980")]).batch
    rejected = RejectedRow.objects.get(batch=batch)
    values = {**feeds.rejected_row_values(rejected), "DOB": "30/02/1980"}
    with pytest.raises(feeds.CorrectionInvalid) as caught:
        feeds.rejected_row_resubmit(row=rejected, values=values, actor=steward)
    assert "date_of_birth" in caught.value.errors
    rejected.refresh_from_db()
    assert rejected.status == RejectedRowStatus.OPEN
    assert not SourceRecord.objects.exists()


def test_one_audit_entry_per_batch_with_counts(revenue, steward):
    rows = [revenue_row(f"RV{i}") for i in range(30)] + [revenue_row("", SURNAME="X")]
    _load(revenue, steward, rows)
    entry = AuditEntry.objects.get(action="registry.ingest_batch")
    assert entry.actor == "stew"
    assert entry.agency == "revenue"
    assert (entry.data["created"], entry.data["rejected"], entry.data["rows"]) == (30, 1, 31)


def test_utf8_with_bom_and_accents_load(revenue, steward):
    data = b"\xef\xbb\xbf" + csv_bytes([revenue_row("RV1", FORENAME="José", SURNAME="Núñez")])
    result = feeds.ingest_file(agency=revenue, data=data, actor=steward)
    record = SourceRecord.objects.get(agency_record_id="RV1")
    assert (record.given_name, record.std_given_name, record.std_family_name) == (
        "José",
        "jose",
        "nunez",
    )
    assert result.batch.rejected_count == 0


def test_latin1_file_read_as_utf8_gets_a_clear_message(revenue, steward):
    data = csv_bytes([revenue_row("RV1"), revenue_row("RV2", SURNAME="Núñez")], encoding="latin-1")
    with pytest.raises(feeds.FeedFileUnreadable) as caught:
        feeds.ingest_file(agency=revenue, data=data, actor=steward, filename="x.csv")
    assert "line 3 is not valid utf-8" in caught.value.detail
    assert "latin-1" in caught.value.detail
    assert not SourceRecord.objects.exists()


def test_latin1_file_loads_when_the_encoding_is_declared(revenue, steward):
    data = csv_bytes([revenue_row("RV2", SURNAME="Núñez")], encoding="latin-1")
    feeds.ingest_file(agency=revenue, data=data, actor=steward, encoding="latin-1")
    assert SourceRecord.objects.get().family_name == "Núñez"


def test_transport_mapping_reads_its_latin1_semicolon_export():
    # given Transport, whose shipped mapping declares latin-1 and semicolons
    transport = AgencyFactory(code="transport")
    steward = steward_of(transport)
    header = [
        "DRV_REC_NO",
        "FIRST_NAME",
        "OTHER_NAMES",
        "LAST_NAME",
        "FORMER_NAME",
        "BIRTH_DT",
        "SEX_CD",
        "ADDRESS",
        "TOWN",
        "PCODE",
        "PHONE_NO",
        "EMAIL",
        "NI_NO",
        "LAST_CHANGE_DT",
        "LICENCE_NO",
        "LIC_CATEGORIES",
    ]
    row = dict.fromkeys(header, "")
    row.update(
        DRV_REC_NO="TR1", FIRST_NAME="RENÉE", LAST_NAME="DUPONT", BIRTH_DT="04-Mar-1980", SEX_CD="N"
    )
    data = csv_bytes([row], header=header, delimiter=";", encoding="latin-1")
    # when loaded
    feeds.ingest_file(agency=transport, data=data, actor=steward)
    # then it is read
    record = SourceRecord.objects.get()
    assert (record.given_name, record.date_of_birth, record.sex) == ("RENÉE", date(1980, 3, 4), "X")


def test_header_missing_a_mapped_column_is_refused_before_loading(revenue, steward):
    header = [h for h in REVENUE_HEADER if h != "DOB"]
    row = {k: v for k, v in revenue_row("RV1").items() if k != "DOB"}
    with pytest.raises(feeds.FeedFileUnreadable) as caught:
        feeds.ingest_file(agency=revenue, data=csv_bytes([row], header=header), actor=steward)
    assert "DOB (mapping fields.date_of_birth)" in caught.value.detail
    assert not SourceRecord.objects.exists()


def test_unknown_column_is_refused_naming_it(revenue, steward):
    header = [*REVENUE_HEADER, "SHOE_SIZE"]
    data = csv_bytes([revenue_row("RV1", SHOE_SIZE="42")], header=header)
    with pytest.raises(feeds.FeedFileUnreadable) as caught:
        feeds.ingest_file(agency=revenue, data=data, actor=steward)
    assert "SHOE_SIZE" in caught.value.detail


def test_broken_csv_quoting_names_the_line(revenue, steward):
    data = csv_bytes([revenue_row("RV1")]) + b'RV2,"Maria,unterminated\n'
    with pytest.raises(feeds.FeedFileUnreadable) as caught:
        feeds.ingest_file(agency=revenue, data=data, actor=steward)
    assert caught.value.detail.startswith("Line ")


def test_short_row_is_rejected_not_guessed(revenue, steward):
    data = csv_bytes([revenue_row("RV1")]) + b"RV2,Maria,,Garcia\n"
    batch = feeds.ingest_file(agency=revenue, data=data, actor=steward).batch
    assert _errors(batch)[2][0] == ("row", "the row has fewer values than the header has columns")


def test_jsonl_bad_line_becomes_a_rejected_row():
    social = AgencyFactory(code="social-services")
    steward = steward_of(social)
    good = {
        "client_id": "SS1",
        "first_name": "Ann",
        "surname": "Lee",
        "birth_date": "02-03-1990",
        "gender": "Female",
    }
    data = (json.dumps(good) + "\n{not json\n" + json.dumps([1, 2]) + "\n").encode()
    batch = feeds.ingest_file(agency=social, data=data, actor=steward).batch
    assert batch.created_count == 1
    errors = _errors(batch)
    assert errors[2][0][0] == "row" and "not valid JSON" in errors[2][0][1]
    assert errors[3] == [("row", "a record must be an object of column: value pairs")]
    assert SourceRecord.objects.get().sex == "F"


def test_api_records_over_the_limit_are_refused(revenue, steward):
    with pytest.raises(feeds.BatchTooLarge) as caught:
        feeds.ingest_records(
            agency=revenue, records=[{}] * (feeds.MAX_API_RECORDS + 1), actor=steward
        )
    assert "at most 10,000 records" in caught.value.detail
    assert caught.value.status == 413


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.SUPERVISOR])
def test_staff_without_steward_role_cannot_load(revenue, role):
    user = verified(staff(role, revenue))
    with pytest.raises(PermissionDenied):
        _load(revenue, user, [revenue_row("RV1")])
    assert not SourceRecord.objects.exists()


def test_another_agencys_steward_cannot_load(revenue):
    health_steward = steward_of(AgencyFactory(code="health"))
    with pytest.raises(PermissionDenied):
        _load(revenue, health_steward, [revenue_row("RV1")])


# --- mappings -------------------------------------------------------------------------------


def test_saving_a_mapping_makes_a_new_active_version(revenue, steward):
    text = feeds.feed_mapping_builtin_text(agency=revenue)
    first = feeds.feed_mapping_save(agency=revenue, text_or_spec=text, actor=steward)
    second = feeds.feed_mapping_save(
        agency=revenue,
        text_or_spec={"record_id": "ID", "fields": {"family_name": "NAME"}},
        actor=steward,
    )
    first.refresh_from_db()
    assert (first.version, first.active, second.version, second.active) == (1, False, 2, True)
    assert "record_id: ID" in second.source_text
    assert feeds.feed_spec_for(agency=revenue)[1].record_id == "ID"
    assert AuditEntry.objects.filter(action="registry.feed_mapping.save").count() == 2


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"fields": {"family_name": "A"}}, "record_id"),
        ({"record_id": "ID", "fields": {"surname": "A", "family_name": "B"}}, "fields.surname"),
        (
            {
                "record_id": "ID",
                "fields": {"family_name": "A", "date_of_birth": {"column": "D", "formats": ["%Q"]}},
            },
            "fields.date_of_birth.formats[0]",
        ),
        (
            {
                "record_id": "ID",
                "fields": {"family_name": "A", "sex": {"column": "S", "values": {"w": "W"}}},
            },
            "fields.sex.values.w",
        ),
        ({"record_id": "ID", "fields": {"family_name": "A"}, "encoding": "klingon"}, "encoding"),
        ({"record_id": "ID", "fields": {"middle_name": "A"}}, "fields"),
        (
            {"record_id": "ID", "fields": {"family_name": {"colum": "A"}}},
            "fields.family_name.colum",
        ),
    ],
)
def test_invalid_mapping_names_the_key_and_is_not_saved(revenue, steward, spec, key):
    with pytest.raises(MappingInvalid) as caught:
        feeds.feed_mapping_save(agency=revenue, text_or_spec=spec, actor=steward)
    assert key in caught.value.errors
    assert caught.value.status == 422
    assert not FeedMapping.objects.exists()


def test_yaml_syntax_error_names_the_line(revenue, steward):
    with pytest.raises(MappingInvalid) as caught:
        feeds.feed_mapping_save(
            agency=revenue, text_or_spec="record_id: ID\nfields: [a\n", actor=steward
        )
    assert "line 3" in caught.value.detail


def test_caseworker_cannot_change_a_mapping(revenue):
    worker = verified(staff(Role.CASEWORKER, revenue))
    with pytest.raises(PermissionDenied):
        feeds.feed_mapping_save(
            agency=revenue,
            text_or_spec={"record_id": "I", "fields": {"family_name": "N"}},
            actor=worker,
        )


def test_standardise_fills_a_record_for_the_seed():
    record = SourceRecord(
        given_name="Bob",
        family_name="SMITH",
        address_line="1 Elm Rd",
        postcode="ab1 2cd",
        phone="+44 7700 900123",
        email="not-an-email",
    )
    feeds.source_record_standardise(record)
    assert (record.std_given_name_root, record.std_family_name, record.std_address) == (
        "robert",
        "smith",
        "1 elm road",
    )
    assert (record.std_postcode, record.std_phone, record.std_email) == (
        "AB12CD",
        "+447700900123",
        "",
    )
