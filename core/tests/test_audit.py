import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from core import audit
from core.logging import request_id_var
from core.middleware import RequestIdMiddleware
from core.models import GENESIS_HASH, AuditEntry, AuditTrailAppendOnly, entry_hash

pytestmark = pytest.mark.django_db

TABLE = AuditEntry._meta.db_table
ANA = SimpleNamespace(pk=7, username="ana", agency=SimpleNamespace(code="revenue"))


def _trail(count: int) -> list[AuditEntry]:
    return [
        audit.record(actor=ANA, action="person.view", subject_person=f"P-{n}", data={"n": n})
        for n in range(1, count + 1)
    ]


def _tamper(sql: str, params: list[object] | None = None) -> None:
    """What someone with write access to the database could do behind the application."""
    with audit.db_guard_suspended(), connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def _execute_in_savepoint(sql: str) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)


def _insert_raw(**fields: object) -> None:
    fields.setdefault("data", "{}")
    columns = ", ".join(fields)
    marks = ", ".join(["%s"] * len(fields))
    _tamper(f"INSERT INTO {TABLE} ({columns}) VALUES ({marks})", list(fields.values()))


def test_each_entry_holds_the_hash_of_the_previous_one():
    # given an empty trail
    # when two entries are recorded
    first = audit.record(actor=ANA, action="consent.grant", subject_person="P-1")
    second = audit.record(actor=ANA, action="person.view", subject_person="P-1")

    # then the first starts from the genesis hash and the second links to the first
    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert len(second.hash) == 64 and second.hash != first.hash


def test_record_stores_who_did_what_to_whom():
    # given a consent record (any model instance) as the target
    consent = audit.record(actor=None, action="consent.grant")

    # when a member of staff reads a person's data for a stated purpose
    entry = audit.record(
        actor=ANA,
        action="person.view",
        subject_person="P-42",
        target=consent,
        purpose="benefit claim 17",
        data={"fields": ["address"]},
    )

    # then the stored entry names the actor, their agency, the subject and the target
    stored = AuditEntry.objects.get(seq=entry.seq)
    assert stored.actor_id == 7
    assert stored.actor == "ana"
    assert stored.agency == "revenue"
    assert stored.action == "person.view"
    assert stored.subject_person == "P-42"
    assert stored.target == f"core.auditentry:{consent.seq}"
    assert stored.purpose == "benefit claim 17"
    assert stored.data == {"fields": ["address"]}
    assert stored.created_at is not None


def test_record_without_an_actor_is_the_system_and_agency_can_be_given():
    # when the platform records an entry on its own, for an agency named explicitly
    entry = audit.record(actor=None, action="feed.load", agency="health", target="feed:nightly")

    # then the actor is "system" and the agency and target are as given
    stored = AuditEntry.objects.get(seq=entry.seq)
    assert (stored.actor_id, stored.actor) == (None, "system")
    assert (stored.agency, stored.target) == ("health", "feed:nightly")


def test_a_stored_entry_hashes_the_same_after_a_trip_through_the_database():
    # given details of awkward types: decimals, dates, integral and fractional floats
    details = {
        "amount": Decimal("12.50"),
        "when": datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
        "big": 1e16,
        "ratio": 0.1,
        "name": "Zoë Ñúñez",
        "nested": {"b": [1, 2.0, None, True], "a": "x"},
    }

    # when it is recorded and read back
    entry = audit.record(actor=ANA, action="payment.record", data=details)
    stored = AuditEntry.objects.get(seq=entry.seq)

    # then the hash recomputed from the stored row is the one written
    assert stored.compute_hash() == entry.hash
    assert stored.data["amount"] == "12.50"
    assert audit.verify().ok


def test_entries_prepared_ahead_chain_after_whatever_was_recorded_meanwhile():
    # given an entry prepared outside any transaction, with awkward text and details
    prepared = audit.prepare(
        [
            {
                "actor": ANA,
                "action": "exchange.request",
                "subject_person": "P-1",
                "target": "exchange:1",
                "purpose": 'Zoë\'s "benefit" claim',
                "data": {"attributes": ["b", "a"], "ratio": 0.5, "big": 2.0, "ok": None},
            }
        ]
    )
    # and another entry recorded before the prepared one is written
    meanwhile = audit.record(actor=None, action="person.view", subject_person="P-2")

    # when the prepared entry is written
    with transaction.atomic():
        written = audit.record_prepared(prepared).instances()

    # then it takes the next place in the chain, with the hash its stored row recomputes
    stored = AuditEntry.objects.get(seq=written[0].seq)
    assert (stored.seq, stored.prev_hash) == (meanwhile.seq + 1, meanwhile.hash)
    assert stored.hash == written[0].hash == stored.compute_hash()
    assert (stored.actor, stored.agency, stored.subject_person) == ("ana", "revenue", "P-1")
    assert stored.data == {"attributes": ["b", "a"], "ratio": 0.5, "big": 2, "ok": None}
    assert audit.verify().ok


