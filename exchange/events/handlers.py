"""Internal subscribers: agencies whose records live in CivicStack get the change written in.

A handler runs inside the delivery's transaction (exchange.events.delivery): the change to
the agency's record and the delivery's "delivered" commit together, so a retry after a
crash never applies it twice. The change reaches the agency's source record the way its
own feed would send it, through the registry's loader (versioned, audited, matched again),
as the platform account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from core.errors import ApplicationError
from exchange.models.events import EventType

if TYPE_CHECKING:
    from exchange.models import Event, Subscription
    from identity.models import User


class HandlerRefused(ApplicationError):
    """The change cannot be applied, and trying again will not help (dead at once)."""

    code = "event_handler_refused"
    status = 422
    title = "The subscriber's handler refused the event"


@dataclass(frozen=True)
class HandlerContext:
    event: Event
    subscription: Subscription
    data: dict[str, Any]  # the payload fields the agreement lets this subscriber have
    actor: User


@dataclass(frozen=True)
class Handler:
    event_type: str
    run: Callable[[HandlerContext], dict[str, Any]]
    description: str


def _as_feed_text(value: Any, rule: Any) -> str:
    """A value as the agency's feed writes it (its date format, its codes)."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.strftime(rule.formats[0]) if rule.formats else value.isoformat()
    if rule.values:
        for raw, meant in rule.values.items():
            if meant == value:
                return str(raw)
    return str(value)


def _feed_row(record: Any, spec: Any, changes: dict[str, Any]) -> dict[str, Any]:
    """The record as its agency's feed would send it, with `changes` applied."""
    row: dict[str, Any] = {spec.record_id: record.agency_record_id}
    for target, rule in spec.fields.items():
        if target in changes:
            value = changes[target]
        elif target == "date_of_birth" and record.date_of_birth is None:
            value = record.date_of_birth_raw or None
        else:
            value = getattr(record, target, None)
        row[rule.columns[0]] = _as_feed_text(value, rule)
        for column in rule.columns[1:]:
            row[column] = ""
    for name, column in spec.extra.items():
        row[column] = (record.extra or {}).get(name, "")
    return row


def _update_records(ctx: HandlerContext, changes: dict[str, Any], purpose: str) -> dict[str, Any]:
    """Write `changes` into every record the subscribing agency holds of the person."""
    from registry.models import BatchChannel, SourceRecord
    from registry.selectors.records import source_records_read
    from registry.services.feeds import feed_spec_for, ingest_records

    agency = ctx.subscription.agency
    records = list(
        SourceRecord.objects.filter(agency=agency, person_id=ctx.event.person_id).order_by(
            "agency_record_id"
        )
    )
    source_records_read(viewer=ctx.actor, records=records, purpose=purpose)
    if not records:
        return {"records": [], "note": f"{agency.code} holds no record of this person"}
    _, spec = feed_spec_for(agency=agency)
    rows = [_feed_row(r, spec, {**changes, "source_updated_at": timezone.now()}) for r in records]
    result = ingest_records(agency=agency, records=rows, actor=ctx.actor, channel=BatchChannel.API)
    batch = result.batch
    if batch.rejected_count:
        reasons = "; ".join(
            f"{e.get('field', '')}: {e.get('message', '')}"
            for rejected in batch.rejected_rows.all()
            for e in (rejected.errors or [])
        )
        raise HandlerRefused(f"{agency.code} refused the change: {reasons or 'rejected'}")
    return {
        "records": [r.agency_record_id for r in records],
        "updated": batch.updated_count,
        "batch": str(batch.pk),
    }


def registry_address(ctx: HandlerContext) -> dict[str, Any]:
    names = ("address_line", "locality", "postcode")
    changes: dict[str, Any] = {name: ctx.data[name] for name in names if name in ctx.data}
    if not {"address_line", "postcode"} <= set(changes):
        raise HandlerRefused("The agreement does not share the address line and postcode.")
    changes.setdefault("locality", "")
    return _update_records(ctx, changes, f"change of address (event {ctx.event.pk})")


def registry_name(ctx: HandlerContext) -> dict[str, Any]:
    names = ("given_name", "middle_name", "family_name", "previous_family_name")
    changes: dict[str, Any] = {name: ctx.data[name] for name in names if name in ctx.data}
    if not {"given_name", "family_name"} <= set(changes):
        raise HandlerRefused("The agreement does not share the given and family names.")
    return _update_records(ctx, changes, f"change of name (event {ctx.event.pk})")


HANDLERS: dict[str, Handler] = {
    "registry.address": Handler(
        EventType.ADDRESS,
        registry_address,
        "Write the new address into the agency's source record of the person.",
    ),
    "registry.name": Handler(
        EventType.NAME,
        registry_name,
        "Write the new name into the agency's source record of the person.",
    ),
}
