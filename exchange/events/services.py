"""Writes of events: publish (the outbox), subscriptions, inbound senders, replay.

`event_publish` writes the event and one delivery per active subscription of its type in
one transaction and queues the delivery task after commit; the delivery worker also sweeps
due deliveries, so a lost task or a killed process loses nothing (exchange.events.delivery).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from consent.models import DataAgreement
from core import audit
from core.errors import ApplicationError, PermissionDenied, ValidationFailed
from core.tasks import enqueue_on_commit
from exchange.events.errors import (
    DeliveryNotReplayable,
    EventKeyReused,
    SenderInvalid,
    SubscriptionInvalid,
    WebhookBodyInvalid,
    WebhookSenderUnknown,
    WebhookTooLarge,
)
from exchange.events.handlers import HANDLERS
from exchange.events.types import event_type_check, payload_check
from exchange.events.webhooks import MAX_KEY_CHARS, inbound_key_remember, new_secret
from exchange.events.webhooks import verify as verify_signature
from exchange.models import Delivery, Event, EventSender, Subscription
from exchange.models.events import DeliveryStatus, TargetKind
from identity import policy
from identity.models import Agency, User
from registry.models import Person

logger = logging.getLogger("civicstack.exchange.events")

#: The source named in the message log when the person told us themself.
PORTAL_SOURCE = "citizen-portal"
MIN_SECRET_CHARS = 24
MAX_ATTEMPTS_LIMIT = 20


def _survivor(person: Person) -> Person:
    """A merged person's events belong to the person it was merged into."""
    seen: set[str] = set()
    while person.merged_into_id and person.pk not in seen:
        seen.add(person.pk)
        person = person.merged_into  # type: ignore[assignment]
    return person


def _authorize_publish(*, actor: User, person: Person, source_agency: Agency | None) -> None:
    if actor.is_citizen:
        policy.authorize(actor, "event.publish")
        from registry.services.citizens import citizen_person

        own = citizen_person(user=actor)
        if own is None or own.pk != person.pk:
            raise PermissionDenied("A citizen tells us of changes to themself only.")
        if source_agency is not None:
            raise PermissionDenied("A citizen's change comes from the citizen portal.")
        return
    if source_agency is None and not policy.is_platform_system(actor):
        raise ValidationFailed(
            "Staff record a change for their agency: name the source agency.",
            errors={"source_agency": ["is required"]},
        )
    policy.authorize(actor, "event.publish", source_agency or policy.ANY_OBJECT)


def _same_event(event: Event, *, person: Person, type: str, payload: dict[str, Any]) -> bool:
    return (
        event.person_id == person.pk
        and event.type == type
        and json.loads(event.payload or "{}") == payload
    )


def event_publish(
    *,
    actor: User,
    person: Person,
    type: str,
    payload: dict[str, Any],
    source_agency: Agency | None = None,
    occurred_at: datetime | None = None,
    idempotency_key: str = "",
) -> Event:
    """Record a change of circumstances once; every subscriber of its type gets a delivery.

    The event and its deliveries commit together or not at all. With an idempotency key,
    publishing the same event again returns the first one (a different event under the
    same key is refused)."""
    person = _survivor(person)
    _authorize_publish(actor=actor, person=person, source_agency=source_agency)
    clean = payload_check(type=type, payload=payload)
    if len(idempotency_key) > MAX_KEY_CHARS:
        raise ValidationFailed(errors={"idempotency_key": [f"at most {MAX_KEY_CHARS} characters"]})
    source = source_agency.code if source_agency is not None else PORTAL_SOURCE
    if idempotency_key:
        earlier = Event.objects.filter(source=source, idempotency_key=idempotency_key).first()
        if earlier is not None:
            if _same_event(earlier, person=person, type=type, payload=clean):
                return earlier
            raise EventKeyReused(idempotency_key=idempotency_key)
    try:
        with transaction.atomic():
            event = _event_write(
                actor=actor,
                person=person,
                type=type,
                payload=clean,
                source=source,
                source_agency=source_agency,
                occurred_at=occurred_at,
                idempotency_key=idempotency_key,
            )
    except IntegrityError:
        # the same key published at the same moment by another request: one of them wins
        earlier = Event.objects.filter(source=source, idempotency_key=idempotency_key).first()
        if earlier is None or not idempotency_key:
            raise
        if not _same_event(earlier, person=person, type=type, payload=clean):
            raise EventKeyReused(idempotency_key=idempotency_key) from None
        return earlier
    return event