def test_a_prepared_entry_written_in_a_rolled_back_transaction_leaves_nothing():
    # given an entry prepared ahead
    prepared = audit.prepare([{"actor": ANA, "action": "consent.grant", "subject_person": "P-1"}])

    # when the change it describes fails after it was written
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record_prepared(prepared)
        raise RuntimeError("the change failed")

    # then the trail is empty and still starts from the genesis hash
    assert AuditEntry.objects.count() == 0
    assert audit.record(actor=ANA, action="consent.grant").prev_hash == GENESIS_HASH


def test_verify_passes_on_an_intact_chain_read_in_batches():
    # given five entries
    entries = _trail(5)

    # when the chain is verified two rows at a time
    result = audit.verify(batch_size=2)

    # then every entry is checked and the head is the last one
    assert result.ok
    assert result.checked == 5
    assert (result.head_seq, result.head_hash) == (5, entries[-1].hash)


def test_verify_passes_on_an_empty_trail():
    assert audit.verify() == audit.VerifyResult(ok=True, checked=0)


@pytest.mark.parametrize(
    ("column", "value"),
    [("action", "consent.revoke"), ("subject_person", "P-999"), ("purpose", "curiosity")],
)
def test_verify_names_an_updated_row(column, value):
    # given an intact trail of five entries
    _trail(5)

    # when entry 3 is changed in the database
    _tamper(f"UPDATE {TABLE} SET {column} = %s WHERE seq = 3", [value])

    # then verification fails at entry 3
    result = audit.verify()
    assert not result.ok
    assert result.first_broken_seq == 3
    assert result.reason == "hash mismatch: row was changed"
    assert result.checked == 2


def test_verify_names_the_next_entry_when_a_row_is_rewritten_with_a_fresh_hash():
    # given an intact trail
    _trail(5)

    # when entry 3 is changed and its own hash recomputed to match
    forged = AuditEntry.objects.get(seq=3)
    forged.action = "nothing.happened"
    _tamper(
        f"UPDATE {TABLE} SET action = %s, hash = %s WHERE seq = 3",
        [forged.action, forged.compute_hash()],
    )

    # then entry 4 no longer links to it
    result = audit.verify()
    assert (result.ok, result.first_broken_seq) == (False, 4)
    assert result.reason.startswith("prev_hash does not match entry 3")


def test_verify_names_the_gap_left_by_a_deleted_middle_row():
    # given an intact trail
    _trail(5)

    # when entry 3 is deleted
    _tamper(f"DELETE FROM {TABLE} WHERE seq = 3")

    # then verification fails at entry 4, after the gap
    result = audit.verify()
    assert (result.ok, result.first_broken_seq) == (False, 4)
    assert result.reason == "gap in sequence after 2: rows deleted"


def test_verify_names_the_gap_left_by_a_deleted_first_row():
    _trail(3)
    _tamper(f"DELETE FROM {TABLE} WHERE seq = 1")

    result = audit.verify()

    assert (result.ok, result.first_broken_seq) == (False, 2)
    assert "gap in sequence before 2" in result.reason


def test_a_deleted_last_row_is_detected_only_against_an_anchored_head():
    # given an intact trail whose head hash was exported
    entries = _trail(5)
    anchored_head = audit.verify().head_hash
    assert anchored_head == entries[-1].hash

    # when the last entry is deleted
    _tamper(f"DELETE FROM {TABLE} WHERE seq = 5")

    # then the chain alone still verifies (the documented limitation) ...
    assert audit.verify().ok
    # ... but the anchored head is missing, and the first missing entry is named
    result = audit.verify(expect_head=anchored_head)
    assert (result.ok, result.first_broken_seq) == (False, 5)
    assert "entries after 4 were deleted" in result.reason


def test_an_old_anchor_still_verifies_after_more_entries_are_recorded():
    # given a head exported after two entries
    _trail(2)
    anchored_head = audit.verify().head_hash

    # when more entries are recorded
    _trail(3)

    # then the anchor is still found in the trail
    assert audit.verify(expect_head=anchored_head).ok


