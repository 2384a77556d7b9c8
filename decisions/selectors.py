"""Reads of the decisions app. Each selector authorises its viewer itself.

The active version at a moment is the one whose activation date is the latest among those
not after that moment (ties: the higher version number): each scheduled activation takes
effect at its date, and a superseded version stays in history to explain what it decided.
"""

from datetime import UTC, datetime

from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.utils import timezone

from core import audit
from decisions.choices import VersionState
from decisions.errors import DecisionModelNotFound, DecisionVersionNotFound
from decisions.models import DecisionEvaluation, DecisionModel, DecisionModelVersion
from identity import policy
from identity.models import Agency, User


def in_utc(moment: datetime) -> datetime:
    """A moment in UTC (naive ones are taken as UTC), clamped to the representable calendar,
    so odd offsets at the ends of time never reach the database."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        edge = datetime.max if moment.year > 1 else datetime.min
        return edge.replace(tzinfo=UTC)


def decision_model_list(*, viewer: User, agency: Agency) -> QuerySet[DecisionModel]:
    policy.authorize(viewer, "decision_model.view", agency)
    return DecisionModel.objects.filter(agency=agency).select_related("agency").order_by("key")


def decision_model_get(*, viewer: User, agency: Agency, key: str) -> DecisionModel:
    """One model of an agency; the agency is checked first, so a refusal reveals nothing."""
    policy.authorize(viewer, "decision_model.view", agency)
    model = DecisionModel.objects.select_related("agency").filter(agency=agency, key=key).first()
    if model is None:
        raise DecisionModelNotFound(f"{agency.code} has no decision model {key!r}.")
    return model


def decision_model_version_list(
    *, viewer: User, model: DecisionModel
) -> QuerySet[DecisionModelVersion]:
    """Every version, newest upload first (history included)."""
    policy.authorize(viewer, "decision_model.view", model)
    active = decision_model_version_active_at(model=model)
    return (
        DecisionModelVersion.objects.filter(model=model)
        .select_related("model", "uploaded_by")
        .defer("dmn_xml")
        .annotate(
            is_current=ExpressionWrapper(
                Q(pk=active.pk if active else None), output_field=BooleanField()
            )
        )
        .order_by("-version")
    )


def decision_model_version_get(
    *, viewer: User, model: DecisionModel, version: int
) -> DecisionModelVersion:
    policy.authorize(viewer, "decision_model.view", model)
    found = (
        DecisionModelVersion.objects.select_related("model__agency", "uploaded_by")
        .filter(model=model, version=version)
        .first()
    )
    if found is None:
        raise DecisionVersionNotFound(f"{model.key!r} has no version {version}.")
    active = decision_model_version_active_at(model=model)
    found.is_current = active is not None and active.pk == found.pk  # type: ignore[attr-defined]
    return found


def version_state(version: DecisionModelVersion) -> VersionState:
    """Draft, scheduled, active or superseded, now. `is_current` is set by the selectors
    above (whether it is the active version); without it a passed activation is history."""
    if version.activates_at is None:
        return VersionState.DRAFT
    if version.activates_at > timezone.now():
        return VersionState.SCHEDULED
    if getattr(version, "is_current", False):
        return VersionState.ACTIVE
    return VersionState.SUPERSEDED


def decision_model_version_active_at(
    *, model: DecisionModel, at: datetime | None = None
) -> DecisionModelVersion | None:
    """The version deciding at `at` (default now), or None. Not authorised: for services."""
    moment = timezone.now() if at is None else in_utc(at)
    return (
        DecisionModelVersion.objects.select_related("model__agency")
        .filter(model=model, activates_at__isnull=False, activates_at__lte=moment)
        .order_by("-activates_at", "-version")
        .first()
    )


def decision_model_version_active(
    *, viewer: User, model: DecisionModel, at: datetime | None = None
) -> DecisionModelVersion | None:
    policy.authorize(viewer, "decision_model.view", model)
    return decision_model_version_active_at(model=model, at=at)


def decision_evaluation_list(
    *,
    viewer: User,
    model: DecisionModel,
    subject_person: str | None = None,
    case_ref: str | None = None,
    since: datetime | None = None,
) -> QuerySet[DecisionEvaluation]:
    """A model's recorded evaluations, newest first. Reading a page is audited (see below)."""
    policy.authorize(viewer, "decision_model.view", model)
    qs = DecisionEvaluation.objects.filter(version__model=model).select_related(
        "version__model__agency"
    )
    if subject_person is not None:
        qs = qs.filter(subject_person=subject_person)
    if case_ref is not None:
        qs = qs.filter(case_ref=case_ref)
    if since is not None:
        qs = qs.filter(evaluated_at__gte=in_utc(since))
    return qs.order_by("-evaluated_at", "-id")


def decision_evaluations_read(
    *, viewer: User, evaluations: list[DecisionEvaluation], purpose: str
) -> list[DecisionEvaluation]:
    """Mark a page of evaluations as read: those about a person go in that person's trail."""
    for evaluation in evaluations:
        if evaluation.subject_person:
            audit.record(
                actor=viewer,
                action="decision_evaluation.read",
                subject_person=evaluation.subject_person,
                target=evaluation,
                purpose=purpose,
                agency=evaluation.version.model.agency.code,
            )
    return evaluations
