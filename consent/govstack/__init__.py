"""The GovStack Consent building block API at /api/govstack/consent/ (consent-openapi.yaml).

Operations keep the specification's paths (each ending with a slash), operation ids and
camelCase names; ids are strings (agreements, records, revisions and webhooks are UUIDs,
individuals are person ids) and a malformed one answers 400. The individual is named by
the `individualId` query parameter or the `X-ConsentBB-IndividualId` header. Where the
platform has no honest mapping (deleting sealed agreements or policies, editing persons,
storing individuals' own signatures) the operation answers 501 with the reason.
Every refusal is logged with its code and reason, and answered as problem+json.
"""

import logging

from django.http import HttpRequest, HttpResponse
from ninja.errors import ValidationError as NinjaValidationError

from consent.govstack import audit, config, service
from core.api_errors import _validation_errors, problem_response
from core.errors import ApplicationError, ValidationFailed
from identity.govstack import govstack_api

logger = logging.getLogger("civicstack.consent.govstack")

api = govstack_api(
    namespace="consent",
    title="CivicStack — GovStack Consent API",
    version="1.1.0",
    description="GovStack Consent building block 1.1.0 on CivicStack's agreements and consents.",
)
api.add_router("", config.router)
api.add_router("", service.router)
api.add_router("", audit.router)


@api.exception_handler(ApplicationError)
def _refused(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    # A refusal is part of the record: which caller and system, why, with the request id.
    client = getattr(request, "im_client", None)
    user = getattr(request, "user", None)
    logger.warning(
        "consent api refused: %s",
        exc.detail,
        extra={
            "code": exc.code,
            "status": exc.status,
            "path": request.path,
            "method": request.method,
            "user_id": getattr(user, "pk", None),
            "im_client": getattr(client, "identifier", None),
        },
    )
    return problem_response(api, request, exc)


@api.exception_handler(NinjaValidationError)
def _malformed(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    return _refused(request, ValidationFailed(errors=_validation_errors(exc)))
