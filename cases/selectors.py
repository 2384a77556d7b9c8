"""Reads of the cases app. Each selector taking a `viewer` authorises it itself.

Staff see the services, cases and work items of the agencies where they hold a role that
works cases; a citizen sees their own cases. Reading a case (personal data) is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import (
    Case as When_,
)
from django.db.models import (
    CharField,
    Count,
    F,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from cases.choices import CaseStatus, SlaStatus, WorkItemStatus
from cases.errors import (
    CaseDecisionNotFound,
    CaseNotFound,
    ServiceNotActive,
    ServiceNotFound,
    WorkItemNotFound,
)
from cases.models import Case, CaseDecision, CaseEvent, Service, ServiceVersion, WorkItem
from core import audit
from identity import policy
from identity.choices import Role, UserKind
from identity.models import Agency, User

CASE_ROLES = (Role.CASEWORKER, Role.SUPERVISOR, Role.POLICY_ANALYST)
WORK_ROLES = (Role.CASEWORKER, Role.SUPERVISOR)


# --- services -----------------------------------------------------------------------------


def service_list(*, viewer: User) -> QuerySet[Service]:
    policy.authorize(viewer, "service.view", policy.ANY_OBJECT)
    services = Service.objects.select_related("agency").order_by("code")
    if policy.is_platform_admin(viewer):
        return services
    agencies = policy.agencies_where(
        viewer, Role.POLICY_ANALYST, Role.CASEWORKER, Role.SUPERVISOR, Role.AGENCY_ADMIN
    )
    return services.filter(agency_id__in=agencies)


def service_get(*, viewer: User, code: str) -> Service:
    """A service for its staff (service.view)."""
    service = Service.objects.select_related("agency").filter(code=code).first()
    if service is None:
        raise ServiceNotFound(f"There is no service {code!r}.")
    policy.authorize(viewer, "service.view", service)
    return service


def service_for_applicant(*, viewer: User, code: str) -> Service:
    """A service someone may apply for (case.submit): what a citizen sees."""
    service = Service.objects.select_related("agency").filter(code=code).first()
    if service is None:
        raise ServiceNotFound(f"There is no service {code!r}.")
    policy.authorize(viewer, "case.submit", service)
    return service


def service_version_active_at(*, service: Service, at: datetime | None = None) -> ServiceVersion:
    """The version new cases start on: the latest-activating one whose date has passed."""
    moment = at or timezone.now()
    version = (
        ServiceVersion.objects.filter(service=service, activates_at__lte=moment)
        .order_by("-activates_at", "-version")
        .first()
    )
    if version is None:
        raise ServiceNotActive(f"No version of {service.code!r} is active at {moment.isoformat()}.")
    version.service = service
    return version


def service_version_list(*, viewer: User, service: Service) -> QuerySet[ServiceVersion]:
    policy.authorize(viewer, "service.view", service)
    return (
        ServiceVersion.objects.filter(service=service)
        .defer("bpmn_xml")
        .select_related("deployed_by")
        .order_by("-version")
    )


# --- cases --------------------------------------------------------------------------------


def _visible_cases(viewer: User) -> QuerySet[Case]:
    policy.authorize(viewer, "case.view", policy.ANY_OBJECT)
    cases = Case.objects.select_related("service", "agency")
    if viewer.kind == UserKind.CITIZEN:
        return cases.filter(applicant=viewer)
    if policy.is_platform_admin(viewer):
        return cases
    return cases.filter(agency_id__in=policy.agencies_where(viewer, *CASE_ROLES))


def case_list(
    *, viewer: User, status: str | None = None, service: str | None = None
) -> QuerySet[Case]:
    cases = _visible_cases(viewer).defer("state", "result")
    if status:
        cases = cases.filter(status=status)
    if service:
        cases = cases.filter(service__code=service)
    return cases.order_by("-submitted_at", "-id")


def case_get(*, viewer: User, reference: str, purpose: str = "case view") -> Case:
    """One case by reference; a case the viewer may not see is "not found" to them."""
    case = (
        Case.objects.select_related("service", "agency", "service_version")
        .defer("state")
        .filter(reference=reference)
        .first()
    )
    if case is None or not policy.can(viewer, "case.view", case):
        raise CaseNotFound(f"There is no case {reference!r} you can see.")
    # Recorded under the applicant's person, so they see who opened their case.
    from registry.services.citizens import citizen_person

    person = citizen_person(user=case.applicant)
    audit.record(
        actor=viewer,
        action="case.view",
        subject_person=person.pk if person else None,
        target=case,
        purpose=purpose,
        agency=case.agency.code,
        data={"reference": case.reference},
    )
    return case


def case_events(*, viewer: User, case: Case) -> QuerySet[CaseEvent]:
    """What happened on the case, step by step, in order (the case's event log)."""
    policy.authorize(viewer, "case.view", case)
    return CaseEvent.objects.filter(case=case).order_by("ended_at", "id")


def case_decisions(*, viewer: User, case: Case) -> QuerySet[CaseDecision]:
    policy.authorize(viewer, "case.view", case)
    return (
        CaseDecision.objects.filter(case=case)
        .select_related("model_version__model")
        .prefetch_related("overrides")
        .order_by("id")
    )


def case_decision_get(*, viewer: User, case: Case, decision_id: int) -> CaseDecision:
    policy.authorize(viewer, "case.view", case)
    found = CaseDecision.objects.select_related("case").filter(case=case, pk=decision_id).first()
    if found is None:
        raise CaseDecisionNotFound(f"Case {case.reference} has no decision {decision_id}.")
    return found


# --- work items ---------------------------------------------------------------------------


def _sla_status(now: datetime) -> When_:
    return When_(
        When(
            status=WorkItemStatus.COMPLETED,
            completed_at__gt=F("due_at"),
            then=Value(SlaStatus.BREACHED.value),
        ),
        When(status=WorkItemStatus.COMPLETED, then=Value(SlaStatus.ON_TIME.value)),
        When(due_at__lte=now, then=Value(SlaStatus.BREACHED.value)),
        When(at_risk_at__lte=now, then=Value(SlaStatus.AT_RISK.value)),
        default=Value(SlaStatus.ON_TIME.value),
        output_field=CharField(),
    )


def work_item_list(
    *,
    viewer: User,
    agency: Agency | None = None,
    queue: str | None = None,
    role: str | None = None,
    status: str | None = None,
    sla_status: str | None = None,
    min_priority: int | None = None,
    due_before: datetime | None = None,
    assignee: User | None = None,
) -> QuerySet[WorkItem]:
    """Work items of the viewer's agencies, most urgent first, each with its SLA status.

    Open and claimed items unless `status` says otherwise.
    """
    policy.authorize(viewer, "work_item.work", agency if agency else policy.ANY_OBJECT)
    items = WorkItem.objects.select_related("case", "assignee", "agency").annotate(
        sla_status=_sla_status(timezone.now())
    )
    if agency is not None:
        items = items.filter(agency=agency)
    else:
        items = items.filter(agency_id__in=policy.agencies_where(viewer, *WORK_ROLES))
    if status:
        items = items.filter(status=status)
    else:
        items = items.filter(status__in=[WorkItemStatus.OPEN, WorkItemStatus.CLAIMED])
    if queue:
        items = items.filter(queue=queue)
    if role:
        items = items.filter(role=role)
    if sla_status:
        items = items.filter(sla_status=sla_status)
    if min_priority is not None:
        items = items.filter(priority__gte=min_priority)
    if due_before is not None:
        items = items.filter(due_at__lt=due_before)
    if assignee is not None:
        items = items.filter(assignee=assignee)
    return items.order_by("due_at", "-priority", "id")


def work_item_get(*, viewer: User, item_id: int) -> WorkItem:
    item = (
        WorkItem.objects.select_related("case", "agency", "assignee")
        .annotate(sla_status=_sla_status(timezone.now()))
        .filter(pk=item_id)
        .first()
    )
    if item is None or not policy.can(viewer, "work_item.work", item):
        raise WorkItemNotFound(f"There is no work item {item_id} you can work on.")
    return item


@dataclass(frozen=True)
class QueueLoad:
    queue: str
    open: int
    claimed: int
    at_risk: int
    breached: int


def queue_load(*, viewer: User, agency: Agency) -> list[QueueLoad]:
    """Backlog per queue with its SLA picture, for supervisors rebalancing work."""
    policy.authorize(viewer, "work_item.assign", agency)
    rows = (
        WorkItem.objects.filter(
            agency=agency, status__in=[WorkItemStatus.OPEN, WorkItemStatus.CLAIMED]
        )
        .annotate(sla=_sla_status(timezone.now()))
        .values("queue")
        .annotate(
            open=Count("id", filter=Q(status=WorkItemStatus.OPEN)),
            claimed=Count("id", filter=Q(status=WorkItemStatus.CLAIMED)),
            at_risk=Count("id", filter=Q(sla=SlaStatus.AT_RISK.value)),
            breached=Count("id", filter=Q(sla=SlaStatus.BREACHED.value)),
        )
        .order_by("queue")
    )
    return [QueueLoad(**row) for row in rows]


# --- decisions and overrides -------------------------------------------------------------


@dataclass(frozen=True)
class OverrideRate:
    model: str
    version: int
    decisions: int
    overridden: int

    @property
    def rate(self) -> float:
        return self.overridden / self.decisions if self.decisions else 0.0


def decision_override_rates(*, viewer: User, agency: Agency) -> list[OverrideRate]:
    """How often caseworkers overrode automated decisions, per decision model version."""
    policy.authorize(viewer, "decision.simulate", agency)
    rows = (
        CaseDecision.objects.filter(case__agency=agency)
        .values("model_version__model__key", "model_version__version")
        .annotate(decisions=Count("id"), overridden=Count("id", filter=Q(overridden=True)))
        .order_by("model_version__model__key", "model_version__version")
    )
    return [
        OverrideRate(
            model=row["model_version__model__key"],
            version=row["model_version__version"],
            decisions=row["decisions"],
            overridden=row["overridden"],
        )
        for row in rows
    ]


def case_counts(*, viewer: User, agency: Agency) -> dict[str, Any]:
    """Cases by status in an agency (supervisor's backlog figure)."""
    policy.authorize(viewer, "work_item.assign", agency)
    rows = Case.objects.filter(agency=agency).values("status").annotate(n=Count("id"))
    counts = dict.fromkeys(CaseStatus.values, 0)
    counts.update({row["status"]: row["n"] for row in rows})
    return counts


@dataclass(frozen=True)
class PersonLoad:
    username: str
    name: str
    claimed: int
    at_risk: int
    breached: int


def assignee_load(*, viewer: User, agency: Agency) -> list[PersonLoad]:
    """Claimed items per person in an agency, with their SLA picture (supervisors)."""
    policy.authorize(viewer, "work_item.assign", agency)
    rows = (
        WorkItem.objects.filter(agency=agency, status=WorkItemStatus.CLAIMED)
        .annotate(sla=_sla_status(timezone.now()))
        .values("assignee__username", "assignee__first_name", "assignee__last_name")
        .annotate(
            claimed=Count("id"),
            at_risk=Count("id", filter=Q(sla=SlaStatus.AT_RISK.value)),
            breached=Count("id", filter=Q(sla=SlaStatus.BREACHED.value)),
        )
        .order_by("-claimed", "assignee__username")
    )
    return [
        PersonLoad(
            username=row["assignee__username"],
            name=f"{row['assignee__first_name']} {row['assignee__last_name']}".strip(),
            claimed=row["claimed"],
            at_risk=row["at_risk"],
            breached=row["breached"],
        )
        for row in rows
    ]


def work_item_assignees(*, viewer: User, agency: Agency) -> QuerySet[User]:
    """Who a supervisor may give the agency's work to: its caseworkers and supervisors."""
    policy.authorize(viewer, "work_item.assign", agency)
    return (
        User.objects.filter(
            is_active=True,
            role_assignments__agency=agency,
            role_assignments__role__in=[r.value for r in WORK_ROLES],
        )
        .distinct()
        .order_by("username")
    )


def work_item_queues(*, viewer: User) -> list[str]:
    """The queue names of the viewer's agencies that hold open or claimed work."""
    policy.authorize(viewer, "work_item.work", policy.ANY_OBJECT)
    return list(
        WorkItem.objects.filter(
            agency_id__in=policy.agencies_where(viewer, *WORK_ROLES),
            status__in=[WorkItemStatus.OPEN, WorkItemStatus.CLAIMED],
        )
        .values_list("queue", flat=True)
        .distinct()
        .order_by("queue")
    )
