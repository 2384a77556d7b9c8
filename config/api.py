"""The one REST API at /api/v1: routers from each app, problem+json errors."""

from typing import Any

from ninja import NinjaAPI

from core.api_errors import install_problem_handlers
from identity.api_auth import SessionAuth, TokenAuth

PROBLEM_SCHEMA = {
    "title": "Problem",
    "description": "RFC 9457 problem details with a stable `code`.",
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string"},
        "errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
}
PROBLEM_RESPONSES = {
    400: "The request is not valid (see `errors`).",
    401: "Sign-in or a valid token is required.",
    403: "The policy does not allow this.",
    404: "Not found.",
}


class CivicStackAPI(NinjaAPI):
    """NinjaAPI whose OpenAPI document also describes the problem+json error answers."""

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(*args, **kwargs)
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        ref = {"$ref": "#/components/schemas/Problem"}
        for path in schema["paths"].values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                for status, description in PROBLEM_RESPONSES.items():
                    if status not in responses and str(status) not in responses:
                        responses[status] = {
                            "description": description,
                            "content": {"application/problem+json": {"schema": ref}},
                        }
        return schema


api = CivicStackAPI(
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
    from cases.api import router as cases_router
    from consent.api import router as consent_router
    from decisions.api import router as decisions_router
    from exchange.api import router as exchange_router
    from exchange.events.api import router as events_router
    from identity.api import router as identity_router
    from portal.api import router as portal_router
    from registry.api import router as registry_router

    api.add_router("/", identity_router)
    api.add_router("/registry", registry_router)
    api.add_router("/decisions", decisions_router)
    api.add_router("/cases", cases_router)
    api.add_router("/consent", consent_router)
    api.add_router("/exchange", exchange_router)
    api.add_router("/exchange/events", events_router)
    api.add_router("/portal", portal_router)


_mount_routers()
