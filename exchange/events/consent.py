"""Consent webhooks delivered through the outbox (see consent.notify for why a hook).

A consent given, refused or withdrawn becomes one `Event` of type "consent" about the
person, with one `Delivery` to each webhook that asked for it (`consent.selectors.
webhooks_for_event`), written in the transaction that records the consent. From there it is
an ordinary delivery: claimed with a lease, signed with HMAC-SHA256 under the webhook's
secret, sent with the delivery's id as idempotency key, retried with back-off, dead-lettered,
replayable, logged in the message log and audited under the person.

Each webhook is carried by a `Subscription` per agreement (`consent_webhook` set), made
when first needed; its URL and secret are read from the webhook at every delivery, so an
edited, disabled or deleted webhook counts from the next attempt.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils import timezone

from consent import selectors as consent_selectors
from consent.models import ConsentWebhook, DataAgreement
from consent.notify import ConsentChange
from core import audit
from core.tasks import enqueue_on_commit
from exchange.models import Delivery, Event, Subscription
from exchange.models.events import CONSENT_EVENT_TYPE, TargetKind

#: The source the message log names for consent notices.
CONSENT_SOURCE = "consent"


def _carrier(hook: ConsentWebhook, agreement: DataAgreement) -> Subscription:
    """The subscription that carries ``hook`` for ``agreement`` (made on first use)."""
    subscription = Subscription.objects.filter(consent_webhook=hook, agreement=agreement).first()
    if subscription is None:
        subscription = Subscription.objects.create(
            agency=hook.agency,
            event_type=CONSENT_EVENT_TYPE,
            agreement=agreement,
            target=TargetKind.WEBHOOK,
            url=hook.payload_url,
            consent_webhook=hook,
            created_by=hook.created_by,
        )
    elif subscription.url != hook.payload_url or not subscription.active:
        subscription.url, subscription.active = hook.payload_url, True
        subscription.save(update_fields=["url", "active", "updated_at"])
    return subscription


def consent_notice(change: ConsentChange) -> dict[str, Any]:
    """What a consent webhook is told: the GovStack event and the record as it now stands
    (no personal data beyond the person's id, which the event carries)."""
    record, revision, version = change.record, change.revision, change.version
    return {
        "event": change.event,
        "consent_record": str(record.pk),
        "state": record.state,
        "revision": revision.revision,
        "revision_hash": revision.hash,
        "agreement": version.agreement.code,
        "agreement_version": version.version,
        "purpose": version.purpose.code,
        "channel": str(revision.channel),
    }


def consent_change_publish(change: ConsentChange) -> Event | None:
    """Write the notice of ``change`` to the outbox, inside the caller's transaction."""
    agreement = change.record.agreement
    hooks = consent_selectors.webhooks_for_event(agreement=agreement, event=change.event)
    if not hooks:
        return None
    now = timezone.now()
    notice = consent_notice(change)
    event = Event.objects.create(
        person_id=change.record.person_id,
        type=CONSENT_EVENT_TYPE,
        payload=json.dumps(notice, sort_keys=True, separators=(",", ":")),
        source=CONSENT_SOURCE,
        # one notice per revision, however the change came to be written
        idempotency_key=f"consent:{change.revision.hash}",
        occurred_at=change.revision.created_at or now,
        recorded_at=now,
        recorded_by=change.actor if change.actor.pk else None,
    )
    deliveries = [
        Delivery(
            event=event,
            subscription=_carrier(hook, agreement),
            next_attempt_at=now,
            created_at=now,
        )
        for hook in hooks
    ]
    Delivery.objects.bulk_create(deliveries)
    audit.record(
        actor=change.actor,
        action="event.publish",
        subject_person=change.record.person_id,
        target=event,
        agency=CONSENT_SOURCE,
        data={"type": change.event, "deliveries": len(deliveries)},
    )
    from exchange.events.tasks import event_deliver

    enqueue_on_commit(event_deliver, event_id=event.pk)
    return event


def consent_change_notify(change: ConsentChange) -> None:
    """The publisher registered with consent.notify (in ExchangeConfig.ready)."""
    consent_change_publish(change)
