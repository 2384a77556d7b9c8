"""Decision models as analysts upload them: versions with activation dates, and evaluations.

A `DecisionModel` is an agency's named rule set (for example "benefit-eligibility"). Each
upload adds a `DecisionModelVersion` holding the DMN XML exactly as uploaded, never edited
afterwards. A version becomes active at its `activates_at`; the active version at a moment is
the latest-activating one whose date has passed, so a superseded version stays in history and
can still explain the decisions it made. Every evaluation through the services is recorded as
a `DecisionEvaluation` with its inputs (tagged JSON, see `decisions.values`) so that a
candidate version can be simulated over them.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from identity.models import Agency


class DecisionModel(models.Model):
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="decision_models", verbose_name=_("agency")
    )
    key = models.SlugField(
        _("key"), max_length=80, help_text=_("Stable identifier within the agency, used in URLs.")
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="")
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("decision model")
        verbose_name_plural = _("decision models")
        ordering = ["agency_id", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "key"], name="decisions_model_unique_key_per_agency"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agency_id}:{self.key}"


class DecisionModelVersion(models.Model):
    model = models.ForeignKey(
        DecisionModel,
        on_delete=models.PROTECT,
        related_name="versions",
        verbose_name=_("decision model"),
    )
    version = models.PositiveIntegerField(_("version"))
    dmn_xml = models.TextField(_("DMN XML"))
    sha256 = models.CharField(_("SHA-256 of the XML"), max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    uploaded_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    activates_at = models.DateTimeField(
        _("activates at"),
        null=True,
        blank=True,
        help_text=_("When this version starts deciding; empty for a draft."),
    )
    notes = models.TextField(_("notes"), blank=True, default="")

    class Meta:
        verbose_name = _("decision model version")
        verbose_name_plural = _("decision model versions")
        ordering = ["model_id", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "version"], name="decisions_version_unique_per_model"
            ),
            models.CheckConstraint(
                condition=models.Q(version__gte=1), name="decisions_version_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["model", "activates_at"], name="decisions_version_activation"),
        ]

    def __str__(self) -> str:
        return f"{self.model_id} v{self.version}"


class DecisionEvaluation(models.Model):
    """One evaluation as it happened: the replayable record simulation runs over."""

    version = models.ForeignKey(  # indexed by decisions_eval_version, which it leads
        DecisionModelVersion,
        on_delete=models.PROTECT,
        related_name="evaluations",
        verbose_name=_("version used"),
        db_index=False,
    )
    decision = models.CharField(_("decision"), max_length=200)
    inputs = models.JSONField(_("inputs"), help_text=_("Tagged JSON FEEL values."))
    outputs = models.JSONField(
        _("outputs"), help_text=_("The decision's result, as tagged JSON FEEL values.")
    )
    trace = models.JSONField(_("trace"), default=dict)
    explanation = models.TextField(_("explanation"), blank=True, default="")
    evaluated_at = models.DateTimeField(_("evaluated"), default=timezone.now)
    actor_id = models.BigIntegerField(_("actor id"), null=True, blank=True)
    actor_label = models.CharField(_("actor"), max_length=150)
    purpose = models.CharField(_("purpose"), max_length=200)
    subject_person = models.CharField(_("subject person"), max_length=100, null=True, blank=True)
    case_ref = models.CharField(_("case reference"), max_length=100, null=True, blank=True)

    class Meta:
        verbose_name = _("decision evaluation")
        verbose_name_plural = _("decision evaluations")
        ordering = ["-evaluated_at", "-id"]
        indexes = [
            models.Index(fields=["version", "id"], name="decisions_eval_version"),
            models.Index(fields=["evaluated_at"], name="decisions_eval_at"),
            models.Index(fields=["subject_person"], name="decisions_eval_subject"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} @ {self.evaluated_at:%Y-%m-%d %H:%M}"