def _event_write(
    *,
    actor: User,
    person: Person,
    type: str,
    payload: dict[str, Any],
    source: str,
    source_agency: Agency | None,
    occurred_at: datetime | None,
    idempotency_key: str,
) -> Event:
    now = timezone.now()
    event = Event.objects.create(
        person=person,
        type=type,
        payload=json.dumps(payload, sort_keys=True, separators=(",", ":")),
        source=source,
        source_agency=source_agency,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at or now,
        recorded_at=now,
        recorded_by=actor if actor.pk else None,
    )
    subscriptions = Subscription.objects.filter(event_type=type, active=True)
    if source_agency is not None:
        subscriptions = subscriptions.exclude(agency=source_agency)  # it told us
    deliveries = [
        Delivery(event=event, subscription_id=pk, next_attempt_at=now, created_at=now)
        for pk in subscriptions.values_list("pk", flat=True)
    ]
    Delivery.objects.bulk_create(deliveries)
    audit.record(
        actor=actor,
        action="event.publish",
        subject_person=person.pk,
        target=event,
        agency=source,
        data={"type": type, "attributes": sorted(payload), "deliveries": len(deliveries)},
    )
    if deliveries:
        from exchange.events.tasks import event_deliver

        enqueue_on_commit(event_deliver, event_id=event.pk)
    return event


# --- subscriptions -------------------------------------------------------------------------


def _target_check(
    *, event_type: str, handler: str, url: str, secret: str
) -> tuple[str, str, str, str]:
    if bool(handler) == bool(url):
        raise SubscriptionInvalid(
            "Name either an internal handler or a webhook URL, not both or neither.",
            errors={"target": ["handler or url"]},
        )
    if handler:
        spec = HANDLERS.get(handler)
        if spec is None or spec.event_type != event_type:
            names = sorted(n for n, h in HANDLERS.items() if h.event_type == event_type)
            raise SubscriptionInvalid(
                f"No internal handler {handler!r} for {event_type} events "
                f"(there is: {', '.join(names) or 'none'}).",
                errors={"handler": ["unknown for this event type"]},
            )
        return TargetKind.INTERNAL, handler, "", ""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise SubscriptionInvalid(
            "The webhook URL must be an http(s) URL.", errors={"url": ["http(s) URL"]}
        )
    if secret and len(secret) < MIN_SECRET_CHARS:
        raise SubscriptionInvalid(
            f"A webhook secret has at least {MIN_SECRET_CHARS} characters.",
            errors={"secret": [f"at least {MIN_SECRET_CHARS} characters"]},
        )
    return TargetKind.WEBHOOK, "", url, secret or new_secret()


@transaction.atomic
def subscription_create(
    *,
    actor: User,
    agency: Agency,
    event_type: str,
    agreement: DataAgreement,
    handler: str = "",
    url: str = "",
    secret: str = "",
    max_attempts: int = 8,
) -> Subscription:
    """Subscribe an agency to one event type under a data agreement it is the consumer of.

    A webhook without a secret gets a new one; the caller shows it once."""
    policy.authorize(actor, "event.subscribe", agency)
    event_type_check(event_type)
    if agreement.consumer_id != agency.pk:
        raise SubscriptionInvalid(
            f"{agency.code} is not the consumer of the data agreement {agreement.code}.",
            errors={"agreement": ["the subscriber must be its consumer"]},
        )
    if not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise SubscriptionInvalid(errors={"max_attempts": [f"1 to {MAX_ATTEMPTS_LIMIT}"]})
    target, handler, url, secret = _target_check(
        event_type=event_type, handler=handler, url=url, secret=secret
    )
    subscription = Subscription.objects.create(
        agency=agency,
        event_type=event_type,
        agreement=agreement,
        target=target,
        handler=handler,
        url=url,
        secret=secret,
        max_attempts=max_attempts,
        created_by=actor if actor.pk else None,
    )
    audit.record(
        actor=actor,
        action="event.subscribe",
        target=subscription,
        agency=agency.code,
        data={"type": event_type, "agreement": agreement.code, "target": target},
    )
    return subscription


