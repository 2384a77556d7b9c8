"""The one REST API at /api/v1: routers from each app, problem+json errors."""

from ninja import NinjaAPI

from core.api_errors import install_problem_handlers
from identity.api_auth import SessionAuth, TokenAuth

api = NinjaAPI(
    title="CivicStack API",
    version="1",
    description=(
        "The CivicStack platform API. Authenticate with a browser session or a bearer "
        "token (Authorization: Bearer cs_...). Errors are RFC 9457 problem+json "
        "documents with a stable `code`."
    ),
    urls_namespace="api-v1",
    auth=[TokenAuth(), SessionAuth()],
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_problem_handlers(api)


def _mount_routers() -> None:
    from identity.api import router as identity_router

    api.add_router("/", identity_router)


_mount_routers()
