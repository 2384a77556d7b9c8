"""How API callers prove who they are: a browser session (with CSRF) or a bearer token."""

from typing import Any

from django.http import HttpRequest
from ninja.security import APIKeyCookie, HttpBearer

from identity import selectors


class SessionAuth(APIKeyCookie):
    """The signed-in browser session; unsafe methods need the CSRF token."""

    param_name = "sessionid"
    openapi_description = "Browser session cookie (send X-CSRFToken on unsafe methods)."

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return user
        return None


class TokenAuth(HttpBearer):
    openapi_description = "API token: `Authorization: Bearer cs_<prefix>_<secret>`."

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = selectors.user_for_api_token(raw=token)
        if user is None:
            return None
        request.user = user
        return user
