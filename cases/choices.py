"""Fixed vocabularies of the cases app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CaseStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    WAITING = "waiting", _("Waiting (for a person or a timer)")
    NEEDS_ATTENTION = "needs_attention", _("Needs attention")
    COMPLETED = "completed", _("Completed")


class WorkItemStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLAIMED = "claimed", _("Claimed")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


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
