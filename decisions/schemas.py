"""Request and response bodies of the decisions API.

FEEL values (inputs, results, simulation outputs) use the tagged JSON encoding of
`decisions.values`: integers, strings, booleans, null, lists and objects as themselves;
decimals, dates, times, date-times and durations as `{"@type": ..., "value": "..."}`.
"""

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from core.pagination import MAX_LIMIT, MAX_OFFSET
from decisions.selectors import version_state
from decisions.services import SIMULATION_DEFAULT_LIMIT, SIMULATION_MAX_LIMIT

# Short texts kept free of NUL, which PostgreSQL refuses in text columns.
NO_NUL = r"^[^\x00]*$"
KEY_PATTERN = r"^[-a-zA-Z0-9_]{1,80}$"
TAGGED_VALUE = (
    "A FEEL value as tagged JSON: numbers, strings, booleans, null, lists and objects as "
    'themselves; others as {"@type": "decimal" | "date" | "time" | "date and time" | '
    '"days and time duration" | "years and months duration", "value": "<ISO / FEEL text>"}.'
)


class DecisionModelIn(Schema):
    key: str = Field(..., pattern=KEY_PATTERN, description="Unique within the agency.")
    name: str = Field(..., min_length=1, max_length=200, pattern=NO_NUL)
    description: str = Field("", max_length=5000, pattern=NO_NUL)


class DecisionModelOut(Schema):
    id: int
    agency: str = Field(..., alias="agency.code")
    key: str
    name: str
    description: str
    created_at: datetime


class VersionUploadIn(Schema):
    dmn_xml: str = Field(
        ...,
        min_length=1,
        description="The DMN 1.1-1.5 XML document as text (at most 2 MB, UTF-8).",
    )
    notes: str = Field("", max_length=5000, pattern=NO_NUL)


class VersionOut(Schema):
    model: str = Field(..., alias="model.key")
    version: int
    sha256: str
    uploaded_by: str | None = Field(None, alias="uploaded_by.username")
    uploaded_at: datetime
    activates_at: datetime | None
    notes: str
    state: str = Field(..., description="draft, scheduled, active or superseded")

    @staticmethod
    def resolve_state(obj: Any) -> str:
        return version_state(obj)


class VersionDetailOut(VersionOut):
    dmn_xml: str


class ScheduleIn(Schema):
    activates_at: datetime | None = Field(
        ...,
        description=(
            "When the version starts deciding (not in the past); null makes it a draft again. "
            "A version that has been active cannot be rescheduled."
        ),
    )


class EvaluateIn(Schema):
    decision: str = Field(..., min_length=1, max_length=200, pattern=NO_NUL)
    inputs: dict[str, Any] = Field(
        default_factory=dict, max_length=200, description="Input data by name. " + TAGGED_VALUE
    )
    purpose: str = Field(
        ...,
        min_length=3,
        max_length=200,
        pattern=NO_NUL,
        description="Why the decision is taken; kept in the audit trail.",
    )
    subject_person: str | None = Field(
        None,
        max_length=100,
        pattern=NO_NUL,
        description="The person the decision is about, so it shows in their audit trail.",
    )
    case_ref: str | None = Field(None, max_length=100, pattern=NO_NUL)
    at: datetime | None = Field(
        None, description="Decide with the version active at this time (default: now)."
    )


class ExplanationCondition(Schema):
    input: str
    value: str
    test: str
    outcome: bool | None


class ExplanationRow(Schema):
    decision: str
    table: str
    rule: int
    matched: bool
    selected: bool
    conditions: list[ExplanationCondition]
    output: str | None
    annotation: str | None


class EvaluationOut(Schema):
    evaluation_id: int
    model: str
    version: int
    decision: str
    result: Any = Field(None, description="The decision's result. " + TAGGED_VALUE)
    explanation: str = Field(..., description="A plain-language paragraph for the citizen.")
    explanation_rows: list[ExplanationRow] = Field(
        ..., description="One row per rule of every table evaluated, for a caseworker."
    )
    messages: list[str] = Field(..., description="Problems met (they made a result null).")
    trace: dict[str, Any]


class EvaluationRecordOut(Schema):
    id: int
    version: int = Field(..., alias="version.version")
    decision: str
    inputs: dict[str, Any]
    outputs: Any
    explanation: str
    evaluated_at: datetime
    actor_label: str
    purpose: str
    subject_person: str | None
    case_ref: str | None


class EvaluationQuery(Schema):
    purpose: str = Field(
        ...,
        min_length=3,
        max_length=200,
        pattern=NO_NUL,
        description="Why the history is read; kept in the audit trail of each person in it.",
    )
    subject_person: str | None = Field(None, max_length=100, pattern=NO_NUL)
    case_ref: str | None = Field(None, max_length=100, pattern=NO_NUL)
    since: datetime | None = None
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class EvaluationPage(Schema):
    count: int
    items: list[EvaluationRecordOut]


class SimulateIn(Schema):
    since: datetime | None = Field(None, description="Replay evaluations recorded since then.")
    limit: int = Field(
        SIMULATION_DEFAULT_LIMIT,
        ge=1,
        le=SIMULATION_MAX_LIMIT,
        description="Replay at most this many recorded evaluations, newest first.",
    )


class SimulationChangeOut(Schema):
    evaluation_id: int
    decision: str
    version: int = Field(..., description="The version that made the recorded decision.")
    recorded: Any = Field(None, description="The recorded result. " + TAGGED_VALUE)
    candidate: Any = Field(None, description="The candidate's result on the same inputs.")


class SimulationFailureOut(Schema):
    evaluation_id: int
    decision: str
    error: str


class SimulationOut(Schema):
    model: str
    candidate_version: int
    total: int
    changed: int
    unchanged: int
    errors: int
    changes: list[SimulationChangeOut]
    failures: list[SimulationFailureOut]
    truncated: bool = Field(..., description="More changes or failures than listed.")
