from django.db import models
from django.utils.translation import gettext_lazy as _


class Sex(models.TextChoices):
    """Sex as source systems record it; blank when the source did not say."""

    FEMALE = "F", _("Female")
    MALE = "M", _("Male")
    OTHER = "X", _("Other or unspecified")
    __empty__ = _("Not recorded")
