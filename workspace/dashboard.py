"""The supervisor dashboard: per service of the agency, how the work is going.

Figures per service, over the last `days` days (backlog figures are as of now):

- backlog: cases not completed (running, waiting, needing attention) and open work items,
  with those past their SLA due date;
- throughput: cases completed in the period, and the median time from submission to
  completion;
- SLA: of the work items completed in the period, the share completed by their due date;
- automation: of the cases completed in the period, the share no person had to work on
  (no work item);
- overrides: of the automated decisions made in the period, the share a caseworker
  overrode;
- satisfaction: the answers applicants gave in the period to "how satisfied were you
  with this service?", and the share satisfied or very satisfied.

All counts are aggregates (no personal data), computed in the database; reading them
needs the supervisor's right to rebalance the agency's work (`work_item.assign`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from cases.choices import CaseStatus, WorkItemStatus
from cases.models import Case, CaseDecision, Service, WorkItem
from identity import policy
from identity.choices import Role
from identity.models import Agency, User
from portal.models import SatisfactionRating, SatisfactionResponse

SATISFIED = (SatisfactionRating.SATISFIED, SatisfactionRating.VERY_SATISFIED)


@dataclass(frozen=True)
class ServiceFigures:
    service: Service
    open_cases: int
    needs_attention: int
    open_items: int
    breached_items: int
    completed: int
    median_days: float | None
    items_completed: int
    items_on_time: int
    automated: int
    decisions: int
    overridden: int
    responses: int = 0
    satisfied: int = 0

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return round(100 * part / whole, 1) if whole else None

    @property
    def sla_percent(self) -> float | None:
        return self._share(self.items_on_time, self.items_completed)

    @property
    def automation_percent(self) -> float | None:
        return self._share(self.automated, self.completed)

    @property
    def override_percent(self) -> float | None:
        return self._share(self.overridden, self.decisions)

    @property
    def satisfaction_percent(self) -> float | None:
        return self._share(self.satisfied, self.responses)


def supervised_agencies(viewer: User) -> list[Agency]:
    ids = policy.agencies_where(viewer, Role.SUPERVISOR)
    return list(Agency.objects.filter(pk__in=ids).order_by("name"))


def service_figures(*, viewer: User, agency: Agency, days: int = 30) -> list[ServiceFigures]:
    policy.authorize(viewer, "work_item.assign", agency)
    now = timezone.now()
    since = now - timedelta(days=days)
    figures = []
    for service in Service.objects.filter(agency=agency).order_by("name"):
        cases = Case.objects.filter(service=service)
        backlog = cases.exclude(status=CaseStatus.COMPLETED).aggregate(
            open=Count("id"), attention=Count("id", filter=Q(status=CaseStatus.NEEDS_ATTENTION))
        )
        done = cases.filter(status=CaseStatus.COMPLETED, completed_at__gte=since)
        has_item = WorkItem.objects.filter(case=OuterRef("pk"))
        finished = done.aggregate(n=Count("id"), automated=Count("id", filter=~Q(Exists(has_item))))
        durations = [
            (completed - submitted).total_seconds() / 86400
            for submitted, completed in done.values_list("submitted_at", "completed_at")[:5000]
            if completed is not None
        ]
        items = WorkItem.objects.filter(case__service=service)
        open_items = items.filter(status__in=[WorkItemStatus.OPEN, WorkItemStatus.CLAIMED])
        closed = items.filter(status=WorkItemStatus.COMPLETED, completed_at__gte=since)
        decisions = CaseDecision.objects.filter(case__service=service, decided_at__gte=since)
        answers = SatisfactionResponse.objects.filter(
            case__service=service, created_at__gte=since
        ).aggregate(n=Count("id"), satisfied=Count("id", filter=Q(rating__in=SATISFIED)))
        figures.append(
            ServiceFigures(
                service=service,
                open_cases=backlog["open"],
                needs_attention=backlog["attention"],
                open_items=open_items.count(),
                breached_items=open_items.filter(due_at__lt=now).count(),
                completed=finished["n"],
                median_days=round(statistics.median(durations), 1) if durations else None,
                items_completed=closed.count(),
                items_on_time=closed.filter(completed_at__lte=F("due_at")).count(),
                automated=finished["automated"],
                decisions=decisions.count(),
                overridden=decisions.filter(overridden=True).count(),
                responses=answers["n"],
                satisfied=answers["satisfied"],
            )
        )
    return figures
