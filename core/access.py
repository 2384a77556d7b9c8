"""Markers every route carries: which permission decides it, or why it is public.

The decision itself lives in ``identity.policy``; core only defines the marker so that
low-level routes (health checks) can declare themselves and a test can walk every route.
"""

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

PERMISSION_ATTR = "civicstack_permission"


def public(reason: str) -> Callable[[F], F]:
    """Declare a route open to anyone, with the reason it is safe to be."""
    if not reason.strip():
        raise ValueError("a public route must say why it is public")

    def decorate(view: F) -> F:
        setattr(view, PERMISSION_ATTR, ("public", reason))
        return view

    return decorate


def mark(view: F, kind: str, value: str) -> F:
    setattr(view, PERMISSION_ATTR, (kind, value))
    return view


def declared_permission(view: Callable[..., Any]) -> tuple[str, str] | None:
    """What a route declared, following decorators that wrap it."""
    current: Any = view
    for _ in range(10):
        if current is None:
            break
        declared = getattr(current, PERMISSION_ATTR, None)
        if declared:
            return (str(declared[0]), str(declared[1]))
        current = getattr(current, "__wrapped__", None)
    return None
