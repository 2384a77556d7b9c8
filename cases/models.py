"""Services (BPMN + DMN + form, versioned) and the cases that run them.

A `Service` is what a citizen applies for; each deploy adds a `ServiceVersion` holding the
process (BPMN XML as uploaded), the form (JSON Schema), the metadata of service.yaml and
the decision models its business rule tasks call (stored in the decisions app). A `Case` runs
on the version that was active when it was submitted, to the end. Its workflow state is the
SpiffWorkflow serialisation *without* the process definition (which is parsed once per
version and cached), compressed. `Case.agency` and `WorkItem.agency` repeat the service's
agency so that the policy and the queues filter without a join.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cases.choices import CaseStatus, NotificationChannel, QueueRole, WorkItemStatus
from decisions.models import DecisionEvaluation, DecisionModelVersion
from identity.models import Agency


class Service(models.Model):
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="services", verbose_name=_("agency")
    )
    code = models.SlugField(_("code"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True, default="")
    life_events = models.JSONField(_("life events"), default=list, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("service")
        verbose_name_plural = _("services")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class ServiceVersion(models.Model):
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, related_name="versions", verbose_name=_("service")
    )
    version = models.PositiveIntegerField(_("version"))
    process_id = models.CharField(_("BPMN process id"), max_length=200)
    bpmn_xml = models.TextField(_("BPMN XML"))
    form_schema = models.JSONField(_("application form (JSON Schema)"))
    task_forms = models.JSONField(
        _("user task forms"), default=dict, blank=True, help_text=_("form key -> JSON Schema")
    )
    metadata = models.JSONField(
        _("metadata"), default=dict, help_text=_("service.yaml: SLAs, queues, cost, ...")
    )
    decisions = models.JSONField(
        _("decisions called"),
        default=dict,
        help_text=_("decision reference -> {model_id, decision, version_id}"),
    )
    sha256 = models.CharField(_("SHA-256 of the definition"), max_length=64)
    activates_at = models.DateTimeField(_("activates at"))
    deployed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("deployed by"),
    )
    deployed_at = models.DateTimeField(_("deployed"), default=timezone.now)

    class Meta:
        verbose_name = _("service version")
        verbose_name_plural = _("service versions")
        ordering = ["service_id", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["service", "version"], name="cases_service_version_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["service", "activates_at"], name="cases_version_activation"),
        ]

    def __str__(self) -> str:
        return f"{self.service_id} v{self.version}"

    @property
    def agency_id(self) -> int:
        return self.service.agency_id


class Case(models.Model):
    reference = models.CharField(_("reference"), max_length=32, unique=True)
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, related_name="cases", verbose_name=_("service")
    )
    service_version = models.ForeignKey(
        ServiceVersion, on_delete=models.PROTECT, related_name="cases", verbose_name=_("version")
    )
    # agency and applicant: no index of their own, each leads a composite index below (every
    # index is one more page written per case)
    agency = models.ForeignKey(
        Agency,
        on_delete=models.PROTECT,
        related_name="cases",
        verbose_name=_("agency"),
        db_index=False,
    )
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="cases",
        verbose_name=_("applicant"),
        db_index=False,
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("submitted by"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=CaseStatus.choices, default=CaseStatus.RUNNING
    )
    data = models.JSONField(_("application data"))
    result = models.JSONField(
        _("workflow data"), default=dict, blank=True, help_text=_("The data when last saved.")
    )
    state = models.BinaryField(_("workflow state"), null=True, blank=True)
    revision = models.PositiveIntegerField(_("revision"), default=0)
    error = models.TextField(_("error"), blank=True, default="")
    error_element = models.CharField(_("failing element"), max_length=200, blank=True, default="")
    timer_due_at = models.DateTimeField(_("next timer due"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("submitted"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-submitted_at", "-id"]
        indexes = [
            models.Index(fields=["applicant", "submitted_at"], name="cases_case_applicant"),
            models.Index(fields=["agency", "status"], name="cases_case_agency_status"),
            models.Index(fields=["timer_due_at"], name="cases_case_timer_due"),
        ]

    def __str__(self) -> str:
        return self.reference


class CaseDecision(models.Model):
    """An automated decision a business rule task made, as the decisions app recorded it."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="decisions")
    element_id = models.CharField(_("BPMN element"), max_length=200)
    evaluation = models.ForeignKey(DecisionEvaluation, on_delete=models.PROTECT, related_name="+")
    model_version = models.ForeignKey(  # indexed by cases_decision_version, which it leads
        DecisionModelVersion, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    decision = models.CharField(_("decision"), max_length=200)
    outputs = models.JSONField(_("outputs"))
    explanation = models.TextField(_("explanation"), blank=True, default="")
    decided_at = models.DateTimeField(_("decided"), default=timezone.now)
    overridden = models.BooleanField(_("overridden"), default=False)

    class Meta:
        verbose_name = _("case decision")
        verbose_name_plural = _("case decisions")
        ordering = ["case_id", "id"]
        indexes = [
            models.Index(fields=["model_version", "overridden"], name="cases_decision_version"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} on case {self.case_id}"

    @property
    def agency_id(self) -> int:
        return self.case.agency_id


class CaseDecisionOverride(models.Model):
    decision = models.ForeignKey(CaseDecision, on_delete=models.CASCADE, related_name="overrides")
    outcome = models.JSONField(_("outcome"))
    reason = models.TextField(_("reason"))
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("overridden"), default=timezone.now)

    class Meta:
        verbose_name = _("decision override")
        verbose_name_plural = _("decision overrides")
        ordering = ["decision_id", "id"]

    def __str__(self) -> str:
        return f"override of decision {self.decision_id}"


class WorkItem(models.Model):
    """A user task waiting for a person, in a queue, with an SLA."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="work_items")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="work_items")
    task_id = models.UUIDField(_("workflow task id"))
    element_id = models.CharField(_("BPMN element"), max_length=200)
    name = models.CharField(_("name"), max_length=200)
    queue = models.CharField(_("queue"), max_length=80)
    role = models.CharField(_("role"), max_length=20, choices=QueueRole.choices)
    priority = models.PositiveSmallIntegerField(_("priority"), default=50)
    form_key = models.CharField(_("form"), max_length=80, blank=True, default="")
    status = models.CharField(
        _("status"), max_length=20, choices=WorkItemStatus.choices, default=WorkItemStatus.OPEN
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="work_items",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    at_risk_at = models.DateTimeField(_("at risk from"))
    due_at = models.DateTimeField(_("due"))
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    data = models.JSONField(_("completion data"), default=dict, blank=True)

    class Meta:
        verbose_name = _("work item")
        verbose_name_plural = _("work items")
        ordering = ["due_at", "-priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "task_id"], name="cases_work_item_task"),
        ]
        indexes = [
            models.Index(fields=["agency", "status", "queue", "due_at"], name="cases_item_queue"),
            models.Index(fields=["assignee", "status"], name="cases_item_assignee"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.queue})"


class CaseEvent(models.Model):
    """One activity of one case: the event log process mining reads (case, activity, times,
    resource)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    activity = models.CharField(_("activity"), max_length=200)
    element_id = models.CharField(_("BPMN element"), max_length=200)
    kind = models.CharField(_("kind"), max_length=40)
    started_at = models.DateTimeField(_("started"))
    ended_at = models.DateTimeField(_("ended"))
    resource = models.CharField(_("resource"), max_length=150)

    class Meta:
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        ordering = ["case_id", "ended_at", "id"]

    def __str__(self) -> str:
        return f"{self.activity} on case {self.case_id}"


class Notification(models.Model):
    """An outbound message the `notify` connector wrote (and, for e-mail, sent)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notifications")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    channel = models.CharField(_("channel"), max_length=20, choices=NotificationChannel.choices)
    template = models.CharField(_("template"), max_length=80, blank=True, default="")
    subject = models.CharField(_("subject"), max_length=300)
    body = models.TextField(_("body"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    not_sent_reason = models.CharField(
        _("why it was not sent"),
        max_length=300,
        blank=True,
        default="",
        help_text=_(
            "An e-mail or SMS that could not go (no address, refused): it stays in the inbox."
        ),
    )

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["case_id", "id"]

    def __str__(self) -> str:
        return self.subject


class EmittedEvent(models.Model):
    """A domain event a process emitted (`emit_event`), for subscribers to pick up."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="emitted_events")
    name = models.CharField(_("event"), max_length=120)
    payload = models.JSONField(_("payload"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("emitted event")
        verbose_name_plural = _("emitted events")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class CaseMessage(models.Model):
    """One message of a case's conversation between its applicant and the agency's staff.

    `read_at` is when the other side first saw it: the citizen for a staff message, any
    member of staff for the citizen's."""

    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, related_name="messages", verbose_name=_("case")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("author"),
    )
    from_citizen = models.BooleanField(_("from the applicant"))
    body = models.TextField(_("message"), max_length=5_000)
    created_at = models.DateTimeField(_("sent"), default=timezone.now)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        verbose_name = _("case message")
        verbose_name_plural = _("case messages")
        ordering = ["case_id", "created_at", "id"]
        indexes = [
            models.Index(fields=["case", "from_citizen", "read_at"], name="cases_message_unread"),
        ]

    def __str__(self) -> str:
        return f"message {self.pk} on case {self.case_id}"