@transaction.atomic
def subscription_update(
    *,
    actor: User,
    subscription: Subscription,
    active: bool | None = None,
    url: str | None = None,
    rotate_secret: bool = False,
    max_attempts: int | None = None,
) -> Subscription:
    """Pause or resume, move the webhook, rotate its secret. Pending deliveries of a
    paused subscription are withheld when their turn comes."""
    policy.authorize(actor, "event.subscribe", subscription.agency)
    changed: list[str] = []
    if url is not None and url != subscription.url:
        if subscription.target != TargetKind.WEBHOOK:
            raise SubscriptionInvalid(errors={"url": ["an internal subscription has no URL"]})
        _target_check(event_type=subscription.event_type, handler="", url=url, secret="x" * 32)
        subscription.url = url
        changed.append("url")
    if rotate_secret:
        if subscription.target != TargetKind.WEBHOOK:
            raise SubscriptionInvalid(errors={"secret": ["an internal subscription has none"]})
        subscription.secret = new_secret()
        changed.append("secret")
    if active is not None and active != subscription.active:
        subscription.active = active
        changed.append("active")
    if max_attempts is not None and max_attempts != subscription.max_attempts:
        if not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
            raise SubscriptionInvalid(errors={"max_attempts": [f"1 to {MAX_ATTEMPTS_LIMIT}"]})
        subscription.max_attempts = max_attempts
        changed.append("max_attempts")
    if changed:
        subscription.save(update_fields=[*changed, "updated_at"])
        audit.record(
            actor=actor,
            action="event.subscription_update",
            target=subscription,
            agency=subscription.agency.code,
            data={"changed": changed, "active": subscription.active},
        )
    return subscription


def subscription_end(*, actor: User, subscription: Subscription) -> Subscription:
    """End a subscription (kept, with its deliveries, for the record)."""
    return subscription_update(actor=actor, subscription=subscription, active=False)


# --- inbound senders -----------------------------------------------------------------------


@transaction.atomic
def sender_register(
    *, actor: User, agency: Agency, key_id: str, event_types: list[str], secret: str = ""
) -> EventSender:
    """Let an agency's own system post events to the inbound webhook with a shared secret
    (a new one unless given; the caller shows it once)."""
    policy.authorize(actor, "event.manage", agency)
    for value in event_types:
        event_type_check(value)
    if not event_types:
        raise SenderInvalid(errors={"event_types": ["at least one"]})
    if secret and len(secret) < MIN_SECRET_CHARS:
        raise SenderInvalid(errors={"secret": [f"at least {MIN_SECRET_CHARS} characters"]})
    if EventSender.objects.filter(key_id=key_id).exists():
        raise SenderInvalid(f"The key id {key_id!r} is taken.", errors={"key_id": ["taken"]})
    sender = EventSender.objects.create(
        key_id=key_id,
        agency=agency,
        secret=secret or new_secret(),
        event_types=sorted(set(event_types)),
        created_by=actor if actor.pk else None,
    )
    audit.record(
        actor=actor,
        action="event.sender_register",
        target=sender,
        agency=agency.code,
        data={"key_id": key_id, "types": sender.event_types},
    )
    return sender


# --- inbound: an agency's own system tells us --------------------------------------------

#: The largest inbound request body accepted, before it is even parsed.
MAX_INBOUND_BYTES = 32 * 1024


def _inbound_person(sender: EventSender, body: dict[str, Any]) -> Person:
    """The person the sender means: by its own record id, or by master person id of a
    person it holds a record of (a sender cannot speak of people it does not know)."""
    from registry.models import SourceRecord

    record_id, person_id = body.get("record"), body.get("person")
    records = SourceRecord.objects.filter(agency=sender.agency, person__isnull=False)
    if isinstance(record_id, str) and record_id:
        records = records.filter(agency_record_id=record_id)
    elif isinstance(person_id, str) and person_id:
        records = records.filter(person_id=person_id)
    else:
        raise WebhookBodyInvalid(
            "Name the person by your record id (record) or the master person id (person).",
            errors={"record": ["required unless person is given"]},
        )
    found = records.select_related("person").first()
    if found is None or found.person is None:
        raise WebhookBodyInvalid(
            f"{sender.agency.code} holds no linked record of that person.",
            errors={"record": ["unknown or not linked to a person"]},
        )
    return found.person


def _inbound_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise WebhookBodyInvalid("The body is not JSON.") from None
    if not isinstance(body, dict):
        raise WebhookBodyInvalid("The body must be a JSON object.")
    return body


