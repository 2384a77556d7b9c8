"""Reads of events, subscriptions and deliveries; each authorises its viewer.

A person's event history is theirs to see (a citizen, for their own person) and the
operators' (`event.manage`): platform admins see everything, an agency admin the events
their agency sent or was sent. Reading a history is audited against the person.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from core import audit
from core.errors import PermissionDenied
from exchange.events.errors import DeliveryNotFound, EventNotFound, SubscriptionNotFound
from exchange.models import Delivery, Event, EventSender, Subscription
from exchange.models.events import CONSENT_EVENT_TYPE
from identity import policy
from identity.choices import Role
from identity.models import Agency, User
from registry.models import Person


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _operator_agencies(viewer: User) -> set[int] | None:
    """The agencies whose events the operator sees; None: every agency."""
    if policy.is_platform_admin(viewer):
        return None
    return policy.agencies_where(viewer, Role.AGENCY_ADMIN)


@dataclass(frozen=True)
class HistoryEntry:
    event: Event
    data: dict[str, Any]
    deliveries: list[Delivery]


def event_history_for_person(
    *, viewer: User, person: Person, limit: int = 200
) -> list[HistoryEntry]:
    """A person's changes of circumstances, newest first, with where each went (audited)."""
    agencies: set[int] | None = None
    if viewer.is_citizen:
        policy.authorize(viewer, "event.publish")
        from registry.services.citizens import citizen_person

        own = citizen_person(user=viewer)
        if own is None or own.pk != person.pk:
            raise PermissionDenied("A citizen sees the history of their own changes only.")
    else:
        policy.authorize(viewer, "event.manage", policy.ANY_OBJECT)
        agencies = _operator_agencies(viewer)
    deliveries = Delivery.objects.select_related("subscription__agency").order_by("created_at")
    # the changes the person told (consent notices to webhooks are in "who accessed")
    events = (
        Event.objects.filter(person=person)
        .exclude(type=CONSENT_EVENT_TYPE)
        .select_related("source_agency")
    )
    if agencies is not None:
        events = events.filter(
            Q(source_agency_id__in=agencies) | Q(deliveries__subscription__agency_id__in=agencies)
        ).distinct()
        deliveries = deliveries.filter(subscription__agency_id__in=agencies)
    rows = list(
        events.prefetch_related(Prefetch("deliveries", queryset=deliveries)).order_by(
            "-recorded_at"
        )[:limit]
    )
    audit.record(
        actor=viewer,
        action="event.history",
        subject_person=person.pk,
        target=person,
        data={"events": len(rows)},
    )
    return [
        HistoryEntry(event, json.loads(event.payload or "{}"), list(event.deliveries.all()))
        for event in rows
    ]


def event_get(*, viewer: User, event_id: Any) -> Event:
    """One event (without its payload's meaning: the history is where data is read)."""
    pk = _uuid(event_id)
    event = Event.objects.select_related("source_agency").filter(pk=pk).first() if pk else None
    if event is None:
        raise EventNotFound()
    policy.authorize(viewer, "event.manage", policy.ANY_OBJECT)
    agencies = _operator_agencies(viewer)
    if agencies is not None and not (
        event.source_agency_id in agencies
        or event.deliveries.filter(subscription__agency_id__in=agencies).exists()
    ):
        raise EventNotFound()
    return event


def subscription_list(*, viewer: User, agency: Agency | None = None) -> QuerySet[Subscription]:
    policy.authorize(viewer, "event.subscribe", agency or policy.ANY_OBJECT)
    found = Subscription.objects.select_related("agency", "agreement")
    if agency is not None:
        return found.filter(agency=agency)
    if policy.is_platform_admin(viewer):
        return found
    return found.filter(agency_id__in=policy.agencies_where(viewer, Role.AGENCY_ADMIN))


def subscription_get(*, viewer: User, subscription_id: Any) -> Subscription:
    pk = _uuid(subscription_id)
    found = (
        Subscription.objects.select_related("agency", "agreement").filter(pk=pk).first()
        if pk
        else None
    )
    if found is None or not policy.can(viewer, "event.subscribe", found.agency):
        policy.authorize(viewer, "event.subscribe", policy.ANY_OBJECT)
        raise SubscriptionNotFound()  # another agency's subscription answers like a missing one
    return found


def delivery_list(
    *,
    viewer: User,
    status: str | None = None,
    agency: Agency | None = None,
    subscription: Subscription | None = None,
) -> QuerySet[Delivery]:
    """Deliveries, newest first; ``status="dead"`` is the dead-letter list."""
    policy.authorize(viewer, "event.manage", agency or policy.ANY_OBJECT)
    found = Delivery.objects.select_related("event", "subscription__agency").order_by("-created_at")
    agencies = _operator_agencies(viewer)
    if agencies is not None:
        found = found.filter(subscription__agency_id__in=agencies)
    if agency is not None:
        found = found.filter(subscription__agency=agency)
    if subscription is not None:
        found = found.filter(subscription=subscription)
    if status:
        found = found.filter(status=status)
    return found


def delivery_get(*, viewer: User, delivery_id: Any) -> Delivery:
    pk = _uuid(delivery_id)
    found = (
        Delivery.objects.select_related("event", "subscription__agency").filter(pk=pk).first()
        if pk
        else None
    )
    if found is None or not policy.can(viewer, "event.manage", found.subscription.agency):
        policy.authorize(viewer, "event.manage", policy.ANY_OBJECT)
        raise DeliveryNotFound()
    return found


def sender_for_inbound(*, key_id: str) -> EventSender | None:
    """The active sender a signed inbound request names (the signature authenticates it)."""
    if not key_id or len(key_id) > 60:
        return None
    return EventSender.objects.select_related("agency").filter(key_id=key_id, active=True).first()
