from datetime import date

from ninja import Field, Schema

from core.pagination import MAX_LIMIT, MAX_OFFSET


class SourceRecordOut(Schema):
    id: int
    agency: str = Field(..., alias="agency.code")
    agency_record_id: str
    given_name: str
    middle_name: str
    family_name: str
    previous_family_name: str
    date_of_birth: date | None
    date_of_birth_raw: str
    sex: str
    address_line: str
    locality: str
    postcode: str
    phone: str
    email: str
    national_id: str
    household_ref: str
    extra: dict[str, object]


class SourceRecordQuery(Schema):
    purpose: str = Field(
        ...,
        min_length=3,
        max_length=200,
        description="Why the records are read; kept in the audit trail the person can see.",
    )
    family_name: str | None = Field(None, max_length=100)
    postcode: str | None = Field(None, max_length=16)
    national_id: str | None = Field(None, max_length=40)
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class PurposeQuery(Schema):
    purpose: str = Field(..., min_length=3, max_length=200)


class SourceRecordPage(Schema):
    count: int
    items: list[SourceRecordOut]
