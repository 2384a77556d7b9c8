"""API shapes of events, subscriptions, deliveries and inbound senders."""

from datetime import datetime
from typing import Any
from uuid import UUID

from ninja import Field, Schema

from exchange.models.events import DeliveryStatus, EventType

TYPES = "|".join(EventType.values)
STATUSES = "|".join(DeliveryStatus.values)


class EventIn(Schema):
    type: str = Field(..., pattern=f"^({TYPES})$", description="address, name, birth, ...")
    person: str | None = Field(
        None, max_length=16, description="Master person id; a citizen's own when left out."
    )
    payload: dict[str, Any] = Field(..., description="The fields of the event type.")
    occurred_at: datetime | None = None
    source_agency: str | None = Field(
        None, max_length=40, description="Staff: the agency recording the change."
    )
    idempotency_key: str | None = Field(None, max_length=100)


class DeliveryOut(Schema):
    id: UUID
    event: UUID = Field(..., alias="event_id")
    subscriber: str = Field(..., alias="subscription.agency.code")
    subscription: UUID = Field(..., alias="subscription_id")
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    reason: str
    replays: int
    created_at: datetime
    delivered_at: datetime | None


class EventOut(Schema):
    id: UUID
    type: str
    person: str = Field(..., alias="person_id")
    source: str
    occurred_at: datetime
    recorded_at: datetime
    deliveries: int


class HistoryDeliveryOut(Schema):
    subscriber: str
    status: str
    delivered_at: datetime | None
    reason: str


class HistoryOut(Schema):
    id: UUID
    type: str
    source: str
    occurred_at: datetime
    recorded_at: datetime
    data: dict[str, Any]
    deliveries: list[HistoryDeliveryOut]


class SubscriptionIn(Schema):
    event_type: str = Field(..., pattern=f"^({TYPES})$")
    agreement: str = Field(..., max_length=100, description="The data agreement's code.")
    handler: str = Field("", max_length=60, description="An internal handler, or ...")
    url: str = Field("", max_length=500, description="... a webhook URL (http or https).")
    secret: str = Field("", max_length=200, description="Made for you when left out.")
    max_attempts: int = Field(8, ge=1, le=20)


class SubscriptionPatch(Schema):
    active: bool | None = None
    url: str | None = Field(None, max_length=500)
    rotate_secret: bool = False
    max_attempts: int | None = Field(None, ge=1, le=20)


class SubscriptionOut(Schema):
    id: UUID
    agency: str = Field(..., alias="agency.code")
    event_type: str
    agreement: str = Field(..., alias="agreement.code")
    target: str
    handler: str
    url: str
    max_attempts: int
    active: bool
    created_at: datetime


class SubscriptionSecretOut(SubscriptionOut):
    secret: str = Field(..., description="Shown once: keep it to check signatures.")


class SenderIn(Schema):
    key_id: str = Field(..., min_length=3, max_length=60, pattern=r"^[a-z0-9-]+$")
    event_types: list[str] = Field(..., min_length=1, max_length=5)
    secret: str = Field("", max_length=200)


class SenderOut(Schema):
    id: UUID
    key_id: str
    agency: str = Field(..., alias="agency.code")
    event_types: list[str]
    active: bool
    secret: str = Field(..., description="Shown once: sign inbound requests with it.")


class InboundAcceptedOut(Schema):
    event: UUID
    deliveries: int


class ReplayOut(Schema):
    replayed: int
