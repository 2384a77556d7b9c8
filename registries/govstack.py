"""The GovStack Digital Registries API at /api/govstack/registries/ (data and database APIs)."""

from identity.govstack import govstack_api
from registries.api import data_router, database_router

api = govstack_api(
    namespace="registries",
    title="CivicStack — GovStack Digital Registries API",
    version="1.3.0",
    description="Agency-defined registries: records (data API) and schemas (database API).",
)
api.add_router("", data_router)
api.add_router("", database_router)