def _forge_appended_with_a_bogus_hash(entries: list[AuditEntry]) -> None:
    _insert_raw(
        seq=6,
        created_at=datetime.now(UTC),
        actor="ana",
        agency="revenue",
        action="consent.grant",
        purpose="",
        target="",
        request_id="",
        prev_hash=entries[-1].hash,
        hash="f" * 64,
    )


def _forge_appended_with_a_copied_link(entries: list[AuditEntry]) -> None:
    # A correct hash of its own content, but linked to entry 3, not to the head.
    fields = {
        "seq": 6,
        "created_at": datetime.now(UTC),
        "actor_id": None,
        "actor": "ana",
        "agency": "revenue",
        "action": "consent.grant",
        "purpose": "",
        "subject_person": None,
        "target": "",
        "data": {},
        "request_id": "",
        "prev_hash": entries[2].hash,
    }
    _insert_raw(**{**fields, "data": "{}", "hash": entry_hash(fields)})


def _forge_inserted_in_the_middle(entries: list[AuditEntry]) -> None:
    # Make room after entry 3 by renumbering, then insert a row correctly chained to 3.
    for seq in (5, 4):
        _tamper(f"UPDATE {TABLE} SET seq = %s WHERE seq = %s", [seq + 1, seq])
    fields = {
        "seq": 4,
        "created_at": entries[2].created_at + timedelta(microseconds=1),
        "actor_id": 7,
        "actor": "ana",
        "agency": "revenue",
        "action": "consent.grant",
        "purpose": "",
        "subject_person": "P-1",
        "target": "",
        "data": {},
        "request_id": "",
        "prev_hash": entries[2].hash,
    }
    _insert_raw(**{**fields, "data": "{}", "hash": entry_hash(fields)})


@pytest.mark.parametrize(
    ("forge", "broken_seq", "reason"),
    [
        (_forge_appended_with_a_bogus_hash, 6, "hash mismatch: row was changed"),
        (_forge_appended_with_a_copied_link, 6, "prev_hash does not match entry 5"),
        (_forge_inserted_in_the_middle, 5, "prev_hash does not match entry 4"),
    ],
    ids=["appended-bogus-hash", "appended-wrong-link", "inserted-in-the-middle"],
)
def test_verify_names_an_inserted_forged_row(forge, broken_seq, reason):
    # given an intact trail of five entries
    entries = _trail(5)

    # when a forged row is inserted behind the application's back
    forge(entries)

    # then verification names the first entry whose link or hash does not hold
    result = audit.verify()
    assert (result.ok, result.first_broken_seq) == (False, broken_seq)
    assert result.reason.startswith(reason)


@pytest.mark.parametrize(
    "sql",
    [f"UPDATE {TABLE} SET action = 'x' WHERE seq = 1", f"DELETE FROM {TABLE} WHERE seq = 1"],
    ids=["update", "delete"],
)
def test_the_database_refuses_update_and_delete(sql):
    # given a recorded entry (the guard triggers exist on SQLite and PostgreSQL)
    entry = audit.record(actor=ANA, action="person.view")

    # when the row is changed or removed with plain SQL, then the database refuses
    with pytest.raises(DatabaseError, match="append-only"):
        _execute_in_savepoint(sql)

    assert AuditEntry.objects.get(seq=1).hash == entry.hash


@pytest.mark.skipif(connection.vendor != "postgresql", reason="TRUNCATE exists on PostgreSQL")
def test_postgresql_refuses_truncate():
    audit.record(actor=ANA, action="person.view")

    with pytest.raises(DatabaseError, match="append-only"):
        _execute_in_savepoint(f"TRUNCATE {TABLE}")

    assert AuditEntry.objects.count() == 1


def test_the_orm_refuses_update_and_delete():
    # given a recorded entry
    entry = audit.record(actor=ANA, action="person.view")
    entry.action = "nothing.happened"

    # then neither the instance nor a queryset can change or remove it
    with pytest.raises(AuditTrailAppendOnly):
        entry.save()
    with pytest.raises(AuditTrailAppendOnly):
        entry.delete()
    with pytest.raises(AuditTrailAppendOnly):
        AuditEntry.objects.filter(seq=1).update(action="x")
    with pytest.raises(AuditTrailAppendOnly):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(seq=1).action == "person.view"


