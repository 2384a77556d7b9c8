"""Fixed vocabularies of the decisions app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class VersionState(models.TextChoices):
    """Where a version stands at a given moment (derived from its activation date)."""

    DRAFT = "draft", _("Draft (no activation date)")
    SCHEDULED = "scheduled", _("Scheduled (activates later)")
    ACTIVE = "active", _("Active")
    SUPERSEDED = "superseded", _("Superseded (kept in history)")
