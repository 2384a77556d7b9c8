from datetime import datetime
from typing import Any
from uuid import UUID

from ninja import Field, Schema


class DataServiceIn(Schema):
    code: str = Field(..., min_length=1, max_length=80, pattern=r"^[a-z0-9-]+$")
    name: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    attributes: list[str] = Field(..., max_length=100)
    input_schema: dict[str, Any] = Field(default_factory=dict)
    output_schema: dict[str, Any] = Field(default_factory=dict)
    kind: str = "internal"
    resolver: str = ""
    endpoint_url: str = ""
    timeout_seconds: float = 5.0
    max_retries: int = 2


class DataServiceOut(Schema):
    id: UUID
    provider: str = Field(..., alias="provider.code")
    code: str
    name: str
    description: str
    attributes: list[str]
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    kind: str
    active: bool


class ExchangeIn(Schema):
    person: str = Field(..., min_length=1, max_length=16, description="Master person id.")
    purpose: str = Field(..., min_length=1, max_length=80, description="A registered purpose.")
    case_ref: str = Field("", max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)
    consumer: str | None = Field(
        None, max_length=40, description="Consuming agency code (default: your own agency)."
    )


class ExchangeOut(Schema):
    exchange_id: UUID
    provider: str
    service: str
    person: str
    data: dict[str, Any]
    released: list[str]
    withheld: list[str]
    agreement: str
    agreement_version: int
    lawful_basis: str


class MessageOut(Schema):
    seq: int
    exchange_id: UUID
    kind: str
    created_at: datetime
    consumer: str
    provider: str
    service: str
    person: str
    purpose: str
    case_ref: str
    actor: str
    client: str
    status: str
    reason: str
    body_hash: str
    prev_hash: str
    hash: str
    key_id: str
    signature: str


class MessageDetailOut(MessageOut):
    body: dict[str, Any] | None
    body_intact: bool


class LogCheckOut(Schema):
    ok: bool
    checked: int
    first_broken_seq: int | None
    reason: str
