"""The exchange's tables: the service catalogue, the signed message log, and events."""

from exchange.models.catalogue import DataService
from exchange.models.events import (
    Delivery,
    Event,
    EventSender,
    InboundReceipt,
    Subscription,
)
from exchange.models.messages import Message

__all__ = [
    "DataService",
    "Delivery",
    "Event",
    "EventSender",
    "InboundReceipt",
    "Message",
    "Subscription",
]
