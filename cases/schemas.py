"""Request and response shapes of the cases API."""

from datetime import datetime
from typing import Any

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