def test_verify_audit_command_reports_an_intact_trail():
    # given an intact trail
    entries = _trail(3)
    out = StringIO()

    # when the operator runs the command
    call_command("verify_audit", stdout=out)

    # then it reports every entry verified and prints the head to anchor
    lines = out.getvalue().splitlines()
    assert lines[0] == "Audit trail intact: 3 entries verified."
    assert f"Head: entry 3, hash {entries[-1].hash}" in lines[1]


def test_verify_audit_command_exits_1_naming_the_broken_entry():
    # given a trail with a changed row
    _trail(3)
    _tamper(f"UPDATE {TABLE} SET purpose = 'x' WHERE seq = 2")

    # when the operator runs the command, then it fails (exit status 1) naming entry 2
    with pytest.raises(CommandError, match="broken at entry 2: hash mismatch") as excinfo:
        call_command("verify_audit", stdout=StringIO())
    assert excinfo.value.returncode == 1


def test_verify_audit_command_checks_an_expected_head():
    entries = _trail(3)
    _tamper(f"DELETE FROM {TABLE} WHERE seq = 3")

    with pytest.raises(CommandError, match="broken at entry 3"):
        call_command("verify_audit", "--expect-head", entries[-1].hash, stdout=StringIO())


def test_an_entry_recorded_in_a_rolled_back_transaction_leaves_nothing():
    # when a change fails after its audit entry was recorded
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record(actor=ANA, action="consent.grant")
        raise RuntimeError("the change failed")

    # then no entry remains, and the next one still starts the chain without a gap
    assert AuditEntry.objects.count() == 0
    entry = audit.record(actor=ANA, action="consent.grant")
    assert (entry.seq, entry.prev_hash) == (1, GENESIS_HASH)
    assert audit.verify().ok


def test_the_request_id_of_the_current_request_is_recorded():
    # given a view that records an entry, behind the request id middleware
    recorded: list[AuditEntry] = []

    def view(request):
        recorded.append(audit.record(actor=ANA, action="person.view"))
        return HttpResponse()

    middleware = RequestIdMiddleware(view)

    # when a request arrives with an X-Request-ID
    middleware(RequestFactory().get("/", HTTP_X_REQUEST_ID="req-abc-123"))

    # then the entry carries it, and entries outside a request carry none
    assert AuditEntry.objects.get(seq=recorded[0].seq).request_id == "req-abc-123"
    assert request_id_var.get() == ""
    assert audit.record(actor=None, action="feed.load").request_id == ""


def test_entries_filters_by_actor_agency_subject_action_and_time():
    # given entries by two actors about two people
    bo = SimpleNamespace(pk=8, username="bo", agency=SimpleNamespace(code="health"))
    audit.record(actor=ANA, action="person.view", subject_person="P-1")
    audit.record(actor=bo, action="person.view", subject_person="P-2")
    audit.record(actor=bo, action="consent.grant", subject_person="P-1")

    def actions(**filters):
        return [(e.actor, e.action) for e in audit.entries(**filters)]

    # then each filter narrows the entries, newest first
    assert actions(subject_person="P-1") == [("bo", "consent.grant"), ("ana", "person.view")]
    assert actions(actor_id=8, action="person.view") == [("bo", "person.view")]
    assert actions(agency="revenue") == [("ana", "person.view")]
    assert len(actions(since=datetime.now(UTC) - timedelta(minutes=1))) == 3
    assert actions(since=datetime.now(UTC) + timedelta(minutes=1)) == []


def test_flush_empties_the_trail_despite_the_database_guard():
    # given a recorded entry, which plain DELETE and TRUNCATE cannot remove
    audit.record(actor=ANA, action="person.view")

    # when the database is flushed (as after every transactional test)
    call_command("flush", interactive=False, verbosity=0)

    # then the trail is empty and the guard is back in place
    assert AuditEntry.objects.count() == 0
    audit.record(actor=ANA, action="person.view")
    with pytest.raises(DatabaseError, match="append-only"):
        _execute_in_savepoint(f"DELETE FROM {TABLE}")


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite's in-memory test database is one writer"
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_unbroken_chain():
    # given eight threads that each record entries in their own transactions
    def write(worker: int) -> None:
        try:
            for n in range(10):
                with transaction.atomic():
                    audit.record(actor=ANA, action="person.view", data={"w": worker, "n": n})
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]

    # when they run at the same time
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then all eighty entries form one contiguous, valid chain
    result = audit.verify()
    assert (result.ok, result.checked) == (True, 80)
