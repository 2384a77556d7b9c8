from django.db import models
from django.utils.translation import gettext_lazy as _


class ProviderKind(models.TextChoices):
    INTERNAL = "internal", _("Data held in CivicStack")
    HTTP = "http", _("The agency's own system (HTTP)")


class MessageKind(models.TextChoices):
    REQUEST = "request", _("Request")
    RESPONSE = "response", _("Response")
    DENIED = "denied", _("Denied")
    FAILED = "failed", _("Failed")
