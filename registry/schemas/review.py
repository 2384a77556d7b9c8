from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from ninja import Field, Schema

from core.pagination import MAX_LIMIT, MAX_OFFSET

Status = Literal["open", "accepted", "rejected", "superseded", "all"]
Ordering = Literal["uncertainty", "probability", "probability_asc", "oldest", "newest"]
PERSON_ID = r"^[A-Za-z0-9]{2,16}$"
RecordId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class CandidateQuery(Schema):
    status: Status = Field("open", description="Which pairs; `all` for every status.")
    ordering: Ordering = Field(
        "uncertainty",
        description="`uncertainty`: closest to an even chance first; `probability`: highest.",
    )
    agency: str | None = Field(None, max_length=32, description="Pairs touching this agency.")
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class RecordRefOut(Schema):
    id: int
    agency: str = Field(..., alias="agency.code")
    agency_record_id: str
    person_id: str | None


class CandidateOut(Schema):
    id: int
    match_probability: float
    match_weight: float
    status: str
    origin: str
    created_at: datetime
    decided_by: str | None = Field(None, alias="decided_by.username")
    decided_at: datetime | None
    record: RecordRefOut
    other: RecordRefOut


class CandidatePage(Schema):
    count: int
    items: list[CandidateOut]


class FieldRowOut(Schema):
    field: str = Field(..., alias="name")
    label: str
    record: str = Field(..., description="The record's value (national ID masked).")
    other: str
    agreement: Literal["same", "different", "missing"]


class ExplanationOut(Schema):
    comparison: str
    level: str
    weight: float = Field(..., description="log2 Bayes factor this comparison contributed.")


class CandidateDetailOut(Schema):
    candidate: CandidateOut
    fields: list[FieldRowOut]
    explanation: list[ExplanationOut]
    prior_weight: float = Field(..., description="The match weight before any comparison.")


class NoteIn(Schema):
    note: str = Field("", max_length=500, description="Why; kept in the history and audit.")


class MergeIn(NoteIn):
    other: str = Field(
        ...,
        pattern=PERSON_ID,
        description="The person merged into the one in the path, which keeps its id.",
    )


class SplitIn(NoteIn):
    record_ids: list[RecordId] = Field(
        ..., max_length=10_000, description="Source records that become a new person."
    )


class ChangeOut(Schema):
    action: UUID | None = Field(None, description="Give it to the undo route to reverse.")
    persons: list[str]
    records_moved: list[int]
    survivor: str | None = None
    new_person: str | None = None
    candidate_status: str | None = None


class HistoryEventOut(Schema):
    record_id: int
    record: str = Field(..., alias="record_label")
    from_person: str | None
    to_person: str | None


class HistoryActionOut(Schema):
    action: UUID
    at: datetime
    reason: str
    actor: str
    note: str
    undone: bool
    can_undo: bool
    why_not: str
    events: list[HistoryEventOut]
