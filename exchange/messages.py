"""Appending to and verifying the signed message log (see exchange.models.messages).

`message_append` writes inside the caller's transaction; writers are serialised (an
advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite) so each reads the true last
entry, and the primary key on `seq` turns a lost race into an error, never a fork.
`message_log_verify` recomputes hashes, links and signatures, optionally with a public
key file only (offline).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router, transaction
from django.utils import timezone

from core import signing, sql
from core.canonical import PreparedRows, SplitJson
from exchange.models import Message
from exchange.models.messages import GENESIS_HASH, HEADER_FIELDS

# Key of the PostgreSQL advisory lock that serialises writers of the log ("CIVIMSG").
CHAIN_LOCK_KEY = 0x434956494D5347
MAX_BODY_CHARS = 1_000_000


_body_json = DjangoJSONEncoder(sort_keys=True, separators=(",", ":")).encode


def _body_text(body: dict[str, Any] | None) -> str:
    if not body:
        return ""
    return _body_json(body)


def body_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def message_append(
    *,
    kind: str,
    exchange_id: uuid.UUID,
    consumer: str,
    provider: str,
    service: str,
    actor: str,
    status: str,
    person: str = "",
    purpose: str = "",
    case_ref: str = "",
    client: str = "",
    reason: str = "",
    body: dict[str, Any] | None = None,
) -> Message:
    """Append one signed entry to the log, inside the caller's transaction."""
    return messages_append(
        [
            {
                "kind": kind,
                "exchange_id": exchange_id,
                "consumer": consumer,
                "provider": provider,
                "service": service,
                "actor": actor,
                "status": status,
                "person": person,
                "purpose": purpose,
                "case_ref": case_ref,
                "client": client,
                "reason": reason,
                "body": body,
            }
        ]
    )[0]


def _static_values(fields: dict[str, Any]) -> dict[str, Any]:
    """One entry's columns other than the chain's, as Python values (attname -> value)."""
    text = _body_text(fields.get("body"))
    if len(text) > MAX_BODY_CHARS:
        text = _body_text({"truncated": True, "chars": len(text)})
    return {
        "id": uuid.uuid4(),
        "exchange_id": fields["exchange_id"],
        "kind": str(fields["kind"]),
        "consumer": str(fields["consumer"]),
        "provider": str(fields["provider"]),
        "service": str(fields["service"])[:80],
        "person": str(fields.get("person") or ""),
        "purpose": str(fields.get("purpose") or "")[:80],
        "case_ref": str(fields.get("case_ref") or "")[:64],
        "actor": str(fields["actor"])[:150],
        "client": str(fields.get("client") or "")[:255],
        "status": str(fields["status"]),
        "reason": str(fields.get("reason") or ""),
        "body": text,
        "body_hash": body_hash(text),
    }


_LAST = "SELECT seq, hash FROM {table} ORDER BY seq DESC LIMIT 1"
# Set inside the chain's lock; everything else is prepared before it is taken.
_CHAIN_FIELDS = ("seq", "prev_hash", "hash", "key_id", "signature", "created_at")
_HEADER_STATIC = tuple(name for name in HEADER_FIELDS if name not in _CHAIN_FIELDS)


# The canonical header (`signing.canonical_bytes(Message.header())`) is built in pieces
# before the chain's lock is taken; under it only the chain's three values are put between
# them (core.canonical; tests verify the log, which recomputes every hash from the model's
# own header()).
_HEADER_JSON = SplitJson(
    _HEADER_STATIC, late=("created_at", "prev_hash", "seq"), dumps=signing.canonical_text
)


def _header_bytes(pieces: list[str], seq: int, prev_hash: str, stamp: str) -> bytes:
    late = {"created_at": stamp, "prev_hash": prev_hash, "seq": seq}
    return _HEADER_JSON.join(pieces, late).encode()


@dataclass(frozen=True)
class _Statement:
    """The log's INSERT and the read of its head, built once per database (a log entry is
    written for every exchange; its values are adapted by core.sql)."""

    insert: str
    last: str
    columns: tuple[str, ...]


_STATEMENTS: dict[str, _Statement] = {}


