from django.db import models
from django.utils.translation import gettext_lazy as _


class LawfulBasis(models.TextChoices):
    """Why data may move (GDPR art. 6 terms, as the GovStack Consent BB names them)."""

    CONSENT = "consent", _("Consent")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation")
    PUBLIC_TASK = "public_task", _("Public task")
    VITAL_INTEREST = "vital_interest", _("Vital interest")
    CONTRACT = "contract", _("Contract")
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest")


class ConsentState(models.TextChoices):
    GIVEN = "given", _("Given")
    REFUSED = "refused", _("Refused")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class ConsentChannel(models.TextChoices):
    PORTAL = "portal", _("Citizen portal")
    API = "api", _("API")
    GOVSTACK = "govstack", _("GovStack Consent API")
    STAFF = "staff", _("Recorded by staff")