def _occurred(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise WebhookBodyInvalid(
            "occurred_at must be an ISO 8601 time.", errors={"occurred_at": ["ISO 8601"]}
        ) from None
    return moment if moment.tzinfo else timezone.make_aware(moment)


def inbound_refusal_log(
    error: ApplicationError, *, sender_key: str, sender: EventSender | None = None
) -> None:
    """Log and audit a refused inbound request, with its reason."""
    logger.warning(
        "inbound event refused",
        extra={
            "code": error.code,
            "reason": error.detail,
            "sender": sender_key[:60],
            "agency": sender.agency.code if sender is not None else "",
        },
    )
    with transaction.atomic():
        audit.record(
            actor=None,
            action="event.inbound_refused",
            target=f"exchange.eventsender:{sender.pk}" if sender is not None else "",
            agency=sender.agency.code if sender is not None else "",
            data={"code": error.code, "reason": error.detail[:300], "sender": sender_key[:60]},
        )


def inbound_event_receive(*, sender_key: str, headers: Mapping[str, Any], body: bytes) -> Event:
    """An event posted by a registered agency system, signed with its shared secret.

    Refused with the reason, logged and audited: too large, unknown sender, missing or
    forged signature, a timestamp outside the tolerance, an idempotency key already used
    (a replay), a body that is not a valid event. The key is remembered in the same
    transaction as the event: a refused or failed request leaves nothing behind."""
    sender: EventSender | None = None
    try:
        if len(body) > MAX_INBOUND_BYTES:
            raise WebhookTooLarge(
                f"The body is {len(body):,} bytes; at most {MAX_INBOUND_BYTES:,} are accepted.",
                limit=MAX_INBOUND_BYTES,
            )
        from exchange.events.selectors import sender_for_inbound

        sender = sender_for_inbound(key_id=sender_key)
        if sender is None:
            raise WebhookSenderUnknown(f"No active sender {sender_key[:60]!r}.")
        key = verify_signature(secret=sender.secret, headers=headers, body=body)
        data = _inbound_body(body)
        type = str(data.get("type", ""))
        if type not in sender.event_types:
            raise WebhookBodyInvalid(
                f"{sender.key_id} may post {', '.join(sender.event_types)} events, not {type!r}.",
                errors={"type": [f"one of {', '.join(sender.event_types)}"]},
            )
        person = _inbound_person(sender, data)
        payload = data.get("payload")
        with transaction.atomic():
            receipt = inbound_key_remember(sender=sender, idempotency_key=key)
            event = event_publish(
                actor=_platform(),
                person=person,
                type=type,
                payload=payload if isinstance(payload, dict) else {},
                source_agency=sender.agency,
                occurred_at=_occurred(data.get("occurred_at")),
                idempotency_key=key,
            )
            receipt.event = event
            receipt.save(update_fields=["event"])
        return event
    except ApplicationError as error:
        inbound_refusal_log(error, sender_key=sender_key, sender=sender)
        raise


def _platform() -> User:
    from identity.services import system_actor

    return system_actor()


# --- replay --------------------------------------------------------------------------------

REPLAYABLE = (DeliveryStatus.DEAD, DeliveryStatus.WITHHELD)


@transaction.atomic
def delivery_replay(*, actor: User, delivery: Delivery) -> Delivery:
    """Send a dead or withheld delivery again, from its first attempt, with the same
    idempotency key (a receiver that already processed it does nothing twice)."""
    policy.authorize(actor, "event.manage", delivery.subscription.agency)
    if delivery.status not in REPLAYABLE:
        raise DeliveryNotReplayable(f"The delivery is {delivery.status}.", status=delivery.status)
    previous = delivery.status
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=timezone.now(),
        claimed_until=None,
        claimed_by="",
        replays=delivery.replays + 1,
        updated_at=timezone.now(),
    )
    delivery.refresh_from_db()
    audit.record(
        actor=actor,
        action="event.replay",
        subject_person=delivery.event.person_id,
        target=delivery,
        agency=delivery.subscription.agency.code,
        data={"was": previous, "type": delivery.event.type},
    )
    from exchange.events.tasks import event_deliver

    enqueue_on_commit(event_deliver, event_id=delivery.event_id)
    return delivery


def deliveries_replay_dead(*, actor: User, subscription: Subscription) -> int:
    """Replay every dead delivery of a subscription (after its receiver is fixed)."""
    policy.authorize(actor, "event.manage", subscription.agency)
    dead = list(
        Delivery.objects.filter(subscription=subscription, status=DeliveryStatus.DEAD)
        .select_related("event", "subscription__agency")
        .order_by("created_at")
    )
    for delivery in dead:
        delivery_replay(actor=actor, delivery=delivery)
    return len(dead)
