from datetime import date

from ninja import Field, Schema

from registry.schemas.records import SourceRecordOut


class PersonSearchIn(Schema):
    purpose: str = Field(
        ...,
        min_length=3,
        max_length=200,
        description="Why the person is looked up; kept in the audit trail the person can see.",
    )
    name: str | None = Field(None, max_length=200, description="Full or partial name (fuzzy).")
    date_of_birth: date | None = None
    national_id: str | None = Field(None, max_length=40, description="Exact, via a blind index.")
    limit: int = Field(20, ge=1, le=100)


class PersonHitOut(Schema):
    id: str
    given_name: str
    family_name: str
    date_of_birth: date | None
    score: float = Field(..., description="1.0 for a national-ID match; name similarity else.")
    matched_on: str


class PersonSearchOut(Schema):
    count: int
    items: list[PersonHitOut]


class GoldenValueOut(Schema):
    value: str | None
    agency: str = Field(..., description="The agency whose record gave the value.")
    record: str = Field(..., description="That agency's own record id.")
    record_id: int = Field(..., description="The source record's id in CivicStack.")
    updated_at: str | None = Field(None, description="When the source last updated it.")


class PersonOut(Schema):
    id: str
    status: str = Field(..., description="'active', or 'merged' when merged into another.")
    merged_into: str | None
    golden: dict[str, GoldenValueOut]
    records: list[SourceRecordOut]
    hidden_records: int = Field(
        ..., description="Linked records in agencies whose records the caller may not read."
    )
    created_at: str
    updated_at: str
