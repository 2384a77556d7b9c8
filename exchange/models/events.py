"""Events ("tell us once"): a change of circumstances recorded once, delivered to subscribers.

An `Event` is one change about one person (address, name, birth, death, household); its
payload is encrypted. A `Subscription` is an agency's standing request for one event type
under a data agreement whose consumer it is, delivered to an internal handler or a webhook.
Publishing writes the event and one `Delivery` per active subscription in one transaction
(the transactional outbox); workers claim due deliveries with a lease (`claimed_until`), so
a killed worker's claims come back when the lease ends. A delivery's id is its idempotency
key: a retry or replay sends the same key, and the receiver does the work once.

`EventSender` is an external agency system allowed to post events to the inbound webhook
with a shared secret; `InboundReceipt` remembers the idempotency keys it has used, so a
captured request posted again is refused.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField


class EventType(models.TextChoices):
    ADDRESS = "address", _("Change of address")
    NAME = "name", _("Change of name")
    BIRTH = "birth", _("Birth")
    DEATH = "death", _("Death")
    HOUSEHOLD = "household", _("Change of household")


#: The type of the events that tell consent webhooks of a consent change. Not one of the
#: `EventType` choices: nobody publishes or subscribes to it directly (see
#: exchange.events.consent).
CONSENT_EVENT_TYPE = "consent"


class TargetKind(models.TextChoices):
    INTERNAL = "internal", _("An agency inside CivicStack (internal handler)")
    WEBHOOK = "webhook", _("The agency's own system (webhook)")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent")
    DELIVERED = "delivered", _("Delivered")
    WITHHELD = "withheld", _("Withheld (no agreement or consent)")
    DEAD = "dead", _("Failed for good (dead-letter list)")


class Event(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    person = models.ForeignKey(
        "registry.Person", on_delete=models.PROTECT, related_name="+", verbose_name=_("person")
    )
    type = models.CharField(_("type"), max_length=16, choices=EventType.choices)
    # JSON text of the validated payload; encrypted because it is personal data
    payload = EncryptedTextField(_("payload"), context="exchange.event.payload")
    source_agency = models.ForeignKey(
        "identity.Agency",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("source agency"),
        help_text=_("Empty when the person told us themself (the citizen portal)."),
    )
    # the code of the source, as the message log names it ("citizen-portal" or an agency)
    source = models.CharField(_("source"), max_length=40)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, blank=True, default="")
    occurred_at = models.DateTimeField(_("occurred"))
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now, db_index=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-recorded_at"]
        indexes = [models.Index(fields=["person", "recorded_at"], name="exchange_event_person")]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="exchange_event_idempotency",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} of {self.person_id} ({self.recorded_at:%Y-%m-%d})"


class Subscription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agency = models.ForeignKey(
        "identity.Agency",
        on_delete=models.PROTECT,
        related_name="event_subscriptions",
        verbose_name=_("subscriber"),
    )
    event_type = models.CharField(_("event type"), max_length=16, choices=EventType.choices)
    agreement = models.ForeignKey(
        "consent.DataAgreement",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("data agreement"),
        help_text=_("Its consumer must be the subscriber; checked again at every delivery."),
    )
    target = models.CharField(_("target"), max_length=10, choices=TargetKind.choices)
    handler = models.CharField(_("internal handler"), max_length=60, blank=True, default="")
    url = models.URLField(_("webhook URL"), max_length=500, blank=True, default="")
    secret = EncryptedTextField(
        _("webhook secret"), context="exchange.subscription.secret", blank=True, default=""
    )
    max_attempts = models.PositiveSmallIntegerField(_("attempts before dead-letter"), default=8)
    active = models.BooleanField(_("active"), default=True)
    # Set on the subscriptions that carry a consent webhook (GovStack Consent API), one per
    # webhook and agreement: their URL and secret are the webhook's, read at each delivery.
    consent_webhook = models.ForeignKey(
        "consent.ConsentWebhook",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("consent webhook"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["agency", "event_type", "created_at"]
        indexes = [models.Index(fields=["event_type", "active"], name="exchange_sub_type")]

    def __str__(self) -> str:
        return f"{self.agency_id} <- {self.event_type} ({self.target})"


class Delivery(models.Model):
    """One event to one subscriber. Its id is the idempotency key sent with every attempt."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.PROTECT, related_name="deliveries"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    claimed_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    claimed_by = models.CharField(_("claimed by"), max_length=80, blank=True, default="")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True, default="")
    replays = models.PositiveSmallIntegerField(_("replays"), default=0)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="exchange_delivery_due"),
            models.Index(fields=["subscription", "status"], name="exchange_delivery_sub"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["event", "subscription"], name="exchange_delivery_once")
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.subscription_id}: {self.status}"

    @property
    def idempotency_key(self) -> str:
        return str(self.id)


class EventSender(models.Model):
    """An external agency system that may post events to the inbound webhook."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key_id = models.SlugField(
        _("key id"), max_length=60, unique=True, help_text=_("Sent in CivicStack-Sender.")
    )
    agency = models.ForeignKey(
        "identity.Agency", on_delete=models.PROTECT, related_name="+", verbose_name=_("agency")
    )
    secret = EncryptedTextField(_("shared secret"), context="exchange.event_sender.secret")
    event_types = models.JSONField(_("event types it may post"), default=list)
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key_id"]

    def __str__(self) -> str:
        return self.key_id


class InboundReceipt(models.Model):
    """An idempotency key a sender has used: the same key again is a replay."""

    sender = models.ForeignKey(EventSender, on_delete=models.CASCADE, related_name="receipts")
    idempotency_key = models.CharField(max_length=100)
    event = models.ForeignKey(Event, null=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["sender", "idempotency_key"], name="exchange_inbound_key_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.sender_id}:{self.idempotency_key}"
