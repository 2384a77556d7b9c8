"""The events API (mounted at /api/v1/exchange/events): tell us once, subscriptions,
deliveries and the dead-letter list, replay, and the signed inbound webhook.

The inbound endpoint takes no session or token: the sender's HMAC-SHA256 signature over
timestamp, idempotency key and body authenticates it (see exchange.events.webhooks). Forged
or missing signatures answer 401, a key used before 409 (`webhook_replayed`), an old
timestamp 401 (`webhook_timestamp_invalid`), a too large body 413; each is logged.
"""

from typing import Annotated, Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Path, Query, Router, Schema, Status
from ninja.pagination import paginate

from consent.models import DataAgreement
from core.errors import NotFound, ValidationFailed
from core.pagination import Paging
from exchange.events import selectors, services
from exchange.events.errors import WebhookTooLarge
from exchange.events.schemas import (
    STATUSES,
    DeliveryOut,
    EventIn,
    EventOut,
    HistoryOut,
    InboundAcceptedOut,
    ReplayOut,
    SenderIn,
    SenderOut,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
    SubscriptionSecretOut,
)
from exchange.events.services import MAX_INBOUND_BYTES
from exchange.events.webhooks import IDEMPOTENCY_HEADER, SENDER_HEADER
from exchange.models import Event
from identity import policy
from identity import selectors as identity_selectors
from identity.models import User
from registry.models import Person

router = Router(tags=["events"])

