"""Platform connectors: what a BPMN service task may call, by name, and nothing else.

A connector receives the case it works for and its parameters (already evaluated FEEL
values) and returns JSON-ready data, which the task may store in a result variable. It
writes inside the step's transaction, so its effect and the saved case state commit
together: a retried case never notifies twice. Mail leaves after commit.

Connectors to the other apps (exchange fetch, pre-fill, verify, source record updates)
are added here as those apps offer services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from cases.choices import NotificationChannel
from cases.errors import ConnectorFailed

if TYPE_CHECKING:
    from cases.models import Case
    from identity.models import User


@dataclass(frozen=True)
class ConnectorContext:
    case: Case
    element_id: str
    actor: User


PlatformConnector = Callable[[ConnectorContext, dict[str, Any]], Any]

MAX_SUBJECT = 300
MAX_BODY = 20_000


def _text(params: dict[str, Any], name: str, *, required: bool, limit: int) -> str:
    value = params.get(name)
    if value is None:
        if required:
            raise ConnectorFailed(f"the connector needs the parameter {name!r}")
        return ""
    if not isinstance(value, str):
        value = str(value)
    if len(value) > limit:
        raise ConnectorFailed(f"the parameter {name!r} is longer than {limit} characters")
    return value


def notify(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """Write a message to the applicant (inbox; `channel: "email"` also mails it)."""
    from cases.models import Notification
    from cases.tasks import notification_send
    from core.tasks import enqueue_on_commit

    channel = params.get("channel") or NotificationChannel.INBOX
    if channel not in NotificationChannel.values:
        raise ConnectorFailed(f"unknown channel {channel!r}")
    subject = _text(params, "subject", required=True, limit=MAX_SUBJECT)
    body = _text(params, "body", required=False, limit=MAX_BODY)
    email = channel == NotificationChannel.EMAIL
    note = Notification.objects.create(
        case=ctx.case,
        recipient_id=ctx.case.applicant_id,
        channel=channel,
        template=_text(params, "template", required=False, limit=80),
        subject=subject,
        body=body,
        sent_at=None if email else timezone.now(),
    )
    if email:
        enqueue_on_commit(notification_send, notification_id=note.pk)
    return {"notification": note.pk}


def emit_event(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """Record a domain event of the case (`name` and an optional `payload` context)."""
    from cases.models import EmittedEvent

    name = _text(params, "name", required=True, limit=120)
    payload = params.get("payload") or {}
    if not isinstance(payload, dict):
        raise ConnectorFailed("the parameter 'payload' must be a context")
    event = EmittedEvent.objects.create(case=ctx.case, name=name, payload=payload)
    return {"event": event.pk}


CONNECTORS: dict[str, PlatformConnector] = {
    "notify": notify,
    "emit_event": emit_event,
}
