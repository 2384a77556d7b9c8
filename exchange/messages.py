"""Appending to and verifying the signed message log (see exchange.models.messages).

`message_append` writes inside the caller's transaction; writers are serialised (an
advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite) so each reads the true last
entry, and the primary key on `seq` turns a lost race into an error, never a fork.
`message_log_verify` recomputes hashes, links and signatures, optionally with a public
key file only (offline).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, router, transaction
from django.utils import timezone

from core import signing, sql
from exchange.models import Message
from exchange.models.messages import GENESIS_HASH

# Key of the PostgreSQL advisory lock that serialises writers of the log ("CIVIMSG").
CHAIN_LOCK_KEY = 0x434956494D5347
MAX_BODY_CHARS = 1_000_000


def _body_text(body: dict[str, Any] | None) -> str:
    if not body:
        return ""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)


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


def _message(fields: dict[str, Any]) -> Message:
    text = _body_text(fields.get("body"))
    if len(text) > MAX_BODY_CHARS:
        text = _body_text({"truncated": True, "chars": len(text)})
    return Message(
        id=uuid.uuid4(),
        exchange_id=fields["exchange_id"],
        kind=fields["kind"],
        consumer=fields["consumer"],
        provider=fields["provider"],
        service=str(fields["service"])[:80],
        person=fields.get("person") or "",
        purpose=str(fields.get("purpose") or "")[:80],
        case_ref=str(fields.get("case_ref") or "")[:64],
        actor=str(fields["actor"])[:150],
        client=str(fields.get("client") or "")[:255],
        status=fields["status"],
        reason=fields.get("reason") or "",
        body=text,
        body_hash=body_hash(text),
    )


_LAST = "SELECT seq, hash FROM {table} ORDER BY seq DESC LIMIT 1"
# Set inside the chain's lock; everything else is prepared before it is taken.
_CHAIN_FIELDS = frozenset({"seq", "prev_hash", "hash", "key_id", "signature", "created_at"})


@dataclass
class PreparedMessages:
    """Messages built and their column values converted (bodies encrypted) ahead of the
    write, so the chain's lock is held only to chain, sign and insert them."""

    messages: list[Message]
    values: list[dict[str, Any]]
    using: str


def messages_prepare(entries: list[dict[str, Any]]) -> PreparedMessages:
    messages = [_message(fields) for fields in entries]
    using = router.db_for_write(Message) or "default"
    connection = connections[using]
    values = [
        {
            f.attname: f.get_db_prep_save(f.pre_save(message, True), connection)
            for f in Message._meta.concrete_fields
            if f.attname not in _CHAIN_FIELDS
        }
        for message in messages
    ]
    return PreparedMessages(messages, values, using)


_INSERT: dict[str, tuple[str, list[Any]]] = {}


def _insert_statement(connection: Any) -> tuple[str, list[Any]]:
    built = _INSERT.get(connection.alias)
    if built is None:
        fields = list(Message._meta.concrete_fields)
        quote = connection.ops.quote_name
        columns = ", ".join(quote(f.column) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        table = quote(Message._meta.db_table)
        built = (f"INSERT INTO {table} ({columns}) VALUES ({marks})", fields)  # noqa: S608
        _INSERT[connection.alias] = built
    return built


def messages_write(prepared: PreparedMessages) -> list[Message]:
    """Chain, sign and insert prepared messages, inside the caller's transaction."""
    connection = connections[prepared.using]
    statement, fields = _insert_statement(connection)
    with transaction.atomic(using=prepared.using, savepoint=False):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        last = sql.select_one(Message, _LAST, [])
        seq, prev_hash = (int(last[0]), str(last[1])) if last else (0, GENESIS_HASH)
        now = timezone.now()
        rows = []
        for message, values in zip(prepared.messages, prepared.values, strict=True):
            seq += 1
            message.seq, message.prev_hash, message.created_at = seq, prev_hash, now
            header = signing.canonical_bytes(message.header())
            message.hash = hashlib.sha256(header).hexdigest()
            message.key_id, message.signature = signing.sign(message.hash.encode("ascii"))
            prev_hash = message.hash
            chained = {
                f.attname: f.get_db_prep_save(getattr(message, f.attname), connection)
                for f in fields
                if f.attname in _CHAIN_FIELDS
            }
            rows.append([{**values, **chained}[f.attname] for f in fields])
        with connection.cursor() as cursor:
            cursor.executemany(statement, rows)
        for message in prepared.messages:
            message._state.adding = False
            message._state.db = prepared.using
    return prepared.messages


def messages_append(entries: list[dict[str, Any]]) -> list[Message]:
    """Append entries in order (each chained to the one before), inside the caller's
    transaction: one lock, one read of the head, one statement."""
    return messages_write(messages_prepare(entries))


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
