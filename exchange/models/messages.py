"""The message log: every request, response, denial and failure of the exchange.

Entries form one chain in `seq` order. Each entry's `hash` is the SHA-256 of its
canonical header (`header()`: the routing facts, `body_hash`, `prev_hash`) and `signature`
is the platform's Ed25519 signature of that hash. The body (parameters asked, data
returned) is kept encrypted beside its hash, so the chain verifies without decrypting
personal data, and a body erased at the end of its retention leaves the chain intact.
"""

from __future__ import annotations

import uuid
from datetime import UTC
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField
from exchange.choices import MessageKind

GENESIS_HASH = "0" * 64

HEADER_FIELDS = (
    "seq",
    "id",
    "exchange_id",
    "kind",
    "created_at",
    "consumer",
    "provider",
    "service",
    "person",
    "purpose",
    "case_ref",
    "actor",
    "client",
    "status",
    "reason",
    "body_hash",
    "prev_hash",
)


class Message(models.Model):
    seq = models.PositiveBigIntegerField(_("sequence number"), primary_key=True)
    # Not unique in the database: a random UUID no query looks up, and an index on it would
    # be one more random page written under the log's write lock for every entry.
    id = models.UUIDField(default=uuid.uuid4, editable=False)
    exchange_id = models.UUIDField(_("exchange"), db_index=True)
    kind = models.CharField(_("kind"), max_length=10, choices=MessageKind.choices)
    created_at = models.DateTimeField(_("time"), db_index=True)
    consumer = models.CharField(_("consumer"), max_length=40, db_index=True)
    provider = models.CharField(_("provider"), max_length=40, db_index=True)
    service = models.CharField(_("service"), max_length=80)
    person = models.CharField(_("person"), max_length=16, blank=True, default="", db_index=True)
    purpose = models.CharField(_("purpose"), max_length=80, blank=True, default="")
    case_ref = models.CharField(_("case"), max_length=64, blank=True, default="")
    actor = models.CharField(_("actor"), max_length=150)
    client = models.CharField(_("calling system"), max_length=255, blank=True, default="")
    status = models.CharField(_("status"), max_length=16)
    reason = models.TextField(_("reason"), blank=True, default="")
    body = EncryptedTextField(_("body"), context="exchange.message.body", blank=True, default="")
    body_hash = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)
    key_id = models.CharField(max_length=32)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind} {self.consumer}->{self.provider}/{self.service}"

    def header(self) -> dict[str, Any]:
        """What the hash covers (the body only through its hash)."""
        values = {name: getattr(self, name) for name in HEADER_FIELDS}
        values["id"] = str(values["id"])
        values["exchange_id"] = str(values["exchange_id"])
        values["created_at"] = self.created_at.astimezone(UTC).isoformat(timespec="microseconds")
        return values
