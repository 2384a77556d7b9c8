"""Domain errors. Every door (API, pages, tasks) turns them into a response once.

Each error has a stable machine-readable ``code`` (part of the API contract), an HTTP
status, a short human title and optional structured ``errors`` (field -> messages).
"""

from typing import Any


class ApplicationError(Exception):
    code: str = "application_error"
    status: int = 400
    title: str = "The request could not be completed"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: dict[str, list[str]] | None = None,
        **extra: Any,
    ) -> None:
        self.detail = detail or self.title
        self.errors = errors or {}
        self.extra = extra
        super().__init__(self.detail)

    def as_problem(self, instance: str = "") -> dict[str, Any]:
        """RFC 9457 problem details, with our stable ``code`` extension."""
        body: dict[str, Any] = {
            "type": f"https://civicstack.example/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update({k: v for k, v in self.extra.items() if k not in body})
        return body


class ValidationFailed(ApplicationError):
    code = "validation_failed"
    status = 400
    title = "Some of the data sent is not valid"


class NotAuthenticated(ApplicationError):
    code = "not_authenticated"
    status = 401
    title = "Sign-in is required"


class PermissionDenied(ApplicationError):
    code = "permission_denied"
    status = 403
    title = "You are not allowed to do this"


class NotFound(ApplicationError):
    code = "not_found"
    status = 404
    title = "Not found"


class Conflict(ApplicationError):
    code = "conflict"
    status = 409
    title = "The request conflicts with the current state"


class RateLimited(ApplicationError):
    code = "rate_limited"
    status = 429
    title = "Too many requests"
