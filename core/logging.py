"""Structured logs: one JSON object per line, and every line made during a request carries
that request's id (``request_id``), so one request's lines can be pulled out of a busy log.

Fields of every line: ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``,
``request_id`` (empty outside a request), plus any ``extra={...}`` the caller passed, and
``exc_info`` with the traceback when there is one. Django attaches the request object to
some records; it is dropped, because its text includes the query string, which can hold
personal data.
"""

import contextvars
import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# Attributes some libraries attach to records that must never reach the log as text.
_DROPPED = ("request",)


class RequestIdFilter(logging.Filter):
    """Stamp the current request id on a record (kept for handlers that filter on it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(_JsonFormatter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", ["levelname", "name", "message", "request_id"])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        super().__init__(*args, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        if not getattr(record, "request_id", ""):
            # Django logs a response's 4xx/5xx line after the middleware has returned, with
            # the request attached: take the id from there, else from the current request.
            attached = getattr(getattr(record, "request", None), "request_id", "")
            if not (isinstance(attached, str) and attached):
                attached = request_id_var.get()
            record.request_id = attached
        super().add_fields(log_data, record, message_dict)
        for name in _DROPPED:
            log_data.pop(name, None)
