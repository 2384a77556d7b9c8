"""People as the agencies' source systems hold them.

A `SourceRecord` is one agency's copy of one person, mapped to the common person schema
and kept as the source gave it (typos included): the master person index is built on
top and never edits these rows, so every golden field can point back at its source.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import BlindIndexField, EncryptedTextField
from identity.models import NATIONAL_ID_INDEX, Agency
from registry.choices import Sex


class SourceRecord(models.Model):
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="source_records", verbose_name=_("agency")
    )
    agency_record_id = models.CharField(
        _("agency record id"), max_length=64, help_text=_("The key in the agency's own system.")
    )
    given_name = models.CharField(_("given name"), max_length=100, blank=True, default="")
    middle_name = models.CharField(_("middle name"), max_length=100, blank=True, default="")
    family_name = models.CharField(_("family name"), max_length=100, blank=True, default="")
    previous_family_name = models.CharField(
        _("previous family name"), max_length=100, blank=True, default=""
    )
    date_of_birth = models.DateField(_("date of birth"), null=True, blank=True)
    date_of_birth_raw = models.CharField(
        _("date of birth as given"),
        max_length=40,
        blank=True,
        default="",
        help_text=_("What the source sent when it was not a valid date."),
    )
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, blank=True, default="")
    address_line = models.CharField(_("address"), max_length=200, blank=True, default="")
    locality = models.CharField(_("town"), max_length=100, blank=True, default="")
    postcode = models.CharField(_("postcode"), max_length=16, blank=True, default="")
    phone = models.CharField(_("phone"), max_length=32, blank=True, default="")
    email = models.CharField(_("email"), max_length=254, blank=True, default="")
    national_id = EncryptedTextField(_("national ID"), blank=True, default="")
    # Shared with identity.User, so an account matches its person's records.
    national_id_index = BlindIndexField(source="national_id", context=NATIONAL_ID_INDEX)
    household_ref = models.CharField(
        _("household reference"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("The source's own household or address key, if it has one."),
    )
    extra = models.JSONField(
        _("agency-specific attributes"),
        default=dict,
        blank=True,
        help_text=_("What only this agency records, e.g. a tax reference or GP practice."),
    )
    source_updated_at = models.DateTimeField(
        _("updated at source"),
        null=True,
        blank=True,
        help_text=_("When the source last changed it."),
    )
    loaded_at = models.DateTimeField(_("loaded"), default=timezone.now)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("source record")
        verbose_name_plural = _("source records")
        ordering = ["agency_id", "agency_record_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "agency_record_id"], name="registry_source_record_unique_id"
            ),
        ]
        indexes = [
            models.Index(fields=["agency", "family_name"], name="registry_src_agency_family"),
            models.Index(fields=["postcode"], name="registry_src_postcode"),
        ]

    def __str__(self) -> str:
        return f"{self.agency_id}:{self.agency_record_id}"

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.given_name, self.middle_name, self.family_name) if p)
