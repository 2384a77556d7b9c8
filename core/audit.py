"""The tamper-evident audit trail: append-only, hash-chained (see docs/adr/0003-audit-trail.md).

`record` writes one entry inside the caller's transaction, so the entry commits or rolls back
with the change it describes. Hot paths build their entries with `prepare` before the write
lock is taken and write them with `record_prepared` under it. `verify` recomputes the chain
and names the first broken entry.
`entries` is the unauthorised reader: callers above core authorise with identity.policy first.
"""

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, QuerySet
from django.utils import timezone

from core import sql
from core.canonical import PreparedRows, SplitJson
from core.logging import request_id_var
from core.models import GENESIS_HASH, HASHED_FIELDS, AuditEntry, canonical_json

# Key of the PostgreSQL advisory lock that serialises writers of the chain ("CIVICAUD").
CHAIN_LOCK_KEY = 0x4349564943415544

SYSTEM_ACTOR_LABEL = "system"


def record(
    *,
    actor: Any,
    action: str,
    subject_person: str | None = None,
    target: Any = None,
    purpose: str = "",
    agency: str | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry to the audit trail, inside the caller's transaction.

    `actor` is a user (anything with `.pk`, `.username` and optionally `.agency`) or None
    for the platform itself. `target` is a model instance (stored as "app_label.model:pk")
    or a string. `agency` defaults to the code of the actor's agency.
    """
    return record_many(
        [
            {
                "actor": actor,
                "action": action,
                "subject_person": subject_person,
                "target": target,
                "purpose": purpose,
                "agency": agency,
                "data": data,
            }
        ]
    )[0]


def record_many(entries: list[dict[str, Any]]) -> list[AuditEntry]:
    """Append several entries (each the keyword arguments of `record`) in order, inside
    the caller's transaction: one lock and one read of the chain's head for all of them,
    for work that records many accesses at once (a batch of deliveries)."""
    if not entries:
        return []
    return record_prepared(prepare(entries)).instances()


# The hashed JSON (`core.models.entry_hash`) is built in pieces before the chain's lock is
# taken; under it only the chain's three values are put between them (core.canonical;
# `verify` recomputes every hash with `entry_hash`, and the tests verify what is written).
_json_text = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


_HASH_JSON = SplitJson(HASHED_FIELDS, late=("created_at", "prev_hash", "seq"), dumps=_json_text)


# Audit entries built ahead of the write (`prepare`), written by `record_prepared`.
PreparedEntries = PreparedRows[AuditEntry]


def prepare(entries: list[dict[str, Any]]) -> PreparedEntries:
    """Build entries (each the keyword arguments of `record`) for `record_prepared`,
    outside any transaction: nothing here reads or writes the database."""
    using = router.db_for_write(AuditEntry) or "default"
    request_id = request_id_var.get()
    values, params, pieces = [], [], []
    for e in entries:
        row = {
            "actor_id": getattr(e["actor"], "pk", None),
            "actor": _actor_label(e["actor"]),
            "agency": e["agency"] if e.get("agency") is not None else _agency_code(e["actor"]),
            "action": e["action"],
            "purpose": e.get("purpose") or "",
            "subject_person": None if e.get("subject_person") is None else str(e["subject_person"]),
            "target": _target_label(e.get("target")),
            "data": _json_data(e.get("data")),
            "request_id": request_id,
        }
        values.append(row)
        params.append({name: _adapt(name, using)(value) for name, value in row.items()})
        pieces.append(_HASH_JSON.pieces(row))
    return PreparedEntries(AuditEntry, values, params, pieces, using)


def _adapt(name: str, using: str) -> Any:
    return sql.value_adapter(AuditEntry, name, using)


def record_prepared(prepared: PreparedEntries) -> PreparedEntries:
    """Chain and insert prepared entries, inside the caller's transaction: one lock, one
    read of the chain's head, one statement."""
    connection = connections[prepared.using]
    insert, last, columns = _statements(connection)
    # No savepoint of its own: the entries commit or roll back with the caller's change.
    with (
        transaction.atomic(using=prepared.using, savepoint=False),
        sql.cursor(connection) as cursor,
    ):
        _lock_chain(connection)
        cursor.execute(last)
        head = cursor.fetchone()
        seq, prev_hash = (int(head[0]), str(head[1])) if head else (0, GENESIS_HASH)
        now = timezone.now()
        stamp = now.astimezone(UTC).isoformat(timespec="microseconds")  # as entry_hash
        created = _adapt("created_at", prepared.using)(now)
        rows = []
        prepared.chained = []
        for pieces, params in zip(prepared.pieces, prepared.params, strict=True):
            seq += 1
            late = {"created_at": stamp, "prev_hash": prev_hash, "seq": seq}
            digest = hashlib.sha256(_HASH_JSON.join(pieces, late).encode()).hexdigest()
            chain = {"seq": seq, "prev_hash": prev_hash, "hash": digest, "created_at": now}
            prepared.chained.append(chain)
            row = {**params, **chain, "created_at": created}
            rows.append([row[name] for name in columns])
            prev_hash = digest
        cursor.executemany(insert, rows)
    return prepared


_STATEMENTS: dict[str, tuple[str, str, tuple[str, ...]]] = {}


def _statements(connection: Any) -> tuple[str, str, tuple[str, ...]]:
    """The INSERT and the read of the head, built once per database (the ORM's save builds
    its statement anew each time, which costs more than the write; auditing is on every
    hot path)."""
    built = _STATEMENTS.get(connection.alias)
    if built is None:
        fields = AuditEntry._meta.concrete_fields
        quote = connection.ops.quote_name
        table = quote(AuditEntry._meta.db_table)
        columns = ", ".join(quote(f.column) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        built = (
            f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608 (the model's table)
            f"SELECT seq, hash FROM {table} ORDER BY seq DESC LIMIT 1",  # noqa: S608
            tuple(f.attname for f in fields),
        )
        _STATEMENTS[connection.alias] = built
    return built


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    reason: str = ""
    head_seq: int | None = None
    head_hash: str = ""


def verify(*, batch_size: int = 5000, expect_head: str | None = None) -> VerifyResult:
    """Recompute the chain in sequence order, in batches, and stop at the first broken entry.

    `expect_head` is a hash exported earlier (an anchor): it must still be in the trail,
    which detects entries deleted from the end, the one change the chain cannot show alone.
    """
    checked = 0
    prev_seq = 0
    prev_hash = GENESIS_HASH
    anchor_seen = expect_head is None
    while True:
        batch = list(AuditEntry.objects.filter(seq__gt=prev_seq).order_by("seq")[:batch_size])
        for entry in batch:
            reason = _broken_reason(entry, prev_seq=prev_seq, prev_hash=prev_hash)
            if reason:
                return VerifyResult(
                    ok=False,
                    checked=checked,
                    first_broken_seq=entry.seq,
                    reason=reason,
                    head_seq=prev_seq or None,
                    head_hash=prev_hash if prev_seq else "",
                )
            checked += 1
            prev_seq, prev_hash = entry.seq, entry.hash
            anchor_seen = anchor_seen or entry.hash == expect_head
        if len(batch) < batch_size:
            break
    head_seq, head_hash = (prev_seq, prev_hash) if prev_seq else (None, "")
    if not anchor_seen:
        return VerifyResult(
            ok=False,
            checked=checked,
            first_broken_seq=prev_seq + 1,
            reason=(
                f"expected head {expect_head} is not in the trail: "
                f"entries after {prev_seq} were deleted"
            ),
            head_seq=head_seq,
            head_hash=head_hash,
        )
    return VerifyResult(ok=True, checked=checked, head_seq=head_seq, head_hash=head_hash)


def entries(
    *,
    actor_id: int | None = None,
    agency: str | None = None,
    subject_person: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """Entries matching every filter given, newest first. Not authorised: callers are."""
    qs = AuditEntry.objects.all()
    if actor_id is not None:
        qs = qs.filter(actor_id=actor_id)
    if agency is not None:
        qs = qs.filter(agency=agency)
    if subject_person is not None:
        qs = qs.filter(subject_person=subject_person)
    if action is not None:
        qs = qs.filter(action=action)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    return qs.order_by("-seq")


# --- The database's own refusal of UPDATE, DELETE and TRUNCATE --------------------------

_PG_FUNCTION = "core_auditentry_refuse_change"
_PG_ROW_TRIGGER = "core_auditentry_no_update_delete"
_PG_TRUNCATE_TRIGGER = "core_auditentry_no_truncate"
_SQLITE_TRIGGERS = {"core_auditentry_no_update": "UPDATE", "core_auditentry_no_delete": "DELETE"}


def install_db_guard(connection: BaseDatabaseWrapper) -> None:
    """Make the database refuse UPDATE, DELETE (and TRUNCATE) on the audit table."""
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    if connection.vendor == "postgresql":
        statements = [
            f"""CREATE OR REPLACE FUNCTION {_PG_FUNCTION}() RETURNS trigger
                LANGUAGE plpgsql AS $$
                BEGIN
                    RAISE EXCEPTION 'the audit trail is append-only: % refused', TG_OP;
                END
                $$""",
            f"DROP TRIGGER IF EXISTS {_PG_ROW_TRIGGER} ON {table}",
            f"""CREATE TRIGGER {_PG_ROW_TRIGGER} BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION {_PG_FUNCTION}()""",
            f"DROP TRIGGER IF EXISTS {_PG_TRUNCATE_TRIGGER} ON {table}",
            f"""CREATE TRIGGER {_PG_TRUNCATE_TRIGGER} BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION {_PG_FUNCTION}()""",
        ]
    elif connection.vendor == "sqlite":
        statements = [
            f"""CREATE TRIGGER IF NOT EXISTS {name} BEFORE {operation} ON {table}
                BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: {operation} refused');
                END"""
            for name, operation in _SQLITE_TRIGGERS.items()
        ]
    else:
        return  # other databases rely on the chain and on revoked privileges
    _execute(connection, statements)


def remove_db_guard(connection: BaseDatabaseWrapper) -> None:
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    if connection.vendor == "postgresql":
        statements = [
            f"DROP TRIGGER IF EXISTS {_PG_ROW_TRIGGER} ON {table}",
            f"DROP TRIGGER IF EXISTS {_PG_TRUNCATE_TRIGGER} ON {table}",
            f"DROP FUNCTION IF EXISTS {_PG_FUNCTION}()",
        ]
    elif connection.vendor == "sqlite":
        statements = [f"DROP TRIGGER IF EXISTS {name}" for name in _SQLITE_TRIGGERS]
    else:
        return
    _execute(connection, statements)


@contextmanager
def db_guard_suspended(*, using: str = "default") -> Iterator[None]:
    """Lift the database's refusal for the length of one transaction.

    Only for `manage.py flush` (which empties every table, including this one) and for
    tests that simulate tampering. On PostgreSQL it needs the table's owner, who could drop
    the triggers anyway: the guard stops mistakes, the chain and an anchored head detect
    the rest.
    """
    connection = connections[using]
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    # No try/finally: if the block fails, rolling back the transaction restores the guard.
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            _execute(connection, [f"ALTER TABLE {table} DISABLE TRIGGER {_PG_ROW_TRIGGER}"])
            _execute(connection, [f"ALTER TABLE {table} DISABLE TRIGGER {_PG_TRUNCATE_TRIGGER}"])
            yield
            _execute(connection, [f"ALTER TABLE {table} ENABLE TRIGGER {_PG_ROW_TRIGGER}"])
            _execute(connection, [f"ALTER TABLE {table} ENABLE TRIGGER {_PG_TRUNCATE_TRIGGER}"])
        else:
            remove_db_guard(connection)
            yield
            install_db_guard(connection)


# --- helpers ----------------------------------------------------------------------------


def _lock_chain(connection: BaseDatabaseWrapper) -> None:
    """Serialise writers until the transaction ends, so each reads the true last entry.

    On SQLite the settings open write transactions with BEGIN IMMEDIATE, which already
    serialises them. Either way the primary key on `seq` turns a lost race into an error,
    never into a forked chain.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


def _broken_reason(entry: AuditEntry, *, prev_seq: int, prev_hash: str) -> str:
    if entry.seq != prev_seq + 1:
        if prev_seq == 0:
            return f"gap in sequence before {entry.seq}: the first entries were deleted"
        return f"gap in sequence after {prev_seq}: rows deleted"
    if entry.prev_hash != prev_hash:
        if prev_seq == 0:
            return "prev_hash is not the genesis hash: a row was inserted or changed"
        return f"prev_hash does not match entry {prev_seq}: a row was deleted or inserted"
    if entry.compute_hash() != entry.hash:
        return "hash mismatch: row was changed"
    return ""


def _actor_label(actor: Any) -> str:
    if actor is None:
        return SYSTEM_ACTOR_LABEL
    return str(getattr(actor, "username", "") or "anonymous")


def _agency_code(actor: Any) -> str:
    agency = getattr(actor, "agency", None)
    return str(getattr(agency, "code", "") or "")


def _target_label(target: Any) -> str:
    if target is None:
        return ""
    if isinstance(target, Model):
        return f"{target._meta.label_lower}:{target.pk}"
    return str(target)


_data_text = DjangoJSONEncoder(allow_nan=False).encode


def _json_data(data: dict[str, Any] | None) -> dict[str, Any]:
    """What is stored is exactly what is hashed: dates, decimals and ids become strings."""
    text = _data_text(data or {})
    normalised: dict[str, Any] = canonical_json(json.loads(text))
    return normalised


def _execute(connection: BaseDatabaseWrapper, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            # No parameters: keeps psycopg from reading the "%" of RAISE as a placeholder.
            cursor.execute(statement)
