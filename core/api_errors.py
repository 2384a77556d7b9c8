"""RFC 9457 problem+json for every error the API returns, each with a stable ``code``."""

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from core.errors import ApplicationError, NotAuthenticated, NotFound, ValidationFailed

logger = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem_response(api: NinjaAPI, request: HttpRequest, error: ApplicationError) -> HttpResponse:
    body = error.as_problem(instance=request.path)
    response = api.create_response(request, body, status=error.status)
    response["Content-Type"] = PROBLEM_JSON
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="civicstack"'
    return response


def _validation_errors(exc: NinjaValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for item in exc.errors:
        loc = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path")]
        key = ".".join(loc) or "request"
        errors.setdefault(key, []).append(str(item.get("msg", "invalid")))
    return errors


_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    422: "unprocessable",
    429: "rate_limited",
}


def _http_problem(status: int, detail: str) -> ApplicationError:
    error = ApplicationError(detail)
    error.status = status
    error.code = _HTTP_CODES.get(status, "http_error")
    error.title = detail
    return error


def install_problem_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(ApplicationError)
    def on_application_error(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
        return problem_response(api, request, exc)

    @api.exception_handler(NinjaValidationError)
    def on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return problem_response(api, request, ValidationFailed(errors=_validation_errors(exc)))

    @api.exception_handler(AuthenticationError)
    def on_auth_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return problem_response(api, request, NotAuthenticated())

    @api.exception_handler(RequestDataTooBig)
    def on_too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
        return problem_response(api, request, _http_problem(413, "The request body is too large."))

    @api.exception_handler(Http404)
    def on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
        return problem_response(api, request, NotFound())

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        return problem_response(api, request, _http_problem(exc.status_code, str(exc)))

    @api.exception_handler(Exception)
    def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("unhandled error in API", extra={"path": request.path})
        error = ApplicationError("An unexpected error occurred; it has been logged.")
        body = error.as_problem(instance=request.path)
        body.update(status=500, code="internal_error", title="Internal server error")
        response = api.create_response(request, body, status=500)
        response["Content-Type"] = PROBLEM_JSON
        return response
