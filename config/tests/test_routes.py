"""Every route declares who may use it. A new route without a decision fails here."""

from collections.abc import Iterator
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from config.api import api
from config.govstack import GOVSTACK_APIS
from core.access import declared_permission
from identity.policy import PERMISSIONS


def _api_operations() -> Iterator[tuple[str, str, Any, Any]]:
    # The routers bound to each API carry the effective auth of each operation.
    apis = {"api/v1": api} | {f"api/govstack/{p}": gs for p, gs in GOVSTACK_APIS.items()}
    for mount, one_api in apis.items():
        yield from _operations_of(mount, one_api)


def _operations_of(mount: str, one_api: Any) -> Iterator[tuple[str, str, Any, Any]]:
    for router in one_api._get_bound_routers():
        prefix = f"{mount}/{router.prefix.strip('/')}"
        for path, path_view in router.path_operations.items():
            for operation in path_view.operations:
                for method in operation.methods:
                    yield (
                        method,
                        f"{prefix.rstrip('/')}/{path.lstrip('/')}",
                        operation.view_func,
                        operation,
                    )


def _page_routes(patterns=None, prefix="") -> Iterator[tuple[str, Any]]:
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "api-v1" or (entry.namespace or "").startswith("govstack-"):
                continue  # the APIs are walked operation by operation
            yield from _page_routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def test_every_api_operation_declares_its_permission():
    operations = list(_api_operations())
    assert len(operations) >= 10  # the walk itself must find the API
    missing = [f"{m} {p}" for m, p, view, _ in operations if declared_permission(view) is None]
    assert not missing, f"API routes without a permission decision: {missing}"


def test_every_declared_permission_exists_in_the_policy():
    for method, path, view, _ in _api_operations():
        kind, value = declared_permission(view)
        if kind == "permission":
            assert value in PERMISSIONS, f"{method} {path} names unknown permission {value}"
        else:
            assert kind == "public" and value.strip(), f"{method} {path} has no reason to be public"


def test_api_routes_are_authenticated_unless_public():
    for method, path, view, operation in _api_operations():
        kind, _ = declared_permission(view)
        if kind != "public":
            assert operation.auth_callbacks, f"{method} {path} has no authentication"


def test_every_page_declares_its_permission():
    routes = list(_page_routes())
    assert any(path.startswith("accounts/login") for path, _ in routes)
    missing = [path for path, view in routes if declared_permission(view) is None]
    assert not missing, f"pages without a permission decision: {missing}"
