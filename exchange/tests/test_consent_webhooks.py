"""Consent webhooks (GovStack Consent API `config/webhook`) delivered through the outbox:
a consent given or withdrawn reaches the subscribed party signed, once per idempotency key;
a failing receiver is retried with back-off, then dead-lettered, and can be replayed."""

import pytest
from django.utils import timezone

from consent import services as consent_services
from core.models import AuditEntry
from exchange.choices import MessageKind
from exchange.events import delivery, services
from exchange.events.testing import Receiver, events_world
from exchange.events.webhooks import EVENT_HEADER, IDEMPOTENCY_HEADER
from exchange.messages import message_log_verify
from exchange.models import Delivery, Event, Message
from exchange.models.events import CONSENT_EVENT_TYPE, DeliveryStatus

pytestmark = pytest.mark.django_db

FAST = delivery.DeliveryConfig(batch=20, lease_seconds=30, timeout_seconds=2, concurrency=4)


@pytest.fixture
def world():
    return events_world()


def _hook(world, receiver, *, events=("consent.given", "consent.withdrawn")):
    """Transport's admin subscribes to consent events; the hook then points at the local
    receiver (the API accepts https:// only, which a test receiver does not serve)."""
    hook = consent_services.webhook_create(
        actor=world["transport_admin"],
        agency=world["transport"],
        payload_url="https://transport.example/consent-hook",
        events=list(events),
    )
    type(hook).objects.filter(pk=hook.pk).update(payload_url=receiver.url)
    receiver.secret = hook.secret
    hook.refresh_from_db()
    return hook


def _give(world):
    return consent_services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["to_transport"].agreement
    )


def _withdraw(world):
    return consent_services.consent_withdraw(
        actor=world["citizen"], person=world["person"], agreement=world["to_transport"].agreement
    )


def test_consent_given_then_withdrawn_reaches_the_webhook_signed(world):
    with Receiver("") as receiver:
        # given Transport's webhook for consent given and withdrawn
        _hook(world, receiver)
        # when the person gives consent, the notice is in the outbox at once (same commit)
        record = _give(world)
        assert Delivery.objects.filter(status=DeliveryStatus.PENDING).count() == 1
        delivery.deliver_due(config=FAST)
        # and withdraws it later
        _withdraw(world)
        delivery.deliver_due(config=FAST)
    # then the receiver verified both signatures with the webhook's secret
    assert (receiver.stats.processed, receiver.stats.refused) == (2, 0)
    given, withdrawn = receiver.stats.bodies
    assert [given["type"], withdrawn["type"]] == ["consent.given", "consent.withdrawn"]
    assert [h[EVENT_HEADER] for h in receiver.stats.headers] == [
        "consent.given",
        "consent.withdrawn",
    ]
    assert withdrawn["data"]["state"] == "withdrawn"
    assert withdrawn["data"]["consent_record"] == str(record.pk)
    assert withdrawn["person"] == world["person"].pk
    assert withdrawn["agreement"] == "address-to-transport"
    # each under its delivery's id as idempotency key
    keys = [h[IDEMPOTENCY_HEADER] for h in receiver.stats.headers]
    assert set(keys) == {str(d.pk) for d in Delivery.objects.all()}
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}
    # and each is a signed entry of the message log and an audit entry about the person
    logged = Message.objects.filter(service=f"event:{CONSENT_EVENT_TYPE}", status="delivered")
    assert logged.count() == 2
    assert message_log_verify().ok
    assert (
        AuditEntry.objects.filter(
            action="event.deliver", subject_person=world["person"].pk, agency="transport"
        ).count()
        == 2
    )


def test_a_failing_consent_webhook_is_retried_then_dead_lettered_then_replayed(world):
    with Receiver("", statuses=[500, 503]) as receiver:
        # given a webhook whose receiver fails twice, and two attempts before the dead letter
        _hook(world, receiver)
        _give(world)
        item = Delivery.objects.get()
        item.subscription.max_attempts = 2
        item.subscription.save(update_fields=["max_attempts"])
        # when the worker tries: the first failure is retried later, with back-off
        delivery.deliver_due(config=FAST)
        item.refresh_from_db()
        assert item.status == DeliveryStatus.PENDING
        assert item.next_attempt_at > timezone.now()
        assert "HTTP 500" in item.reason
        # and when it is due again and fails again, it is dead
        Delivery.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now())
        delivery.deliver_due(config=FAST)
        item.refresh_from_db()
        assert item.status == DeliveryStatus.DEAD
        assert "Failed 2 times" in item.reason
        assert Message.objects.filter(kind=MessageKind.FAILED, status="dead").count() == 1
        # when Transport's admin replays it once the receiver is back
        services.delivery_replay(actor=world["transport_admin"], delivery=item)
        delivery.deliver_due(config=FAST)
    # then it arrived, under the key it always had
    item.refresh_from_db()
    assert item.status == DeliveryStatus.DELIVERED
    assert receiver.stats.processed == 1
    assert receiver.stats.headers[-1][IDEMPOTENCY_HEADER] == str(item.pk)


def test_only_the_events_a_webhook_asks_for_are_sent(world):
    with Receiver("") as receiver:
        # given a webhook for withdrawals only, and a disabled one for everything
        _hook(world, receiver, events=("consent.withdrawn",))
        consent_services.webhook_create(
            actor=world["transport_admin"],
            agency=world["transport"],
            payload_url="https://transport.example/off",
            disabled=True,
        )
        # when the person gives consent, nobody is told
        _give(world)
        assert not Event.objects.filter(type=CONSENT_EVENT_TYPE).exists()
        # and when they withdraw it, only the withdrawals webhook is
        _withdraw(world)
        delivery.deliver_due(config=FAST)
    assert Delivery.objects.count() == 1
    assert [b["type"] for b in receiver.stats.bodies] == ["consent.withdrawn"]


def test_a_webhook_deleted_before_delivery_gets_nothing(world):
    with Receiver("") as receiver:
        # given a notice waiting in the outbox
        hook = _hook(world, receiver)
        _give(world)
        # when the webhook is deleted before the worker runs
        consent_services.webhook_delete(actor=world["transport_admin"], hook=hook)
        delivery.deliver_due(config=FAST)
    # then nothing was sent, and the delivery is withheld with the reason
    assert receiver.stats.requests == 0
    item = Delivery.objects.get()
    assert item.status == DeliveryStatus.WITHHELD
    assert "deleted" in item.reason


def test_consent_notices_stay_out_of_the_persons_told_once_history(world):
    from exchange.events.selectors import event_history_for_person
    from exchange.events.testing import NEW_ADDRESS

    with Receiver("") as receiver:
        # given a consent notice about the person, and a change of address they told us
        _hook(world, receiver)
        _give(world)
        services.event_publish(
            actor=world["citizen"], person=world["person"], type="address", payload=NEW_ADDRESS
        )
    # when the person looks at the changes they told us
    rows = event_history_for_person(viewer=world["citizen"], person=world["person"])
    # then they see their change of address, and not the consent notice
    assert [row.event.type for row in rows] == ["address"]
