"""Audit trail interface (placeholder: the hash-chained store replaces this body)."""

from typing import Any


def record(
    *,
    actor: Any,
    action: str,
    subject_person: str | None = None,
    target: Any = None,
    purpose: str = "",
    agency: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    return None
