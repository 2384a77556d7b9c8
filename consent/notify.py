"""Consent changes told to the layers above: how consent webhooks get delivered.

Third parties subscribe to consent events through the GovStack Consent API
(`ConsentWebhook`), but deliveries go through the exchange's transactional outbox (signed,
retried, dead-lettered, replayable), and the exchange builds on consent: consent must not
import it. So consent names what happened, a `ConsentChange`, and hands it to the
publishers registered here, inside the transaction that records the change. The exchange
registers its publisher in its AppConfig.ready; it writes the notification to its outbox in
the same transaction, so a change and its notifications commit, or roll back, together.

One registry, called from one place (`consent.services.consent_set`): an explicit call, not
a Django signal. Without a publisher (the exchange not installed) nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from consent.models import ConsentRecord, ConsentRevision, DataAgreementVersion
from identity.models import User

#: The GovStack webhook event each consent state is told as.
EVENT_FOR_STATE = {
    "given": "consent.given",
    "refused": "consent.refused",
    "withdrawn": "consent.withdrawn",
}


@dataclass(frozen=True)
class ConsentChange:
    """One recorded answer: the record as it now stands and the revision that made it."""

    event: str  # consent.given | consent.refused | consent.withdrawn
    record: ConsentRecord
    revision: ConsentRevision
    version: DataAgreementVersion
    actor: User


Publisher = Callable[[ConsentChange], None]

_publishers: list[Publisher] = []


def publisher_register(publisher: Publisher) -> None:
    """Add a publisher (once, however often it is registered)."""
    if publisher not in _publishers:
        _publishers.append(publisher)


def publisher_unregister(publisher: Publisher) -> None:
    if publisher in _publishers:
        _publishers.remove(publisher)


def consent_changed(change: ConsentChange) -> None:
    """Hand the change to every publisher, inside the caller's transaction (a publisher
    that fails rolls the change back: a change is never recorded without its notices)."""
    for publisher in list(_publishers):
        publisher(change)
