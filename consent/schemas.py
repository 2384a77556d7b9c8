"""Request and response bodies of the consent API at /api/v1/consent."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema

from consent import selectors
from consent.choices import LawfulBasis
from core.pagination import MAX_LIMIT, MAX_OFFSET

NO_NUL = r"^[^\x00]*$"
SLUG = r"^[-a-z0-9_]+$"
PERSON_ID = r"^P[0-9A-HJKMNP-TV-Z]{12}$"
LAWFUL_BASES = ", ".join(LawfulBasis.values)


class PurposeIn(Schema):
    code: str = Field(..., min_length=2, max_length=80, pattern=SLUG)
    name: str = Field(..., min_length=1, max_length=200, pattern=NO_NUL)
    description: str = Field("", max_length=5000, pattern=NO_NUL)


class PurposeOut(Schema):
    code: str
    name: str
    description: str
    created_at: datetime


class AgreementTermsIn(Schema):
    """The terms of one version; on a revision, the terms left out carry over."""

    purpose: str | None = Field(None, max_length=80, description="A registered purpose code.")
    purpose_text: str | None = Field(None, max_length=5000, pattern=NO_NUL)
    attributes: list[str] | None = Field(None, max_length=100)
    lawful_basis: str | None = Field(None, max_length=24, description=f"One of {LAWFUL_BASES}.")
    retention_days: int | None = Field(None, ge=1, le=36500)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    policy_url: str | None = Field(None, max_length=200)
    dpia: str | None = Field(None, max_length=20000, pattern=NO_NUL)
    forgettable: bool | None = None


class AgreementIn(AgreementTermsIn):
    code: str = Field(..., min_length=2, max_length=100, pattern=SLUG)
    provider: str = Field(..., max_length=40, description="The providing agency's code.")
    consumer: str = Field(..., max_length=40, description="The consuming agency's code.")
    purpose: str = Field(..., max_length=80, description="A registered purpose code.")
    purpose_text: str = Field(..., min_length=1, max_length=5000, pattern=NO_NUL)
    attributes: list[str] = Field(..., min_length=1, max_length=100)
    lawful_basis: str = Field(..., max_length=24, description=f"One of {LAWFUL_BASES}.")
    retention_days: int = Field(..., ge=1, le=36500)


class VersionOut(Schema):
    id: UUID
    version: int
    purpose: str = Field(..., alias="purpose.code")
    purpose_text: str
    attributes: list[str]
    lawful_basis: str
    retention_days: int
    valid_from: datetime
    valid_until: datetime | None
    policy_url: str
    dpia: str
    forgettable: bool
    in_force: bool
    snapshot_hash: str = Field(..., description="SHA-256 of the sealed canonical terms.")
    key_id: str
    signature: str = Field(..., description="The platform's Ed25519 signature of the hash.")
    created_at: datetime

    @staticmethod
    def resolve_in_force(obj: Any) -> bool:
        return bool(obj.in_force())


def current_version(agreement: Any) -> Any:
    """The version in force, or the latest when none is (versions come newest first)."""
    versions = list(selectors.agreement_versions(agreement=agreement))
    in_force = [v for v in versions if v.in_force()]
    return in_force[0] if in_force else (versions[0] if versions else None)


class AgreementOut(Schema):
    id: UUID
    code: str
    provider: str = Field(..., alias="provider.code")
    consumer: str = Field(..., alias="consumer.code")
    created_at: datetime
    current: VersionOut | None = Field(
        None, description="The version in force, or the latest when none is."
    )

    @staticmethod
    def resolve_current(obj: Any) -> Any:
        return current_version(obj)


class AgreementDetailOut(AgreementOut):
    versions: list[VersionOut] = Field(..., description="Every version, newest first.")

    @staticmethod
    def resolve_versions(obj: Any) -> Any:
        return list(selectors.agreement_versions(agreement=obj))


class AgreementQuery(Schema):
    agency: str | None = Field(None, max_length=40, description="Only this agency's agreements.")


class PageQuery(Schema):
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class ConsentIn(Schema):
    agreement_id: UUID
    state: Literal["given", "refused", "withdrawn"]


class ConsentOut(Schema):
    id: UUID
    person_id: str
    agreement_id: UUID
    agreement: str = Field(..., alias="agreement.code")
    agreement_version: int = Field(..., alias="agreement_version.version")
    purpose: str = Field(..., alias="agreement_version.purpose.code")
    state: str
    revision: int
    head_hash: str
    updated_at: datetime


class ConsentPage(Schema):
    count: int
    items: list[ConsentOut]


class ChainCheckOut(Schema):
    record_id: UUID
    ok: bool
    checked: int = Field(..., description="Revisions verified before the first failure.")
    reason: str


class AccessEntryOut(Schema):
    at: datetime
    agency: str
    actor: str
    roles: list[str]
    action: str
    purpose: str
    attributes: list[str]
    delayed_until: datetime | None


class DisclosureDelayIn(Schema):
    person_id: str = Field(..., pattern=PERSON_ID)
    agency: str = Field(..., max_length=40, description="The investigating agency's code.")
    until: datetime
    reason: str = Field(..., min_length=1, max_length=2000, pattern=NO_NUL)


class DisclosureDelayOut(Schema):
    id: int
    person_id: str
    agency: str = Field(..., alias="agency.code")
    until: datetime
    reason: str
    created_at: datetime
