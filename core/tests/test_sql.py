"""core.sql writes the same rows the ORM writes, through its fast value adaptation."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from core import sql
from registry.models import SourceRecord
from registry.tests.factories import SourceRecordFactory

pytestmark = pytest.mark.django_db

# columns whose stored bytes differ between two writes of the same value by design
_RANDOM = {"id", "agency_record_id", "national_id"}  # the key, the id, a fresh AES-GCM nonce


def _raw(pk: int) -> dict[str, object]:
    table = connection.ops.quote_name(SourceRecord._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])
        names = [c[0] for c in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def _twin(record: SourceRecord, **changes: object) -> SourceRecord:
    values = {
        f.attname: getattr(record, f.attname)
        for f in SourceRecord._meta.concrete_fields
        if not f.primary_key
    }
    return SourceRecord(**{**values, "agency_record_id": record.agency_record_id + "-b", **changes})


@pytest.mark.parametrize(
    "updated",
    [
        datetime.datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=datetime.UTC),
        datetime.datetime(2026, 3, 1, 9, 30, tzinfo=datetime.UTC),  # no microseconds
        datetime.datetime(2026, 7, 1, 11, 30, tzinfo=ZoneInfo("Europe/Madrid")),  # not UTC
        None,
    ],
)
def test_insert_stores_what_the_orm_stores(updated: datetime.datetime | None) -> None:
    # given a record saved by the ORM, with text, dates, a foreign key, JSON, an encrypted
    # national id and its blind indexes
    orm = SourceRecordFactory(extra={"benefit": "child", "n": 2}, source_updated_at=updated)
    # when its twin is written by core.sql
    twin = _twin(orm)
    twin.created_at = twin.updated_at = None  # auto_now fields are filled when written
    sql.insert([twin])
    # then the stored rows are the same, column by column
    assert twin.pk is not None and twin.pk != orm.pk
    ours, theirs = _raw(twin.pk), _raw(orm.pk)
    for column, value in theirs.items():
        if column in _RANDOM or column in {"created_at", "updated_at"}:
            continue
        assert ours[column] == value, column
    # and read back through the ORM, the values are the same Python values
    back = SourceRecord.objects.get(pk=twin.pk)
    assert back.national_id == orm.national_id
    assert back.source_updated_at == updated
    assert back.created_at is not None and back.updated_at is not None


def test_insert_of_many_rows_sets_every_key_in_order() -> None:
    # given three twins of one record
    orm = SourceRecordFactory()
    twins = [_twin(orm, agency_record_id=f"{orm.agency_record_id}-{n}") for n in range(3)]
    # when they are written in one statement
    sql.insert(twins)
    # then each has its own key, and each key holds that twin's row
    assert len({t.pk for t in twins}) == 3
    for twin in twins:
        assert SourceRecord.objects.get(pk=twin.pk).agency_record_id == twin.agency_record_id


def test_update_adapts_values_like_the_orm() -> None:
    # given two identical records
    first = SourceRecordFactory()
    second = SourceRecordFactory(agency=first.agency)
    moment = datetime.datetime(2026, 5, 4, 3, 2, 1, 500, tzinfo=datetime.UTC)
    # when one is updated by the ORM and the other by core.sql with the same values
    SourceRecord.objects.filter(pk=first.pk).update(
        source_updated_at=moment, given_name="Ana", version=7
    )
    count = sql.update(
        SourceRecord,
        where={"pk": second.pk},
        values={"source_updated_at": moment, "given_name": "Ana", "version": 7},
    )
    # then one row changed and both rows store the same values
    assert count == 1
    a, b = _raw(first.pk), _raw(second.pk)
    for column in ("source_updated_at", "given_name", "version"):
        assert a[column] == b[column], column


def test_cursor_reads_and_writes_like_djangos_cursor() -> None:
    # given a source record
    record = SourceRecordFactory()
    table = connection.ops.quote_name(SourceRecord._meta.db_table)
    # when it is read and changed through core.sql's cursor (format style, a literal %)
    with sql.cursor(connection) as cursor:
        cursor.execute(
            f"UPDATE {table} SET given_name = %s WHERE id = %s AND given_name NOT LIKE '%%x'",
            ["Ada", record.pk],
        )
        changed = cursor.rowcount
        cursor.execute(f"SELECT given_name FROM {table} WHERE id = %s", [record.pk])
        mine = cursor.fetchone()
    # then the change and the read are those Django's own cursor sees
    assert changed == 1
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT given_name FROM {table} WHERE id = %s", [record.pk])
        assert cursor.fetchone() == mine == ("Ada",)


def test_cursor_raises_djangos_errors_and_keeps_the_transaction_rules() -> None:
    # given two records
    record, other = SourceRecordFactory(), SourceRecordFactory()
    table = connection.ops.quote_name(SourceRecord._meta.db_table)
    # when a statement breaks the primary key inside a transaction
    with pytest.raises(IntegrityError), transaction.atomic(), sql.cursor(connection) as cursor:
        cursor.execute(f"UPDATE {table} SET id = %s WHERE id = %s", [record.pk, other.pk])
    # then it is Django's IntegrityError; and a transaction marked broken refuses more
    with transaction.atomic(), sql.cursor(connection) as cursor:
        connection.needs_rollback = True
        with pytest.raises(TransactionManagementError):
            cursor.execute(f"SELECT id FROM {table} WHERE id = %s", [record.pk])
    assert SourceRecord.objects.filter(pk=other.pk).exists()


def test_statements_of_the_cursor_are_in_the_query_log_when_one_is_kept() -> None:
    # given a record and a query log (as DEBUG or assertNumQueries keep one)
    record = SourceRecordFactory()
    table = connection.ops.quote_name(SourceRecord._meta.db_table)
    # when it is read through core.sql's cursor
    with CaptureQueriesContext(connection) as log, sql.cursor(connection) as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE id = %s", [record.pk])
        assert cursor.fetchone() == (record.pk,)
    # then the statement is logged, as any other
    assert any(table in query["sql"] for query in log.captured_queries)
