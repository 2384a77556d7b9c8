"""Request id and access log: the first thing every request passes through."""

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from core.logging import request_id_var

access_logger = logging.getLogger("civicstack.access")

# What we accept from a proxy: short, and nothing that could forge a log line or a header.
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _user_id(request: HttpRequest) -> int | str | None:
    """The signed-in user's id, or None. Never lets logging break a response."""
    try:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return user.pk
    except Exception:  # the session store may be the thing that is down
        return None
    return None


class RequestIdMiddleware:
    """Take a well-formed X-Request-ID from the proxy or make one; echo it in the response;
    write one access line per request (method, path, status, duration, user id).

    The path is logged without its query string, which can hold personal data.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID.fullmatch(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        started = time.monotonic()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            response["X-Request-ID"] = request_id
            return response
        finally:
            access_logger.info(
                "%s %s %s",
                request.method,
                request.path,
                status,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": status,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                    "user_id": _user_id(request),
                },
            )
            request_id_var.reset(token)


class RejectNulMiddleware:
    """Refuse a query string holding a NUL character before any view sees it.

    No identifier, code or search text contains one, and PostgreSQL text cannot store or
    compare it, so such a request could only fail later with a server error.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in value for values in request.GET.lists() for value in values[1]) or any(
            "\x00" in key for key in request.GET
        ):
            body = {
                "type": "https://civicstack.example/problems/bad_request",
                "title": "The request is not valid",
                "status": 400,
                "detail": "The query string contains a NUL character.",
                "code": "bad_request",
                "instance": request.path,
            }
            return JsonResponse(body, status=400, content_type="application/problem+json")
        return self.get_response(request)