def _statement(using: str) -> _Statement:
    built = _STATEMENTS.get(using)
    if built is None:
        connection = connections[using]
        fields = list(Message._meta.concrete_fields)
        quote = connection.ops.quote_name
        table = quote(Message._meta.db_table)
        names = ", ".join(quote(str(f.column)) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        built = _Statement(
            insert=f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608
            last=_LAST.format(table=table),
            columns=tuple(f.attname for f in fields),
        )
        _STATEMENTS[using] = built
    return built


# Log entries built (bodies encrypted) ahead of the write (`messages_prepare`), chained,
# signed and inserted by `messages_write`.
PreparedMessages = PreparedRows[Message]


def messages_prepare(entries: list[dict[str, Any]]) -> PreparedMessages:
    using = router.db_for_write(Message) or "default"
    values = [_static_values(fields) for fields in entries]
    headers = []
    for row in values:
        header = {name: row[name] for name in _HEADER_STATIC}
        header["id"] = str(header["id"])
        header["exchange_id"] = str(header["exchange_id"])
        headers.append(_HEADER_JSON.pieces(header))
    params = [
        {name: sql.value_adapter(Message, name, using)(value) for name, value in row.items()}
        for row in values
    ]
    return PreparedMessages(Message, values, params, headers, using)


def messages_write(prepared: PreparedMessages) -> PreparedMessages:
    """Chain, sign and insert prepared entries, inside the caller's transaction: one read of
    the chain's head, one signature per entry, one statement."""
    connection = connections[prepared.using]
    statement = _statement(prepared.using)
    with (
        transaction.atomic(using=prepared.using, savepoint=False),
        sql.cursor(connection) as cursor,
    ):
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        cursor.execute(statement.last)
        last = cursor.fetchone()
        seq, prev_hash = (int(last[0]), str(last[1])) if last else (0, GENESIS_HASH)
        now = timezone.now()
        stamp = now.astimezone(UTC).isoformat(timespec="microseconds")
        created = sql.value_adapter(Message, "created_at", prepared.using)(now)
        rows = []
        prepared.chained = []
        for header, params in zip(prepared.pieces, prepared.params, strict=True):
            seq += 1
            digest = hashlib.sha256(_header_bytes(header, seq, prev_hash, stamp)).hexdigest()
            key_id, signature = signing.sign(digest.encode("ascii"))
            chain = {
                "seq": seq,
                "prev_hash": prev_hash,
                "hash": digest,
                "key_id": key_id,
                "signature": signature,
                "created_at": now,
            }
            prepared.chained.append(chain)
            row = {**params, **chain, "created_at": created}
            rows.append([row[name] for name in statement.columns])
            prev_hash = digest
        cursor.executemany(statement.insert, rows)
    return prepared


def messages_append(entries: list[dict[str, Any]]) -> list[Message]:
    """Append entries in order (each chained to the one before), inside the caller's
    transaction: one lock, one read of the head, one statement."""
    return messages_write(messages_prepare(entries)).instances()


@dataclass(frozen=True)
class LogCheck:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    reason: str = ""


def _entries(since: datetime | None, batch: int) -> Iterator[Message]:
    queryset = Message.objects.order_by("seq")
    if since is not None:
        first = queryset.filter(created_at__gte=since).values_list("seq", flat=True).first()
        if first is None:
            return
        queryset = queryset.filter(seq__gte=first - 1)  # the entry before: to check the link
    last_seq = 0
    while True:
        rows = list(queryset.filter(seq__gt=last_seq).defer("body")[:batch])
        if not rows:
            return
        yield from rows
        last_seq = rows[-1].seq


def message_log_verify(
    *,
    since: datetime | None = None,
    keyring: signing.SigningKeyring | None = None,
    batch: int = 5000,
) -> LogCheck:
    """Recompute every entry's hash and signature and the links between them."""
    checked = 0
    prev: Message | None = None
    for entry in _entries(since, batch):
        reason = _broken(entry, prev, keyring, first=prev is None and since is not None)
        if reason:
            return LogCheck(False, checked, entry.seq, reason)
        prev = entry
        checked += 1
    return LogCheck(True, checked)


def _broken(
    entry: Message,
    prev: Message | None,
    keyring: signing.SigningKeyring | None,
    *,
    first: bool,
) -> str:
    if prev is None and not first and (entry.seq != 1 or entry.prev_hash != GENESIS_HASH):
        return "the log does not start at the beginning"
    if prev is not None:
        if entry.seq != prev.seq + 1:
            return f"entry {prev.seq + 1} is missing"
        if entry.prev_hash != prev.hash:
            return "the link to the previous entry is broken"
    digest = hashlib.sha256(signing.canonical_bytes(entry.header())).hexdigest()
    if digest != entry.hash:
        return "the entry was changed after it was written"
    if not signing.verify(
        entry.hash.encode("ascii"), key_id=entry.key_id, signature=entry.signature, keyring=keyring
    ):
        return f"the signature does not verify (key {entry.key_id})"
    return ""


def message_body_intact(entry: Message) -> bool:
    """Whether the stored (decrypted) body still matches the hash the chain covers."""
    return body_hash(entry.body) == entry.body_hash
