from datetime import datetime
from typing import Any

from ninja import Field, Schema


class RoleOut(Schema):
    role: str
    agency: str | None = None


class MeOut(Schema):
    username: str
    kind: str
    first_name: str
    last_name: str
    email: str
    agency: str | None
    roles: list[RoleOut]
    mfa_verified: bool


class AgencyOut(Schema):
    code: str
    name: str
    kind: str


class AgencyIn(Schema):
    code: str = Field(..., pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")
    name: str = Field(..., min_length=2, max_length=200)
    kind: str = "government"


class StaffOut(Schema):
    username: str
    first_name: str
    last_name: str
    email: str
    is_active: bool
    roles: list[RoleOut]


class StaffIn(Schema):
    username: str = Field(..., pattern=r"^[A-Za-z0-9.@+_-]{3,150}$")
    password: str = Field(..., min_length=1, max_length=200)
    email: str = Field("", max_length=254)
    first_name: str = Field("", max_length=150)
    last_name: str = Field("", max_length=150)
    roles: list[str] = Field(default_factory=list, max_length=10)


class RoleIn(Schema):
    username: str = Field(..., max_length=150)
    role: str = Field(..., max_length=30)


class TokenIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    scopes: list[str] = Field(..., min_length=1, max_length=30)
    days: int | None = Field(None, ge=1, le=366)


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(..., description="The secret. Shown once; store it safely.")


class AuditEntryOut(Schema):
    seq: int
    created_at: datetime
    actor: str
    agency: str
    action: str
    purpose: str
    subject_person: str | None
    target: str
    data: dict[str, Any]
    request_id: str
    hash: str


class AuditVerifyOut(Schema):
    ok: bool
    checked: int
    first_broken_seq: int | None
    reason: str
    head_seq: int | None
    head_hash: str
