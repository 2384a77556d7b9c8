"""What the citizen portal keeps of its own: application drafts and their documents, and
what citizens said of a service once their case was completed.

A draft is saved on the server at every page of an application, even when the page had
errors (what was typed is kept as typed), so a closed browser or an expired session loses
nothing. Once submitted, the draft keeps the case reference and is no longer editable.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.models import Case, Service, ServiceVersion


class ApplicationDraft(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="application_drafts",
        verbose_name=_("applicant"),
    )
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, related_name="+", verbose_name=_("service")
    )
    version = models.ForeignKey(
        ServiceVersion, on_delete=models.CASCADE, related_name="+", verbose_name=_("version")
    )
    data = models.JSONField(
        _("answers as typed"), default=dict, blank=True, help_text=_("field -> text as typed")
    )
    prefill = models.JSONField(
        _("pre-filled facts"),
        default=dict,
        blank=True,
        help_text=_("field -> {value, agency, agency_name, record, updated_at}"),
    )
    current_step = models.CharField(_("current step"), max_length=100, blank=True, default="")
    created_at = models.DateTimeField(_("started"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    case_reference = models.CharField(_("case reference"), max_length=32, blank=True, default="")

    class Meta:
        verbose_name = _("application draft")
        verbose_name_plural = _("application drafts")
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["applicant", "submitted_at"], name="portal_draft_applicant"),
        ]

    def __str__(self) -> str:
        return f"{self.service_id} draft {self.pk}"


def _document_path(instance: "ApplicationDocument", filename: str) -> str:
    # never the name the citizen gave: it is kept in `name` only
    return f"portal/documents/{instance.draft_id}/{instance.pk}"


class ApplicationDocument(models.Model):
    """A file a citizen attached to an application (a schema field with `format: binary`).

    The application's data holds the document's id for that field."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    draft = models.ForeignKey(ApplicationDraft, on_delete=models.CASCADE, related_name="documents")
    field = models.CharField(_("form field"), max_length=100)
    file = models.FileField(_("file"), upload_to=_document_path, max_length=300)
    name = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("type"), max_length=100)
    size = models.PositiveIntegerField(_("size in bytes"))
    uploaded_at = models.DateTimeField(_("uploaded"), default=timezone.now)

    class Meta:
        verbose_name = _("application document")
        verbose_name_plural = _("application documents")
        ordering = ["draft_id", "uploaded_at"]

    def __str__(self) -> str:
        return self.name


class SatisfactionRating(models.IntegerChoices):
    VERY_SATISFIED = 5, _("Very satisfied")
    SATISFIED = 4, _("Satisfied")
    NEITHER = 3, _("Neither satisfied nor dissatisfied")
    DISSATISFIED = 2, _("Dissatisfied")
    VERY_DISSATISFIED = 1, _("Very dissatisfied")


class SatisfactionResponse(models.Model):
    """How satisfied the applicant was with the service that handled a case: asked once,
    after the case is completed (the "user satisfaction" KPI)."""

    case = models.OneToOneField(
        Case, on_delete=models.CASCADE, related_name="satisfaction", verbose_name=_("case")
    )
    rating = models.PositiveSmallIntegerField(_("rating"), choices=SatisfactionRating.choices)
    comment = models.TextField(_("comment"), max_length=1_200, blank=True, default="")
    created_at = models.DateTimeField(_("answered"), default=timezone.now)

    class Meta:
        verbose_name = _("satisfaction response")
        verbose_name_plural = _("satisfaction responses")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating__gte=1, rating__lte=5), name="portal_satisfaction_rating"
            ),
        ]
        indexes = [models.Index(fields=["created_at"], name="portal_satisfaction_created")]

    def __str__(self) -> str:
        return f"{self.rating} on case {self.case_id}"
