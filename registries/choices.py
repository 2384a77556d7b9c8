from django.db import models
from django.utils.translation import gettext_lazy as _


class PersonRef(models.TextChoices):
    """How a person-reference field names its person."""

    NATIONAL_ID = "national_id", _("National ID (resolved through the blind index)")
    PERSON_ID = "person_id", _("Master person id")


class ImportStatus(models.TextChoices):
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class RejectedStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Corrected and loaded")
    DISMISSED = "dismissed", _("Dismissed")


class ChangeKind(models.TextChoices):
    CREATE = "create", _("Created")
    UPDATE = "update", _("Updated")
