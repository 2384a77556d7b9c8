"""What every GovStack-compatible API under /api/govstack/ shares.

Each building block (Consent, Information Mediator, Digital Registries) is its own NinjaAPI,
made by `govstack_api`, with the same problem+json errors as /api/v1 and the same callers:
a bearer token or a browser session. GovStack clients also name their system in the
``Information-Mediator-Client`` header (``INSTANCE/CLASS/MEMBER/SUBSYSTEM``); when sent,
it must name an active registered `SystemClient` of the caller's agency, and the request
carries it as ``request.im_client``. With ``GOVSTACK_TRUST_IM_HEADER`` (a deployment behind
an X-Road style security server that authenticates systems by mutual TLS) the header
alone authenticates, as the client's account.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import NinjaAPI

from core.api_errors import install_problem_handlers
from core.errors import ApplicationError
from identity.api_auth import SessionAuth, TokenAuth
from identity.models import SystemClient, User

IM_CLIENT_HEADER = "Information-Mediator-Client"
_IM_META_KEY = "HTTP_INFORMATION_MEDIATOR_CLIENT"
_PART = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}"
IM_CLIENT_PATTERN = re.compile(rf"^{_PART}/{_PART}/{_PART}/{_PART}$")


class UnknownSystemClient(ApplicationError):
    code = "unknown_system_client"
    status = 403
    title = "The calling system is not registered"


class MalformedSystemClient(ApplicationError):
    code = "malformed_system_client"
    status = 400
    title = "The Information-Mediator-Client header is malformed"


def im_client_identifier(request: HttpRequest) -> str | None:
    """The header's value, checked for shape; None when the header is absent."""
    raw = request.META.get(_IM_META_KEY)
    if raw is None:
        return None
    value = raw.strip()
    if not IM_CLIENT_PATTERN.match(value):
        raise MalformedSystemClient(
            f"{IM_CLIENT_HEADER} must be INSTANCE/CLASS/MEMBER/SUBSYSTEM.",
            errors={IM_CLIENT_HEADER: ["expected four parts separated by '/'"]},
        )
    return value


def _client_for(identifier: str) -> SystemClient:
    client = (
        SystemClient.objects.select_related("agency", "account")
        .filter(identifier=identifier, active=True)
        .first()
    )
    if client is None:
        raise UnknownSystemClient(f"No active system client {identifier!r} is registered.")
    return client


def _bind_client(request: HttpRequest, user: User) -> User:
    """Check the named system belongs to the caller's agency and remember it."""
    identifier = im_client_identifier(request)
    if identifier is None:
        request.im_client = None  # type: ignore[attr-defined]
        return user
    client = _client_for(identifier)
    same_account = client.account_id is not None and client.account_id == user.pk
    if not same_account and client.agency_id != user.agency_id:
        raise UnknownSystemClient(
            f"System client {identifier!r} does not belong to the caller's organisation."
        )
    request.im_client = client  # type: ignore[attr-defined]
    return user


class GovStackTokenAuth(TokenAuth):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = super().authenticate(request, token)
        return None if user is None else _bind_client(request, user)


class GovStackSessionAuth(SessionAuth):
    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        user = super().authenticate(request, key)
        return None if user is None else _bind_client(request, user)


class TrustedHeaderAuth:
    """The header alone, only where a security server in front has authenticated it."""

    openapi_type = "apiKey"

    def __call__(self, request: HttpRequest) -> Any:
        if not getattr(settings, "GOVSTACK_TRUST_IM_HEADER", False):
            return None
        identifier = im_client_identifier(request)
        if identifier is None:
            return None
        client = _client_for(identifier)
        if client.account is None or not client.account.is_active:
            raise UnknownSystemClient(f"System client {identifier!r} has no account to act as.")
        user = client.account
        # authenticated by the security server in front, like a token
        user.civic_via_token = True  # type: ignore[attr-defined]
        request.user = user
        request.im_client = client  # type: ignore[attr-defined]
        return user


def govstack_api(*, namespace: str, title: str, version: str, description: str) -> NinjaAPI:
    """A NinjaAPI for one GovStack building block, mounted at /api/govstack/<namespace>/."""
    api = NinjaAPI(
        title=title,
        version=version,
        description=description,
        urls_namespace=f"govstack-{namespace}",
        auth=[GovStackTokenAuth(), GovStackSessionAuth(), TrustedHeaderAuth()],
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    install_problem_handlers(api)
    return api
