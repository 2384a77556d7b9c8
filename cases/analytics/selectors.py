"""Reads behind process analytics: a service's event log, cases and work items.

Every selector authorises `service.view` on the service (staff of its agency). The figures
are aggregates and name nobody; the event log export names cases and the staff who worked
them, so it is recorded in the audit trail as an export.

Filters: `version` (a service version number) narrows to the cases that ran on it; a date
range (`date_from`, `date_to`, both inclusive, in the site's time zone) narrows to the cases
submitted in it and, for SLA figures, to the work items created in it. The backlog is always
the backlog now.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pandas as pd
from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone

from cases.analytics import compute, eventlog
from cases.analytics.eventlog import ExportRow
from cases.choices import CaseStatus, WorkItemStatus
from cases.models import Case, CaseEvent, Service, WorkItem
from core import audit
from core.errors import ValidationFailed
from identity import policy
from identity.models import User

CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Window:
    """Which part of a service's history the figures cover."""

    version: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValidationFailed(
                "The start of the period is after its end.",
                errors={"date_to": ["must be on or after the start date"]},
            )
        if self.version is not None and self.version < 1:
            raise ValidationFailed(
                "Versions are numbered from 1.", errors={"version": ["must be 1 or more"]}
            )

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        zone = timezone.get_current_timezone()
        start = datetime.combine(self.date_from, time.min, zone) if self.date_from else None
        end = (
            datetime.combine(self.date_to + timedelta(days=1), time.min, zone)
            if self.date_to
            else None
        )
        return start, end

    def as_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
        }


def _cases(service: Service, window: Window) -> QuerySet[Case]:
    cases = Case.objects.filter(service=service)
    if window.version is not None:
        cases = cases.filter(service_version__version=window.version)
    start, end = window.bounds()
    if start is not None:
        cases = cases.filter(submitted_at__gte=start)
    if end is not None:
        cases = cases.filter(submitted_at__lt=end)
    return cases


def _events(service: Service, window: Window) -> QuerySet[CaseEvent]:
    return CaseEvent.objects.filter(case__in=_cases(service, window)).order_by(
        "case_id", "ended_at", "id"
    )


# --- the event log ------------------------------------------------------------------------


@dataclass(frozen=True)
class EventLogExport:
    fmt: str
    filename: str
    content_type: str
    events: int
    chunks: Iterator[str]


def event_log_export(
    *, viewer: User, service: Service, fmt: str, window: Window | None = None
) -> EventLogExport:
    """The service's event log as CSV or XES text chunks, recorded as an export."""
    policy.authorize(viewer, "service.view", service)
    if fmt not in eventlog.FORMATS:
        raise ValidationFailed(
            f"Unknown format {fmt!r}.", errors={"format": ["must be csv or xes"]}
        )
    window = window or Window()
    events = _events(service, window)
    count = events.count()
    audit.record(
        actor=viewer,
        action="case_event_log.export",
        target=service,
        purpose="process mining",
        agency=service.agency.code,
        data={"format": fmt, "events": count, **window.as_dict()},
    )
    rows = (
        ExportRow(
            case=reference,
            activity=activity,
            started_at=started,
            ended_at=ended,
            resource=resource,
            service=service.code,
            version=version,
        )
        for reference, activity, started, ended, resource, version in events.values_list(
            "case__reference",
            "activity",
            "started_at",
            "ended_at",
            "resource",
            "case__service_version__version",
        ).iterator(chunk_size=CHUNK)
    )
    suffix = f"-v{window.version}" if window.version else ""
    return EventLogExport(
        fmt=fmt,
        filename=f"{service.code}{suffix}-event-log.{fmt}",
        content_type=eventlog.FORMATS[fmt],
        events=count,
        chunks=eventlog.chunks(rows, fmt=fmt, name=service.name),
    )


# --- figures ------------------------------------------------------------------------------


