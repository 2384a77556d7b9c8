"""Fixed vocabularies of the cases app."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class CaseStatus(models.TextChoices):
    # Contexts: Spanish and other languages agree the word with "case" or "task".
    RUNNING = "running", pgettext_lazy("case status", "Running")
    WAITING = "waiting", pgettext_lazy("case status", "Waiting (for a person or a timer)")
    NEEDS_ATTENTION = "needs_attention", pgettext_lazy("case status", "Needs attention")
    COMPLETED = "completed", pgettext_lazy("case status", "Completed")


class WorkItemStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("task status", "Open")
    CLAIMED = "claimed", pgettext_lazy("task status", "Claimed")
    COMPLETED = "completed", pgettext_lazy("task status", "Completed")
    CANCELLED = "cancelled", pgettext_lazy("task status", "Cancelled")


class SlaStatus(models.TextChoices):
    ON_TIME = "on_time", _("On time")
    AT_RISK = "at_risk", _("At risk")
    BREACHED = "breached", _("Breached")


class QueueRole(models.TextChoices):
    """Who works a queue: a supervisor may also work caseworker queues."""

    CASEWORKER = "caseworker", _("Caseworker")
    SUPERVISOR = "supervisor", _("Supervisor")


class NotificationChannel(models.TextChoices):
    INBOX = "inbox", _("Portal inbox")
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("Text message (SMS)")