AgencyCode = Annotated[str, Path(..., min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")]
PersonId = Annotated[str, Path(..., min_length=1, max_length=16, pattern=r"^[A-Za-z0-9-]+$")]


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _event_out(event: Event) -> dict[str, Any]:
    return {
        "id": event.pk,
        "type": event.type,
        "person_id": event.person_id,
        "source": event.source,
        "occurred_at": event.occurred_at,
        "recorded_at": event.recorded_at,
        "deliveries": event.deliveries.count(),
    }


def _person_for(user: User, person_id: str | None) -> Person:
    if person_id is None:
        if not user.is_citizen:
            raise ValidationFailed(errors={"person": ["is required"]})
        from registry.services.citizens import citizen_person

        own = citizen_person(user=user)
        if own is None:
            raise NotFound("Your account is not linked to a person in the registry yet.")
        return own
    person = Person.objects.filter(pk=person_id).first()
    if person is None:
        raise NotFound(f"No person {person_id}.")
    return person


# --- tell us once --------------------------------------------------------------------------


@router.post(
    "",
    response={201: EventOut},
    operation_id="event_publish",
    summary="Tell us once: record a change of circumstances",
    description=(
        "The event and one delivery per subscribing agency are written together; the "
        "deliveries leave through the outbox. The same `idempotency_key` (or "
        "Idempotency-Key header) again returns the first event."
    ),
)
@policy.requires("event.publish")
def event_publish(request: HttpRequest, payload: EventIn) -> Status[dict[str, Any]]:
    user = _user(request)
    person = _person_for(user, payload.person)
    source = (
        identity_selectors.agency_get(code=payload.source_agency) if payload.source_agency else None
    )
    key = payload.idempotency_key or request.headers.get(IDEMPOTENCY_HEADER, "")[:101]
    event = services.event_publish(
        actor=user,
        person=person,
        type=payload.type,
        payload=payload.payload,
        source_agency=source,
        occurred_at=payload.occurred_at,
        idempotency_key=key,
    )
    return Status(201, _event_out(event))


def _history(entries: list[selectors.HistoryEntry]) -> list[dict[str, Any]]:
    return [
        {
            "id": e.event.pk,
            "type": e.event.type,
            "source": e.event.source,
            "occurred_at": e.event.occurred_at,
            "recorded_at": e.event.recorded_at,
            "data": e.data,
            "deliveries": [
                {
                    "subscriber": d.subscription.agency.code,
                    "status": d.status,
                    "delivered_at": d.delivered_at,
                    "reason": d.reason,
                }
                for d in e.deliveries
            ],
        }
        for e in entries
    ]


@router.get(
    "/mine",
    response=list[HistoryOut],
    operation_id="event_history_own",
    summary="A citizen's own changes of circumstances and where each went",
)
@policy.decided_in_service("event.publish")
def event_history_own(request: HttpRequest) -> list[dict[str, Any]]:
    user = _user(request)
    person = _person_for(user, None)
    return _history(selectors.event_history_for_person(viewer=user, person=person))


@router.get(
    "/persons/{person_id}",
    response=list[HistoryOut],
    operation_id="event_history_for_person",
    summary="A person's event history (the person themself, or operators)",
)
@policy.decided_in_service("event.manage")
def event_history_for_person(request: HttpRequest, person_id: PersonId) -> list[dict[str, Any]]:
    user = _user(request)
    person = _person_for(user, person_id)
    return _history(selectors.event_history_for_person(viewer=user, person=person))


# --- subscriptions -------------------------------------------------------------------------


class SubscriptionFilter(Schema):
    agency: str | None = None


@router.get(
    "/subscriptions",
    response=list[SubscriptionOut],
    operation_id="event_subscription_list",
    summary="Subscriptions (of the agencies one administers)",
)
@policy.requires("event.subscribe")
@paginate(Paging)
def subscription_list(request: HttpRequest, filters: Query[SubscriptionFilter]) -> Any:
    agency = identity_selectors.agency_get(code=filters.agency) if filters.agency else None
    return selectors.subscription_list(viewer=_user(request), agency=agency)


@router.post(
    "/agencies/{code}/subscriptions",
    response={201: SubscriptionSecretOut},
    operation_id="event_subscription_create",
    summary="Subscribe an agency to an event type under a data agreement",
)
@policy.requires("event.subscribe")
def subscription_create(
    request: HttpRequest, code: AgencyCode, payload: SubscriptionIn
) -> Status[Any]:
    agency = identity_selectors.agency_get(code=code)
    agreement = DataAgreement.objects.filter(code=payload.agreement).first()
    if agreement is None:
        raise ValidationFailed(errors={"agreement": ["no data agreement with this code"]})
    subscription = services.subscription_create(
        actor=_user(request),
        agency=agency,
        event_type=payload.event_type,
        agreement=agreement,
        handler=payload.handler,
        url=payload.url,
        secret=payload.secret,
        max_attempts=payload.max_attempts,
    )
    return Status(201, subscription)


@router.get(
    "/subscriptions/{subscription_id}",
    response=SubscriptionOut,
    operation_id="event_subscription_get",
)
@policy.requires("event.subscribe")
def subscription_get(request: HttpRequest, subscription_id: UUID) -> Any:
    return selectors.subscription_get(viewer=_user(request), subscription_id=subscription_id)


@router.patch(
    "/subscriptions/{subscription_id}",
    response=SubscriptionSecretOut,
    operation_id="event_subscription_update",
    summary="Pause or resume, move the webhook, rotate its secret (shown once)",
)
@policy.requires("event.subscribe")
def subscription_update(
    request: HttpRequest, subscription_id: UUID, payload: SubscriptionPatch
) -> Any:
    user = _user(request)
    subscription = selectors.subscription_get(viewer=user, subscription_id=subscription_id)
    updated = services.subscription_update(
        actor=user,
        subscription=subscription,
        active=payload.active,
        url=payload.url,
        rotate_secret=payload.rotate_secret,
        max_attempts=payload.max_attempts,
    )
    if not payload.rotate_secret:
        updated.secret = ""  # a secret is shown when it is made, never again
    return updated


@router.delete(
    "/subscriptions/{subscription_id}",
    response={204: None},
    operation_id="event_subscription_end",
    summary="End a subscription (kept with its deliveries)",
)
@policy.requires("event.subscribe")
def subscription_end(request: HttpRequest, subscription_id: UUID) -> Status[None]:
    user = _user(request)
    subscription = selectors.subscription_get(viewer=user, subscription_id=subscription_id)
    services.subscription_end(actor=user, subscription=subscription)
    return Status(204, None)


@router.post(
    "/subscriptions/{subscription_id}/replay",
    response=ReplayOut,
    operation_id="event_subscription_replay_dead",
    summary="Replay every dead delivery of a subscription",
)
@policy.requires("event.manage")
def subscription_replay_dead(request: HttpRequest, subscription_id: UUID) -> dict[str, int]:
    user = _user(request)
    found = selectors.subscription_get(viewer=user, subscription_id=subscription_id)
    return {"replayed": services.deliveries_replay_dead(actor=user, subscription=found)}


# --- deliveries and the dead-letter list ---------------------------------------------------


class DeliveryFilter(Schema):
    status: str | None = None
    agency: str | None = None

    def checked_status(self) -> str | None:
        if self.status and self.status not in STATUSES.split("|"):
            raise ValidationFailed(errors={"status": [STATUSES.replace("|", ", ")]})
        return self.status


@router.get(
    "/deliveries",
    response=list[DeliveryOut],
    operation_id="event_delivery_list",
    summary="Deliveries, newest first; status=dead is the dead-letter list",
)
@policy.requires("event.manage")
@paginate(Paging)
def delivery_list(request: HttpRequest, filters: Query[DeliveryFilter]) -> Any:
    agency = identity_selectors.agency_get(code=filters.agency) if filters.agency else None
    return selectors.delivery_list(
        viewer=_user(request), status=filters.checked_status(), agency=agency
    )


@router.get(
    "/dead-letter",
    response=list[DeliveryOut],
    operation_id="event_dead_letter_list",
    summary="Deliveries that failed for good",
)
@policy.requires("event.manage")
@paginate(Paging)
def dead_letter_list(request: HttpRequest) -> Any:
    return selectors.delivery_list(viewer=_user(request), status="dead")


@router.post(
    "/deliveries/{delivery_id}/replay",
    response=DeliveryOut,
    operation_id="event_delivery_replay",
    summary="Send a dead or withheld delivery again (same idempotency key)",
)
@policy.requires("event.manage")
def delivery_replay(request: HttpRequest, delivery_id: UUID) -> Any:
    user = _user(request)
    found = selectors.delivery_get(viewer=user, delivery_id=delivery_id)
    return services.delivery_replay(actor=user, delivery=found)


# --- inbound: agencies' own systems --------------------------------------------------------


@router.post(
    "/agencies/{code}/senders",
    response={201: SenderOut},
    operation_id="event_sender_register",
    summary="Let an agency's own system post events (returns its shared secret once)",
)
@policy.requires("event.manage")
def sender_register(request: HttpRequest, code: AgencyCode, payload: SenderIn) -> Status[Any]:
    agency = identity_selectors.agency_get(code=code)
    sender = services.sender_register(
        actor=_user(request),
        agency=agency,
        key_id=payload.key_id,
        event_types=payload.event_types,
        secret=payload.secret,
    )
    return Status(201, sender)


@router.post(
    "/inbound",
    response={202: InboundAcceptedOut},
    operation_id="event_inbound",
    summary="An agency system posts an event, signed with its shared secret",
    description=(
        "Headers: CivicStack-Sender (the key id), CivicStack-Timestamp (Unix seconds), "
        "Idempotency-Key, CivicStack-Signature (`v1=` hex HMAC-SHA256 of "
        '`"{timestamp}.{key}." + body`). Body: `{"type", "record" (your record id) or '
        '"person", "payload", "occurred_at"}`.'
    ),
    auth=None,
)
@policy.public("authenticated by the sender's HMAC-SHA256 signature, checked in the service")
def inbound(request: HttpRequest) -> Status[dict[str, Any]]:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > services.MAX_INBOUND_BYTES:
        error = WebhookTooLarge(
            f"The body is {int(declared):,} bytes; at most {MAX_INBOUND_BYTES:,} are accepted.",
            limit=MAX_INBOUND_BYTES,
        )
        services.inbound_refusal_log(error, sender_key=request.headers.get(SENDER_HEADER, ""))
        raise error
    event = services.inbound_event_receive(
        sender_key=request.headers.get(SENDER_HEADER, ""),
        headers=request.headers,
        body=request.body,
    )
    return Status(202, {"event": event.pk, "deliveries": event.deliveries.count()})
