"""The shared kernel's tables: the tamper-evident audit trail.

Writes go through `core.audit.record`, which assigns the sequence number and the hash
chain; this module only knows how an entry is stored and how its hash is computed.
"""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, NoReturn

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError

GENESIS_HASH = "0" * 64

# The fields the hash covers, in no particular order (the serialisation sorts keys).
# Changing this set changes every hash: it needs a new scheme, not an edit.
HASHED_FIELDS = (
    "seq",
    "created_at",
    "actor_id",
    "actor",
    "agency",
    "action",
    "purpose",
    "subject_person",
    "target",
    "data",
    "request_id",
    "prev_hash",
)


class AuditTrailAppendOnly(ApplicationError):
    code = "audit_append_only"
    status = 409
    title = "The audit trail is append-only"


def canonical_json(value: Any) -> Any:
    """Normalise JSON-able data so it hashes the same after a trip through the database.

    PostgreSQL's jsonb gives `1e16` back as the integer 10000000000000000, so integral
    floats are stored and hashed as integers.
    """
    if isinstance(value, dict):
        return {str(key): canonical_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_json(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _canonical_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of the sorted-key JSON of the hashed fields."""
    payload = {name: fields[name] for name in HASHED_FIELDS}
    payload["created_at"] = _canonical_time(payload["created_at"])
    payload["data"] = canonical_json(payload["data"])
    text = json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    """Bulk changes would bypass the chain or destroy it, so the ORM refuses them."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AuditTrailAppendOnly("Audit entries cannot be updated.")

    def delete(self) -> NoReturn:
        raise AuditTrailAppendOnly("Audit entries cannot be deleted.")

    def bulk_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditTrailAppendOnly("Audit entries are written one by one by core.audit.record.")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditTrailAppendOnly("Audit entries cannot be updated.")


class AuditEntry(models.Model):
    """One append-only, hash-chained record of a change or of a read of personal data.

    `seq` is assigned by `core.audit.record` under a lock, not by a database sequence:
    sequences skip numbers when a transaction rolls back, and the chain must be contiguous
    so that a deleted row shows as a gap.

    On SQLite, a migration that rebuilds this table drops its triggers: re-install them
    with `core.audit.install_db_guard` in the same migration.
    """

    seq = models.PositiveBigIntegerField(_("sequence number"), primary_key=True)
    created_at = models.DateTimeField(_("time"), db_index=True)
    # No foreign key: core does not depend on identity, and entries outlive users.
    actor_id = models.BigIntegerField(_("actor id"), null=True, blank=True, db_index=True)
    actor = models.CharField(_("actor"), max_length=150)
    agency = models.CharField(_("agency"), max_length=40, blank=True, default="", db_index=True)
    action = models.CharField(_("action"), max_length=100, db_index=True)
    purpose = models.TextField(_("purpose"), blank=True, default="")
    subject_person = models.CharField(
        _("subject person"), max_length=100, null=True, blank=True, db_index=True
    )
    target = models.TextField(_("target"), blank=True, default="")
    data = models.JSONField(_("details"), default=dict, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True, default="")
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    hash = models.CharField(_("hash"), max_length=64)  # no index: no query looks it up

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditTrailAppendOnly("Audit entries cannot be updated.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditTrailAppendOnly("Audit entries cannot be deleted.")

    def compute_hash(self) -> str:
        return entry_hash({name: getattr(self, name) for name in HASHED_FIELDS})