def _frame(rows: QuerySet[Any], columns: list[str], times: tuple[str, ...]) -> pd.DataFrame:
    """The rows of a `values_list` query as a frame, read with the database's own cursor:
    no model instances and no per-value conversion. Times become naive UTC in one
    vectorised step (SQLite gives ISO text, PostgreSQL aware datetimes; both are UTC)."""
    sql, params = rows.query.sql_with_params()
    with connections[rows.db].cursor() as cursor:
        cursor.execute(sql, params)
        data = cursor.fetchall()
    frame = pd.DataFrame.from_records(data, columns=columns)
    for name in times:
        parsed = pd.to_datetime(frame[name], utc=True, format="ISO8601")
        frame[name] = parsed.dt.tz_localize(None).astype("datetime64[us]")
    return frame


def service_dfg(*, viewer: User, service: Service, window: Window | None = None) -> compute.Dfg:
    policy.authorize(viewer, "service.view", service)
    columns = ["case_id", "activity", "started_at", "ended_at"]
    rows = _events(service, window or Window()).values_list(*columns)
    return compute.directly_follows_frame(_frame(rows, columns, ("started_at", "ended_at")))


def service_throughput(
    *, viewer: User, service: Service, window: Window | None = None
) -> list[compute.ThroughputRow]:
    policy.authorize(viewer, "service.view", service)
    rows = (
        _cases(service, window or Window())
        .filter(status=CaseStatus.COMPLETED, completed_at__isnull=False)
        .values_list("pk", "service_version__version", "submitted_at", "completed_at")
    )
    return compute.throughput(
        compute.CaseSpan(str(pk), version, submitted, completed)
        for pk, version, submitted, completed in rows.iterator(chunk_size=CHUNK)
    )


def _items(service: Service, window: Window) -> QuerySet[WorkItem]:
    items = WorkItem.objects.filter(case__service=service).exclude(status=WorkItemStatus.CANCELLED)
    if window.version is not None:
        items = items.filter(case__service_version__version=window.version)
    start, end = window.bounds()
    if start is not None:
        items = items.filter(created_at__gte=start)
    if end is not None:
        items = items.filter(created_at__lt=end)
    return items


_ITEM_COLUMNS = ["queue", "status", "created_at", "at_risk_at", "due_at", "completed_at"]


def _items_frame(items: QuerySet[WorkItem]) -> pd.DataFrame:
    return _frame(items.values_list(*_ITEM_COLUMNS), _ITEM_COLUMNS, tuple(_ITEM_COLUMNS[2:]))


def service_sla(
    *, viewer: User, service: Service, window: Window | None = None, now: datetime | None = None
) -> list[compute.SlaRow]:
    policy.authorize(viewer, "service.view", service)
    return compute.sla_compliance_frame(
        _items_frame(_items(service, window or Window())), now=now or timezone.now()
    )


def service_backlog(
    *, viewer: User, service: Service, version: int | None = None, now: datetime | None = None
) -> list[compute.BacklogRow]:
    policy.authorize(viewer, "service.view", service)
    items = _items(service, Window(version=version)).filter(
        status__in=[WorkItemStatus.OPEN, WorkItemStatus.CLAIMED]
    )
    return compute.backlog_age_frame(_items_frame(items), now=now or timezone.now())


@dataclass(frozen=True)
class ServiceAnalytics:
    service: Service
    window: Window
    dfg: compute.Dfg
    throughput: list[compute.ThroughputRow]
    sla: list[compute.SlaRow]
    backlog: list[compute.BacklogRow]
    computed_at: datetime


def service_analytics(
    *, viewer: User, service: Service, window: Window | None = None
) -> ServiceAnalytics:
    """Everything the analytics page shows, computed at one moment."""
    window = window or Window()
    now = timezone.now()
    return ServiceAnalytics(
        service=service,
        window=window,
        dfg=service_dfg(viewer=viewer, service=service, window=window),
        throughput=service_throughput(viewer=viewer, service=service, window=window),
        sla=service_sla(viewer=viewer, service=service, window=window, now=now),
        backlog=service_backlog(viewer=viewer, service=service, version=window.version, now=now),
        computed_at=now,
    )
