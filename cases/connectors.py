"""Platform connectors: what a BPMN service task may call, by name, and nothing else.

A connector receives the case it works for and its parameters (already evaluated FEEL
values) and returns JSON-ready data, which the task may store in a result variable. It
writes inside the step's transaction, so its effect and the saved case state commit
together: a retried case never notifies twice. Mail leaves after commit.

The registry connector (`prefill`) reads personal data through the registry's selectors,
as the platform account, for the case's stated purpose: every read is authorised there and
audited. The exchange connectors ask another agency's data service through the mediated
exchange (`fetch`: the data agreement and, where it rests on consent, the applicant's
consent are checked there, and only the agreed attributes come back) and tell every
subscribing agency of a change of circumstances once (`publish_event`, through the events
outbox, so a change reaches each agency's record under its own agreement).
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
    """Write a message to the applicant: in the portal inbox; `channel: "email"` also mails
    it, `channel: "sms"` also texts it to the phone of the applicant's golden record (none:
    it stays in the inbox and the reason is stored on it)."""
    from cases.models import Notification
    from cases.services.notifications import DELIVERED, notification_queue
    from core import sql

    channel = params.get("channel") or NotificationChannel.INBOX
    if channel not in {*NotificationChannel.values, *DELIVERED}:
        raise ConnectorFailed(f"unknown channel {channel!r}")
    subject = _text(params, "subject", required=True, limit=MAX_SUBJECT)
    body = _text(params, "body", required=False, limit=MAX_BODY)
    note = Notification(
        case_id=ctx.case.pk,
        recipient_id=ctx.case.applicant_id,
        channel=channel,
        template=_text(params, "template", required=False, limit=80),
        subject=subject,
        body=body,
        sent_at=None if channel in DELIVERED else timezone.now(),
    )
    sql.insert([note])  # the engine's hot path: see core.sql
    notification_queue(note)
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


# --- the registry: pre-fill from what government knows, and "tell us once" -----------------

# The agencies' own attributes a pre-fill passes on (record.extra), by agency code.
PREFILL_EXTRAS = {
    "health": ("health_number", "gp_practice"),
    "revenue": ("income_band", "employment_status"),
    "social-services": ("benefit_reference", "service"),
    "transport": ("licence_categories",),
}


def _applicant_person_view(ctx: ConnectorContext, purpose: str) -> Any:
    """The applicant's master person as the registry shows it to the platform (audited),
    or None when the applicant's account is linked to no person yet."""
    from registry.selectors.persons import person_get
    from registry.services.citizens import citizen_person

    person = citizen_person(user=ctx.case.applicant)
    if person is None:
        return None
    return person_get(viewer=ctx.actor, person_id=person.pk, purpose=purpose)


def _golden_value(golden: dict[str, Any], name: str) -> Any:
    entry = golden.get(name)
    return entry.get("value") if isinstance(entry, dict) else None


def prefill(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """What the registry knows of the applicant: golden record fields, and per agency the
    linked record's facts (found or not). Optional `agencies`: the agencies to read."""
    wanted = params.get("agencies") or list(PREFILL_EXTRAS)
    if not isinstance(wanted, list) or not all(isinstance(a, str) for a in wanted):
        raise ConnectorFailed("the parameter 'agencies' must be a list of agency codes")
    purpose = _text(params, "purpose", required=False, limit=200) or "pre-fill an application"
    view = _applicant_person_view(ctx, f"{purpose} (case {ctx.case.reference})")
    answer: dict[str, Any] = {"found": view is not None}
    golden = view.golden if view is not None else {}
    for name in ("given_name", "family_name", "date_of_birth", "address_line", "postcode"):
        answer[name] = _golden_value(golden, name)
    answer["person"] = view.person.pk if view is not None else None
    records = view.records if view is not None else []
    for code in wanted:
        record = next((r for r in records if r.agency.code == code), None)
        facts: dict[str, Any] = {"found": record is not None}
        if record is not None:
            extra = record.extra or {}
            facts["date_of_birth"] = (
                record.date_of_birth.isoformat() if record.date_of_birth else None
            )
            for key in PREFILL_EXTRAS.get(code, ()):
                facts[key] = extra.get(key)
        answer[code.replace("-", "_")] = facts
    return answer


def fetch(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """Ask `provider`'s data service `service` about the applicant, for `purpose`.

    A refusal (no consent, no agreement in force) is an answer, not a failure: the result
    says `found: false` with the refusal's code, so the process can route the case to a
    person. An agency system that cannot answer stops the case (needs attention, retried).
    """
    from core.errors import ApplicationError
    from exchange.errors import ProviderUnavailable
    from exchange.services import exchange_request
    from registry.services.citizens import citizen_person

    provider = _text(params, "provider", required=True, limit=40)
    service = _text(params, "service", required=True, limit=80)
    purpose = _text(params, "purpose", required=True, limit=80)
    arguments = params.get("params") or {}
    if not isinstance(arguments, dict):
        raise ConnectorFailed("the parameter 'params' must be a context")
    person = citizen_person(user=ctx.case.applicant)
    if person is None:
        return {"found": False, "refused": "person_not_linked"}
    try:
        answer = exchange_request(
            actor=ctx.actor,
            consumer=ctx.case.agency,
            provider_code=provider,
            service_code=service,
            person_id=person.pk,
            purpose=purpose,
            case_ref=ctx.case.reference,
            params=arguments,
        )
    except ProviderUnavailable as exc:
        raise ConnectorFailed(f"{provider} could not answer: {exc.detail}") from exc
    except ApplicationError as exc:
        return {"found": False, "refused": exc.code, "reason": exc.detail}
    return {"found": True, **answer.data, "exchange": str(answer.exchange_id)}


def publish_event(ctx: ConnectorContext, params: dict[str, Any]) -> dict[str, Any]:
    """Tell us once: record a change of the applicant's circumstances (`type`, `payload`)
    as an exchange event. Every agency subscribed to the type gets it through the outbox,
    under its data agreement (and consent where that is the basis). Idempotent per case
    and task: a retried step publishes nothing more."""
    from core.errors import ApplicationError
    from exchange.events.services import event_publish
    from registry.services.citizens import citizen_person

    kind = _text(params, "type", required=True, limit=40)
    payload = params.get("payload") or {}
    if not isinstance(payload, dict):
        raise ConnectorFailed("the parameter 'payload' must be a context")
    person = citizen_person(user=ctx.case.applicant)
    if person is None:
        raise ConnectorFailed("the applicant's account is not linked to a person in the registry")
    try:
        event = event_publish(
            actor=ctx.actor,
            person=person,
            type=kind,
            payload=payload,
            idempotency_key=f"case:{ctx.case.reference}:{ctx.element_id}",
        )
    except ApplicationError as exc:
        raise ConnectorFailed(f"the event was refused: {exc.detail} {exc.errors or ''}") from exc
    subscribers = sorted(set(event.deliveries.values_list("subscription__agency__code", flat=True)))
    return {"event": str(event.pk), "subscribers": subscribers}


CONNECTORS: dict[str, PlatformConnector] = {
    "notify": notify,
    "emit_event": emit_event,
    "prefill": prefill,
    "fetch": fetch,
    "publish_event": publish_event,
}
