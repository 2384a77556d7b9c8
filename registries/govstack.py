"""The GovStack Digital Registries API at /api/govstack/registries/ (data and database APIs)."""

from identity.govstack import govstack_api

api = govstack_api(
    namespace="registries",
    title="CivicStack — GovStack Digital Registries API",
    version="1.3.0",
    description="Agency-defined registries: records (data API) and schemas (database API).",
)
