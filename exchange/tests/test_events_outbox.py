"""Tell us once: publishing an event writes it and its deliveries together, or nothing."""

import pytest

from core.errors import PermissionDenied
from core.models import AuditEntry
from exchange.events import services
from exchange.events.errors import EventKeyReused, EventPayloadInvalid, EventPayloadTooLarge
from exchange.events.testing import NEW_ADDRESS, Receiver, events_world
from exchange.models import Delivery, Event
from exchange.models.events import DeliveryStatus
from identity.services import system_actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    return events_world()


def _subscribe(world, *, url="http://127.0.0.1:9/hook"):
    system = system_actor()
    internal = services.subscription_create(
        actor=system,
        agency=world["health"],
        event_type="address",
        agreement=world["to_health"].agreement,
        handler="registry.address",
    )
    webhook = services.subscription_create(
        actor=system,
        agency=world["transport"],
        event_type="address",
        agreement=world["to_transport"].agreement,
        url=url,
    )
    return internal, webhook


def test_publish_writes_the_event_and_one_delivery_per_active_subscription(world):
    # given two agencies subscribed to address changes and one that stopped
    internal, webhook = _subscribe(world)
    services.subscription_create(
        actor=system_actor(),
        agency=world["health"],
        event_type="name",
        agreement=world["to_health"].agreement,
        handler="registry.name",
    )
    services.subscription_end(actor=system_actor(), subscription=webhook)
    # when the citizen tells us their new address
    event = services.event_publish(
        actor=world["citizen"], person=world["person"], type="address", payload=NEW_ADDRESS
    )
    # then the event is kept for the person, with a pending delivery for the active one only
    assert event.source == "citizen-portal"
    deliveries = list(Delivery.objects.filter(event=event))
    assert [d.subscription_id for d in deliveries] == [internal.pk]
    assert deliveries[0].status == DeliveryStatus.PENDING
    # and the change is in the audit trail against the person
    entry = AuditEntry.objects.get(action="event.publish")
    assert entry.subject_person == world["person"].pk
    assert entry.data["deliveries"] == 1


def test_event_and_deliveries_commit_together_or_not_at_all(world, monkeypatch):
    # given a subscriber, and an audit trail that fails after the deliveries are written
    _subscribe(world)
    from exchange.events import services as module

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(module.audit, "record", broken)
    # when the citizen publishes
    with pytest.raises(RuntimeError):
        services.event_publish(
            actor=world["citizen"], person=world["person"], type="address", payload=NEW_ADDRESS
        )
    # then neither the event nor any delivery was written
    assert not Event.objects.exists()
    assert not Delivery.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"address_line": "2 New Street"}, "payload.postcode"),
        ({**NEW_ADDRESS, "colour": "blue"}, "payload.colour"),
        ({**NEW_ADDRESS, "postcode": "X" * 40}, "payload.postcode"),
        ({**NEW_ADDRESS, "moved_on": "yesterday"}, "payload.moved_on"),
    ],
)
def test_an_invalid_payload_is_refused_by_field_and_nothing_is_written(world, payload, field):
    # given a subscriber
    _subscribe(world)
    # when the payload is not a valid address change
    with pytest.raises(EventPayloadInvalid) as refused:
        services.event_publish(
            actor=world["citizen"], person=world["person"], type="address", payload=payload
        )
    # then the reason names the field, and nothing was written
    assert field in refused.value.errors
    assert not Event.objects.exists()


def test_an_oversized_payload_is_refused_with_413(world):
    # when a payload is far larger than any change of circumstances
    with pytest.raises(EventPayloadTooLarge) as refused:
        services.event_publish(
            actor=world["citizen"],
            person=world["person"],
            type="address",
            payload={**NEW_ADDRESS, "address_line": "x" * 20_000},
        )
    # then it is refused as too large, before anything is written
    assert refused.value.status == 413
    assert not Event.objects.exists()


def test_the_same_idempotency_key_returns_the_first_event(world):
    # given an event published with a key
    _subscribe(world)
    first = services.event_publish(
        actor=world["citizen"],
        person=world["person"],
        type="address",
        payload=NEW_ADDRESS,
        idempotency_key="move-2026-01",
    )
    # when the same request comes again (a retry after a lost answer)
    again = services.event_publish(
        actor=world["citizen"],
        person=world["person"],
        type="address",
        payload=NEW_ADDRESS,
        idempotency_key="move-2026-01",
    )
    # then it is the same event, delivered once
    assert again.pk == first.pk
    assert Event.objects.count() == 1
    assert Delivery.objects.count() == 2
    # and a different change under the same key is refused
    with pytest.raises(EventKeyReused):
        services.event_publish(
            actor=world["citizen"],
            person=world["person"],
            type="address",
            payload={**NEW_ADDRESS, "postcode": "ZZ9 9ZZ"},
            idempotency_key="move-2026-01",
        )


def test_a_citizen_cannot_tell_us_about_someone_else(world):
    # given another citizen with a person of their own
    from consent.tests.factories import linked_citizen

    other, _ = linked_citizen(username="other")
    # when they try to change the first citizen's address
    with pytest.raises(PermissionDenied):
        services.event_publish(
            actor=other, person=world["person"], type="address", payload=NEW_ADDRESS
        )
    # then nothing is recorded
    assert not Event.objects.exists()


def test_delivery_is_queued_after_commit_and_reaches_the_subscriber(
    world, django_capture_on_commit_callbacks
):
    # given a webhook subscriber with a consent to it, listening on a local port
    with Receiver("") as receiver:
        _, webhook = _subscribe(world, url=receiver.url)
        receiver.secret = webhook.secret
        from consent.services import consent_give

        consent_give(
            actor=world["citizen"],
            person=world["person"],
            agreement=world["to_transport"].agreement,
        )
        # when the event is published and its transaction commits
        with django_capture_on_commit_callbacks(execute=True):
            event = services.event_publish(
                actor=world["citizen"], person=world["person"], type="address", payload=NEW_ADDRESS
            )
    # then the task queued on commit delivered it to both subscribers
    assert receiver.stats.processed == 1
    assert receiver.stats.bodies[0]["event"] == str(event.pk)
    statuses = set(Delivery.objects.filter(event=event).values_list("status", flat=True))
    assert statuses == {DeliveryStatus.DELIVERED}
