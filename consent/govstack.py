"""The GovStack Consent building block API at /api/govstack/consent/ (consent-openapi.yaml)."""

from identity.govstack import govstack_api

api = govstack_api(
    namespace="consent",
    title="CivicStack — GovStack Consent API",
    version="1.1.0",
    description="GovStack Consent building block 1.1.0 on CivicStack's agreements and consents.",
)
