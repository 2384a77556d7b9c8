"""The catalogue of data services agencies publish (GovStack IM directory: services)."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from exchange.choices import ProviderKind


class DataService(models.Model):
    """One thing a provider agency answers about a person (e.g. "income for a tax year").

    `attributes` are what it may ever release; a request gets the subset its data agreement
    allows. An internal service reads data held in CivicStack through a named resolver;
    an HTTP service calls the agency's own system."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.ForeignKey(
        "identity.Agency",
        on_delete=models.PROTECT,
        related_name="data_services",
        verbose_name=_("provider"),
    )
    code = models.SlugField(_("code"), max_length=80)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="")
    input_schema = models.JSONField(_("input schema"), default=dict, blank=True)
    output_schema = models.JSONField(_("output schema"), default=dict, blank=True)
    attributes = models.JSONField(_("attributes it may release"))
    kind = models.CharField(
        _("kind"), max_length=12, choices=ProviderKind.choices, default=ProviderKind.INTERNAL
    )
    resolver = models.CharField(
        _("resolver"), max_length=60, blank=True, default="", help_text=_("Internal services.")
    )
    endpoint_url = models.URLField(_("endpoint"), blank=True, default="")
    timeout_seconds = models.FloatField(_("timeout (s)"), default=5.0)
    max_retries = models.PositiveSmallIntegerField(_("retries"), default=2)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "code"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "code"], name="exchange_service_code")
        ]

    def __str__(self) -> str:
        return f"{self.provider.code}/{self.code}"
