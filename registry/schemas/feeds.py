from datetime import datetime
from typing import Any
from uuid import UUID

from ninja import Field, Schema


class RowErrorOut(Schema):
    field: str
    message: str


class RejectedRowOut(Schema):
    id: int
    row_number: int = Field(..., description="The record's position in the batch, from 1.")
    agency_record_id: str
    status: str
    errors: list[RowErrorOut]


class RejectedRowDetailOut(RejectedRowOut):
    batch: UUID = Field(..., alias="batch_id")
    values: dict[str, Any] = Field(..., description="The row as it was sent.")

    @staticmethod
    def resolve_values(obj: Any) -> dict[str, Any]:
        from registry.services.feeds import rejected_row_values

        return rejected_row_values(obj)


class BatchOut(Schema):
    id: UUID
    agency: str = Field(..., alias="agency.code")
    channel: str
    filename: str
    status: str
    mapping_version: int | None
    total_rows: int | None
    processed_rows: int
    progress: int = Field(..., description="Percent of rows processed, 0-100.")
    created: int = Field(..., alias="created_count")
    updated: int = Field(..., alias="updated_count")
    unchanged: int = Field(..., alias="unchanged_count")
    rejected: int = Field(..., alias="rejected_count")
    error: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def resolve_progress(obj: Any) -> int:
        return batch_progress(obj)

    @staticmethod
    def resolve_mapping_version(obj: Any) -> int | None:
        return obj.mapping.version if obj.mapping_id else None


class BatchResultOut(BatchOut):
    rejected_rows: list[RejectedRowOut] = Field(
        ..., description="Every row not loaded, with its errors (row numbers count from 1)."
    )

    @staticmethod
    def resolve_rejected_rows(obj: Any) -> list[Any]:
        return list(getattr(obj, "rejected_rows_shown", []))


def batch_progress(batch: Any) -> int:
    """Percent of the batch's rows processed (100 once finished)."""
    if batch.status in ("done", "failed") and batch.processed_rows >= (batch.total_rows or 0):
        return 100
    if not batch.total_rows:
        return 0
    return min(100, int(100 * batch.processed_rows / batch.total_rows))


class RecordsBatchIn(Schema):
    records: list[dict[str, Any]] = Field(
        ...,
        description=(
            "Up to 10,000 records, each an object in the agency's own field names (its "
            "feed mapping), or in the common person schema if it has none."
        ),
    )


class CorrectionIn(Schema):
    values: dict[str, Any] = Field(
        ..., description="The corrected row, column by column, as the agency's feed names them."
    )


class CorrectionOut(Schema):
    row: RejectedRowOut
    batch: BatchOut


class MappingOut(Schema):
    agency: str
    version: int | None = Field(..., description="None: no mapping saved; the shipped one is used.")
    active: bool
    source_text: str
    spec: dict[str, Any]
    created_at: datetime | None
