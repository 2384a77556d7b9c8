"""Reads of the exchange: the catalogue, and the message log for auditors."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.db.models import Q, QuerySet

from core import audit
from core.timezones import in_utc
from exchange.errors import MessageNotFound, ServiceNotFound
from exchange.models import DataService, Message
from identity import policy
from identity.choices import Role
from identity.models import Agency, User


def data_service_list(*, viewer: User, provider: Agency | None = None) -> QuerySet[DataService]:
    policy.authorize(viewer, "data_service.view")
    services = DataService.objects.select_related("provider").filter(active=True)
    if provider is not None:
        services = services.filter(provider=provider)
    return services


def data_service_get(*, viewer: User, provider_code: str, code: str) -> DataService:
    policy.authorize(viewer, "data_service.view")
    service = (
        DataService.objects.select_related("provider")
        .filter(provider__code=provider_code, code=code)
        .first()
    )
    if service is None:
        raise ServiceNotFound(f"{provider_code} publishes no service {code!r}.")
    return service


def message_list(
    *,
    viewer: User,
    agency: str = "",
    person: str = "",
    kind: str = "",
    exchange_id: Any = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Message]:
    """Newest first; platform admins see all, agency admins their agency's exchanges."""
    policy.authorize(viewer, "message_log.view")
    messages = Message.objects.defer("body").order_by("-seq")
    if not policy.is_platform_admin(viewer):
        codes = list(
            Agency.objects.filter(
                pk__in=policy.agencies_where(viewer, Role.AGENCY_ADMIN)
            ).values_list("code", flat=True)
        )
        messages = messages.filter(Q(consumer__in=codes) | Q(provider__in=codes))
    if agency:
        messages = messages.filter(Q(consumer=agency) | Q(provider=agency))
    if person:
        messages = messages.filter(person=person)
    if kind:
        messages = messages.filter(kind=kind)
    if exchange_id:
        messages = messages.filter(exchange_id=exchange_id)
    if since is not None:
        messages = messages.filter(created_at__gte=in_utc(since))
    if until is not None:
        messages = messages.filter(created_at__lt=in_utc(until))
    return messages


def message_get(*, viewer: User, seq: int, purpose: str = "audit the message log") -> Message:
    """One entry with its decrypted body; reading a body about a person is audited."""
    message = Message.objects.filter(seq=seq).first()
    if message is None:
        raise MessageNotFound()
    agencies = Agency.objects.filter(code__in=[message.consumer, message.provider])
    ids = {a.code: a.pk for a in agencies}

    parties = SimpleNamespace(
        consumer_id=ids.get(message.consumer), provider_id=ids.get(message.provider)
    )
    policy.authorize(viewer, "message_log.view", parties)
    if message.person and message.body:
        audit.record(
            actor=viewer,
            action="message_log.read",
            subject_person=message.person,
            target=f"message:{message.seq}",
            purpose=purpose,
            data={"exchange": str(message.exchange_id)},
        )
    return message


def message_summary(message: Message) -> dict[str, Any]:
    return {
        "seq": message.seq,
        "exchange_id": str(message.exchange_id),
        "kind": message.kind,
        "time": message.created_at.isoformat(),
        "consumer": message.consumer,
        "provider": message.provider,
        "service": message.service,
        "person": message.person,
        "purpose": message.purpose,
        "case_ref": message.case_ref,
        "actor": message.actor,
        "client": message.client,
        "status": message.status,
        "reason": message.reason,
        "hash": message.hash,
        "prev_hash": message.prev_hash,
        "key_id": message.key_id,
        "signature": message.signature,
    }
