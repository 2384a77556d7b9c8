"""Request bodies of the GovStack Consent API, in its camelCase names.

Read-only fields a client may echo back (ids, versions, signatures, `active`) are
accepted and ignored; unknown keys are ignored as the specification's open objects allow.
"""

from datetime import datetime

from ninja import Field, Schema

NO_NUL = r"^[^\x00]*$"


class Ref(Schema):
    id: str = Field(..., max_length=100)


class PolicyIn(Schema):
    url: str | None = Field(None, max_length=500)
    dataRetentionPeriodDays: int | None = Field(None, ge=1, le=36500)


class PolicyBody(Schema):
    policy: PolicyIn


class AttributeIn(Schema):
    name: str = Field(..., min_length=1, max_length=80)


class DataAgreementIn(Schema):
    code: str | None = Field(None, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")
    controller: Ref | None = None
    consumer: Ref | None = None
    purpose: str | None = Field(None, max_length=5000, pattern=NO_NUL)
    purposeCode: str | None = Field(None, max_length=80)
    lawfulBasis: str | None = Field(None, max_length=24)
    dpia: str | None = Field(None, max_length=20000, pattern=NO_NUL)
    forgettable: bool | None = None
    policy: PolicyIn | None = None
    dataAttributes: list[AttributeIn] | None = Field(None, max_length=100)
    validFrom: datetime | None = None
    validUntil: datetime | None = None


class DataAgreementBody(Schema):
    dataAgreement: DataAgreementIn


class IndividualIn(Schema):
    id: str | None = Field(None, max_length=20)
    externalId: str | None = Field(None, max_length=100)
    externalIdType: str | None = Field(None, max_length=40)


class IndividualBody(Schema):
    individual: IndividualIn


class ConsentRecordIn(Schema):
    dataAgreement: Ref | None = None
    dataAgreementRevisionHash: str | None = Field(None, max_length=64)
    individual: Ref | None = None
    optIn: bool | None = None


class ConsentRecordBody(Schema):
    consentRecord: ConsentRecordIn


class SignatureIn(Schema):
    verificationMethod: str | None = Field(None, max_length=40)
    signature: str | None = Field(None, max_length=2000)


class ConsentRecordSignatureBody(Schema):
    consentRecord: ConsentRecordIn
    signature: SignatureIn


class WebhookIn(Schema):
    payloadUrl: str = Field(..., min_length=8, max_length=500)
    contentType: str = Field("application/json", max_length=40)
    disabled: bool = False
    events: list[str] = Field(default_factory=list, max_length=10)


class WebhookBody(Schema):
    webhook: WebhookIn
