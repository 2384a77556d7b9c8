"""Liveness and readiness for load balancers (placeholder; completed by the ops work)."""

from django.http import HttpRequest, JsonResponse

from core.access import public


@public("load balancers probe it without credentials; it reveals no personal data")
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})
