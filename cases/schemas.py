"""Request and response shapes of the cases API."""

from datetime import date, datetime
from typing import Any, Literal

from ninja import Field, Schema


class ServiceOut(Schema):
    code: str
    agency: str = Field(..., alias="agency.code")
    name: str
    description: str
    life_events: list[str]


class ServiceVersionOut(Schema):
    version: int
    process_id: str
    activates_at: datetime
    deployed_at: datetime
    sha256: str
    decisions: dict[str, Any]
    metadata: dict[str, Any]


class DeployIn(Schema):
    files: dict[str, str] = Field(
        ...,
        description=(
            "The service directory as file name -> text: service.yaml, one .bpmn, any .dmn, "
            "form.json, optional forms/<key>.json."
        ),
    )
    activate_at: datetime | None = Field(None, description="Default: now.")


class ServiceFormOut(Schema):
    service: str
    version: int
    form: dict[str, Any] = Field(..., description="JSON Schema (draft 2020-12) with hints.")


class CaseSubmitIn(Schema):
    data: dict[str, Any]
    applicant_id: int | None = Field(
        None, description="Staff applying for a citizen: the citizen's account id."
    )


class CaseDecisionOut(Schema):
    id: int
    element_id: str
    decision: str
    model: str = Field(..., alias="model_version.model.key")
    model_version: int = Field(..., alias="model_version.version")
    evaluation_id: int
    outputs: Any
    explanation: str
    decided_at: datetime
    overridden: bool


class CaseOut(Schema):
    reference: str
    service: str = Field(..., alias="service.code")
    service_version: int = Field(..., alias="service_version.version")
    status: str
    submitted_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    error: str
    error_element: str
    timer_due_at: datetime | None


class CaseSummaryOut(Schema):
    reference: str
    service: str = Field(..., alias="service.code")
    status: str
    submitted_at: datetime
    completed_at: datetime | None


class CaseDetailOut(CaseOut):
    data: dict[str, Any]
    result: dict[str, Any]
    decisions: list[CaseDecisionOut] = Field(..., alias="decisions_list")


class OverrideIn(Schema):
    outcome: Any = Field(..., description="The outcome decided instead (JSON).")
    reason: str = Field(..., max_length=2000)


class OverrideOut(Schema):
    id: int
    outcome: Any
    reason: str
    created_at: datetime


class WorkItemOut(Schema):
    id: int
    case: str = Field(..., alias="case.reference")
    agency: str = Field(..., alias="agency.code")
    element_id: str
    name: str
    queue: str
    role: str
    priority: int
    form_key: str
    status: str
    sla_status: str | None = None
    assignee: str | None = Field(None, alias="assignee.username")
    created_at: datetime
    at_risk_at: datetime
    due_at: datetime
    completed_at: datetime | None


class WorkItemQuery(Schema):
    agency: str | None = None
    queue: str | None = None
    role: str | None = None
    status: str | None = None
    sla_status: str | None = None
    min_priority: int | None = Field(None, ge=0, le=100)
    due_before: datetime | None = None
    mine: bool = False


class CompleteIn(Schema):
    data: dict[str, Any] = Field(default_factory=dict)


class ReassignIn(Schema):
    assignee: str = Field(..., description="Username of the new assignee.")


class QueueLoadOut(Schema):
    queue: str
    open: int
    claimed: int
    at_risk: int
    breached: int


class OverrideRateOut(Schema):
    model: str
    version: int
    decisions: int
    overridden: int
    rate: float


class CaseMessageIn(Schema):
    body: str = Field(..., max_length=20_000, description="Up to 5,000 characters once trimmed.")


class CaseMessageOut(Schema):
    id: int
    from_applicant: bool = Field(..., alias="from_citizen")
    author: str = Field(..., alias="author.username")
    body: str
    created_at: datetime
    read_at: datetime | None


class SimulateIn(Schema):
    model: str = Field(..., min_length=1, max_length=100, description="The decision model key.")
    version: int = Field(..., ge=1, le=1_000_000, description="The candidate version.")
    since: datetime | None = Field(None, description="Only decisions made from then on.")


class DecisionChangeOut(Schema):
    case_reference: str
    element_id: str
    decision: str
    recorded: Any
    candidate: Any
    overridden: bool


class ReevaluationOut(Schema):
    service: str
    model: str
    candidate_version: int
    total: int
    changed: int
    unchanged: int
    errors: int
    transitions: dict[str, int]
    changes: list[DecisionChangeOut]
    truncated: bool
    seconds: float


# --- process analytics --------------------------------------------------------------------


class AnalyticsQuery(Schema):
    version: int | None = Field(None, ge=1, description="Only cases that ran on this version.")
    date_from: date | None = Field(None, description="Cases submitted on or after this day.")
    date_to: date | None = Field(None, description="Cases submitted on or before this day.")


class EventLogQuery(AnalyticsQuery):
    format: Literal["csv", "xes"] = Field(
        "csv", description="csv, or xes (IEEE 1849-2016) for process-mining tools."
    )


class DfgNodeOut(Schema):
    activity: str
    count: int
    cases: int
    mean_duration: float = Field(..., description="Seconds from start to end, on average.")
    starts: int
    ends: int


class DfgEdgeOut(Schema):
    source: str
    target: str
    count: int
    mean_wait: float = Field(..., description="Seconds from the end of source to target's start.")
    median_wait: float


class DfgOut(Schema):
    cases: int
    events: int
    nodes: list[DfgNodeOut]
    edges: list[DfgEdgeOut]


class ThroughputOut(Schema):
    version: int
    completed: int
    p50: float = Field(..., description="Seconds from submission to completion.")
    p90: float
    p95: float
    mean: float


class SlaOut(Schema):
    queue: str
    completed: int
    on_time: int = Field(..., description="Completed before the at-risk moment.")
    at_risk: int = Field(..., description="Completed between at-risk and due.")
    breached: int = Field(..., description="Completed after the due date.")
    compliance: float | None = Field(..., description="Share completed by the due date.")
    open: int
    open_on_time: int
    open_at_risk: int
    open_breached: int


class BacklogBandOut(Schema):
    band: str
    count: int


class BacklogOut(Schema):
    queue: str
    total: int
    oldest: float = Field(..., description="Age of the oldest open item, in seconds.")
    bands: list[BacklogBandOut]

    @staticmethod
    def resolve_bands(obj: Any) -> list[dict[str, Any]]:
        from cases.analytics.compute import AGE_BANDS

        return [
            {"band": label, "count": count}
            for (label, _low, _high), count in zip(AGE_BANDS, obj.bands, strict=True)
        ]
