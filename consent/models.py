"""Data agreements between agencies, and citizens' consent to them.

A `DataAgreement` is the lasting relation (provider, consumer, code); what it allows is in
its `DataAgreementVersion`s (purpose, attributes, lawful basis, retention, validity), each
frozen once written: its canonical snapshot is hashed and signed by the platform, and a
consent names the version (and hash) it was given to.

A `ConsentRecord` is a person's current answer to one agreement. Every change (give,
refuse, withdraw) appends a `ConsentRevision`: a canonical snapshot, its SHA-256 hash,
the previous revision's hash, and the platform's Ed25519 signature of the hash, so the
history cannot be edited or shortened without the chain or a signature failing.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consent.choices import ConsentChannel, ConsentState, LawfulBasis
from core.fields import EncryptedTextField

GENESIS_HASH = "0" * 64


class Purpose(models.Model):
    """A registered purpose of processing; requests must name one of these."""

    code = models.SlugField(_("code"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class DataAgreement(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.SlugField(_("code"), max_length=100, unique=True)
    provider = models.ForeignKey(
        "identity.Agency",
        on_delete=models.PROTECT,
        related_name="agreements_as_provider",
        verbose_name=_("provider"),
    )
    consumer = models.ForeignKey(
        "identity.Agency",
        on_delete=models.PROTECT,
        related_name="agreements_as_consumer",
        verbose_name=_("consumer"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]
        indexes = [models.Index(fields=["provider", "consumer"], name="consent_agr_prov_cons")]

    def __str__(self) -> str:
        return self.code


class DataAgreementVersion(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agreement = models.ForeignKey(DataAgreement, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField(_("version"))
    purpose = models.ForeignKey(
        Purpose, on_delete=models.PROTECT, related_name="+", verbose_name=_("purpose")
    )
    purpose_text = models.TextField(
        _("purpose as shown to people"), help_text=_("Plain words: why the data is shared.")
    )
    attributes = models.JSONField(_("attributes shared"), help_text=_("Names of the attributes."))
    lawful_basis = models.CharField(_("lawful basis"), max_length=24, choices=LawfulBasis.choices)
    retention_days = models.PositiveIntegerField(_("retention (days)"))
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    policy_url = models.URLField(_("policy"), blank=True, default="")
    dpia = models.TextField(_("data protection impact assessment"), blank=True, default="")
    forgettable = models.BooleanField(
        _("forgettable"),
        default=False,
        help_text=_("Whether a withdrawn consent to it may be deleted (GovStack 'forgettable')."),
    )
    snapshot = models.TextField(help_text=_("Canonical JSON of what was agreed."))
    snapshot_hash = models.CharField(max_length=64)
    key_id = models.CharField(max_length=32)
    signature = models.CharField(max_length=128)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["agreement", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["agreement", "version"], name="consent_agr_version")
        ]

    def __str__(self) -> str:
        return f"{self.agreement.code} v{self.version}"

    @property
    def needs_consent(self) -> bool:
        return self.lawful_basis == LawfulBasis.CONSENT

    def in_force(self, at: object = None) -> bool:
        moment = at or timezone.now()
        return self.valid_from <= moment and (  # type: ignore[operator]
            self.valid_until is None or moment < self.valid_until  # type: ignore[operator]
        )


class ConsentRecord(models.Model):
    """A person's current answer to one agreement (its history is in the revisions)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    person = models.ForeignKey(
        "registry.Person", on_delete=models.PROTECT, related_name="consents", db_constraint=True
    )
    agreement = models.ForeignKey(DataAgreement, on_delete=models.PROTECT, related_name="consents")
    agreement_version = models.ForeignKey(
        DataAgreementVersion, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(_("state"), max_length=12, choices=ConsentState.choices)
    revision = models.PositiveIntegerField(default=1)
    head_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["person", "agreement"], name="consent_one_per_person")
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.agreement_id} {self.state}"


class ConsentRevision(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    record = models.ForeignKey(ConsentRecord, on_delete=models.PROTECT, related_name="revisions")
    revision = models.PositiveIntegerField()
    state = models.CharField(max_length=12, choices=ConsentState.choices)
    agreement_version = models.ForeignKey(
        DataAgreementVersion, on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(max_length=12, choices=ConsentChannel.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    created_at = models.DateTimeField()
    snapshot = models.TextField()
    hash = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    key_id = models.CharField(max_length=32)
    signature = models.CharField(max_length=128)

    class Meta:
        ordering = ["record", "revision"]
        constraints = [
            models.UniqueConstraint(fields=["record", "revision"], name="consent_revision_seq")
        ]

    def __str__(self) -> str:
        return f"{self.record_id}#{self.revision} {self.state}"


class DisclosureDelay(models.Model):
    """An investigating agency hides its reads of one person from that person until a date.

    Auditors always see the delay and the reads; the person sees them once it ends.
    """

    person = models.ForeignKey("registry.Person", on_delete=models.PROTECT, related_name="+")
    agency = models.ForeignKey("identity.Agency", on_delete=models.PROTECT, related_name="+")
    until = models.DateTimeField(_("disclose from"))
    reason = models.TextField(_("reason"))
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["person", "agency"], name="consent_delay_person")]

    def __str__(self) -> str:
        return f"{self.agency_id} hides reads of {self.person_id} until {self.until:%Y-%m-%d}"


class ConsentWebhook(models.Model):
    """A third party's subscription to consent events (GovStack `Webhook`), per agency.

    The secret signs deliveries, so it is encrypted at rest and shown only when created.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agency = models.ForeignKey("identity.Agency", on_delete=models.PROTECT, related_name="+")
    payload_url = models.URLField(_("payload URL"), max_length=500)
    content_type = models.CharField(_("content type"), max_length=40, default="application/json")
    events = models.JSONField(_("events"), default=list)
    disabled = models.BooleanField(_("disabled"), default=False)
    secret = EncryptedTextField(_("secret"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.agency_id} {self.payload_url}"
