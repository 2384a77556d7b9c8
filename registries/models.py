"""Agency-defined registries: a versioned JSON Schema, records validated against it.

A `RegistryDefinition` is one version of one registry (``vehicles`` v2): its JSON Schema
(2020-12) and which of its top-level fields are searchable, personal, or point at a
person. A `RegistryRecord` belongs to one version. Its non-personal fields are kept in a
JSON column as sent; its personal fields are kept apart, encrypted (ADR 0004), so the
JSON column never holds a name or a national ID in clear.

Search does not read the JSON: each searchable field's value is copied, normalised, to a
`RegistryFieldValue` row with an index on (definition, field, value, record), the same on
SQLite and PostgreSQL; personal searchable fields are copied as their blind index. Person
references are resolved to master person ids once, on write (`RegistryRecordPerson`), so
every read can name the person in the audit trail. See docs/adr/0009-digital-registries.md.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField
from identity.models import Agency
from registries.choices import ChangeKind, ImportStatus, RejectedStatus


class RegistryDefinition(models.Model):
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="registries", verbose_name=_("agency")
    )
    name = models.SlugField(
        _("name"),
        max_length=64,
        help_text=_("The registry's name in the API path, e.g. vehicles."),
    )
    version = models.PositiveIntegerField(_("version"))
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="")
    schema = models.JSONField(_("JSON Schema"), help_text=_("JSON Schema 2020-12 of a record."))
    id_field = models.CharField(
        _("record key field"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("A field whose value is unique and names the record (optional)."),
    )
    searchable_fields = models.JSONField(_("searchable fields"), default=list, blank=True)
    personal_fields = models.JSONField(_("personal fields"), default=list, blank=True)
    person_fields = models.JSONField(
        _("person fields"),
        default=dict,
        blank=True,
        help_text=_('{field: "national_id" | "person_id"}'),
    )
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("registry definition")
        ordering = ["name", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["name", "version"], name="registries_definition_name_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def has_personal_data(self) -> bool:
        return bool(self.personal_fields or self.person_fields)


class RegistryRecord(models.Model):
    definition = models.ForeignKey(
        RegistryDefinition, on_delete=models.PROTECT, related_name="records"
    )
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    key = models.CharField(
        _("key"),
        max_length=200,
        null=True,
        blank=True,
        help_text=_("The value of the definition's key field, when it has one."),
    )
    data = models.JSONField(_("data"), default=dict, help_text=_("The non-personal fields."))
    personal = EncryptedTextField(
        _("personal fields"), blank=True, default="", help_text=_("JSON, encrypted at rest.")
    )
    revision = models.PositiveIntegerField(_("revision"), default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("registry record")
        constraints = [
            models.UniqueConstraint(
                fields=["definition", "key"], name="registries_record_definition_key"
            ),
        ]

    def __str__(self) -> str:
        return str(self.uuid)


class RegistryRecordVersion(models.Model):
    """A record's previous contents, kept when it changes."""

    record = models.ForeignKey(RegistryRecord, on_delete=models.CASCADE, related_name="versions")
    revision = models.PositiveIntegerField()
    data = models.JSONField(default=dict)
    personal = EncryptedTextField(blank=True, default="")
    change = models.CharField(max_length=8, choices=ChangeKind.choices)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["record_id", "-revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["record", "revision"], name="registries_version_record_revision"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record_id} r{self.revision}"


class RegistryFieldValue(models.Model):
    """One searchable field's normalised value (or blind index) of one record."""

    definition = models.ForeignKey(
        RegistryDefinition, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    field = models.CharField(max_length=64)
    value = models.CharField(max_length=200)
    record = models.ForeignKey(RegistryRecord, on_delete=models.CASCADE, related_name="+")

    class Meta:
        indexes = [
            # record last: a filter is answered from the index alone, in record order
            models.Index(
                fields=["definition", "field", "value", "record"],
                name="registries_fieldvalue_lookup",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.field}={self.value}"


class RegistryRecordPerson(models.Model):
    """A record's reference to a master person, resolved on write."""

    record = models.ForeignKey(RegistryRecord, on_delete=models.CASCADE, related_name="persons")
    field = models.CharField(max_length=64)
    person = models.ForeignKey(
        "registry.Person", on_delete=models.PROTECT, related_name="registry_records"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["record", "field", "person"], name="registries_person_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record_id}:{self.field}->{self.person_id}"


class ImportBatch(models.Model):
    """One staff import of a CSV or JSON Lines file into a registry version."""

    definition = models.ForeignKey(
        RegistryDefinition, on_delete=models.PROTECT, related_name="imports"
    )
    filename = models.CharField(_("file"), max_length=255, blank=True, default="")
    format = models.CharField(_("format"), max_length=8)
    status = models.CharField(_("status"), max_length=8, choices=ImportStatus.choices)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    rejected_count = models.PositiveIntegerField(_("rejected"), default=0)
    error = models.TextField(_("error"), blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.definition_id}"


class ImportRejectedRow(models.Model):
    """A row of an import that failed validation, kept (encrypted) with its errors."""

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="rejected_rows")
    row_number = models.PositiveIntegerField(_("row"))
    raw = EncryptedTextField(_("row as sent"), help_text=_("JSON of the row's values."))
    errors = models.JSONField(_("errors"), help_text=_("[{field, message}]"))
    status = models.CharField(
        max_length=10, choices=RejectedStatus.choices, default=RejectedStatus.OPEN
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["batch_id", "row_number"]

    def __str__(self) -> str:
        return f"{self.batch_id} row {self.row_number}"
