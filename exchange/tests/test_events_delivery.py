"""Delivering events: signed webhooks, internal subscribers, back-off, dead letters, replay,
leases of killed workers, and deliveries withheld for want of agreement or consent."""

import json
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from consent.services import consent_give, consent_withdraw
from core.models import AuditEntry
from exchange.choices import MessageKind
from exchange.events import delivery, services
from exchange.events.testing import NEW_ADDRESS, Receiver, events_world
from exchange.events.webhooks import IDEMPOTENCY_HEADER, verify
from exchange.messages import message_log_verify
from exchange.models import Delivery, Message
from exchange.models.events import DeliveryStatus
from identity.services import system_actor
from registry.models import SourceRecord

pytestmark = pytest.mark.django_db

FAST = delivery.DeliveryConfig(batch=20, lease_seconds=30, timeout_seconds=2, concurrency=4)


@pytest.fixture
def world():
    return events_world()


def _webhook(world, url, *, max_attempts=8):
    return services.subscription_create(
        actor=system_actor(),
        agency=world["transport"],
        event_type="address",
        agreement=world["to_transport"].agreement,
        url=url,
        max_attempts=max_attempts,
    )


def _consent(world):
    consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["to_transport"].agreement
    )


def _publish(world, payload=NEW_ADDRESS):
    return services.event_publish(
        actor=world["citizen"], person=world["person"], type="address", payload=payload
    )


def _make_due(item):
    Delivery.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now())


def test_a_webhook_gets_a_signed_event_with_only_the_agreed_fields(world):
    with Receiver("") as receiver:
        # given Transport subscribed by webhook, and the person's consent to it
        subscription = _webhook(world, receiver.url)
        receiver.secret = subscription.secret
        _consent(world)
        event = _publish(world)
        # when the worker runs
        counts = delivery.deliver_due(config=FAST)
    # then the receiver verified the signature and got the event once
    assert counts.delivered == 1
    assert (receiver.stats.processed, receiver.stats.refused) == (1, 0)
    body = receiver.stats.bodies[0]
    # with only the fields the agreement shares (not the locality), and Transport's record
    assert body["data"] == {"address_line": "2 New Street", "postcode": "NT2 2BB"}
    assert body["records"] == ["T1"]
    assert body["person"] == world["person"].pk
    item = Delivery.objects.get(event=event)
    assert receiver.stats.headers[0][IDEMPOTENCY_HEADER] == str(item.pk)
    assert item.status == DeliveryStatus.DELIVERED
    # and the movement is a signed message-log entry and an audit entry about the person
    message = Message.objects.get(service="event:address")
    assert (message.kind, message.consumer, message.provider) == (
        MessageKind.RESPONSE,
        "transport",
        "citizen-portal",
    )
    assert json.loads(message.body)["data"] == body["data"]
    assert message_log_verify().ok
    audit = AuditEntry.objects.get(action="event.deliver")
    assert (audit.subject_person, audit.agency) == (world["person"].pk, "transport")


def test_a_forged_signature_is_not_accepted_by_a_checking_receiver(world):
    # given a receiver that holds a different secret than the subscription
    with Receiver("not-the-shared-secret-at-all-0123") as receiver:
        _webhook(world, receiver.url, max_attempts=1)
        _consent(world)
        _publish(world)
        # when the event is sent
        delivery.deliver_due(config=FAST)
    # then the receiver refused it (401): a refusal for good, on the dead-letter list
    assert (receiver.stats.refused, receiver.stats.processed) == (1, 0)
    item = Delivery.objects.get()
    assert item.status == DeliveryStatus.DEAD
    assert item.last_status_code == 401


def test_failures_back_off_exponentially_then_go_to_the_dead_letter_list(world):
    # given a receiver that fails every time, and three attempts allowed
    with Receiver("", statuses=[500] * 10) as receiver:
        _webhook(world, receiver.url, max_attempts=3)
        _consent(world)
        _publish(world)
        config = delivery.DeliveryConfig(
            batch=10, lease_seconds=30, timeout_seconds=2, concurrency=2, backoff_seconds=60
        )
        waits = []
        for _ in range(3):
            before = timezone.now()
            delivery.deliver_due(config=config)
            item = Delivery.objects.get()
            waits.append((item.next_attempt_at - before).total_seconds())
            # a retry is not due before its time
            assert delivery.deliver_due(config=config).claimed == 0
            _make_due(item)
    # then it was tried three times, waiting longer each time (60 s, then 120 s, with jitter)
    assert receiver.stats.requests == 3
    assert 30 <= waits[0] <= 61
    assert 60 <= waits[1] <= 121
    # and is dead, with the reason, in the message log as failed
    assert item.status == DeliveryStatus.DEAD
    assert "Failed 3 times" in item.reason
    assert "HTTP 500" in item.reason
    assert Message.objects.get().kind == MessageKind.FAILED


def test_a_receiver_refusing_for_good_is_dead_at_once(world):
    # given a receiver that answers 410 Gone
    with Receiver("", statuses=[410]) as receiver:
        _webhook(world, receiver.url)
        _consent(world)
        _publish(world)
        delivery.deliver_due(config=FAST)
    # then there is no retry
    item = Delivery.objects.get()
    assert (item.status, item.attempts, item.last_status_code) == (DeliveryStatus.DEAD, 1, 410)


def test_replaying_a_dead_delivery_sends_the_same_idempotency_key(world):
    with Receiver("", statuses=[503]) as receiver:
        # given a delivery that died while the receiver was down
        subscription = _webhook(world, receiver.url, max_attempts=1)
        receiver.secret = subscription.secret
        _consent(world)
        _publish(world)
        delivery.deliver_due(config=FAST)
        dead = Delivery.objects.get()
        assert dead.status == DeliveryStatus.DEAD
        # when an operator replays it once the receiver is back
        replayed = services.deliveries_replay_dead(
            actor=world["transport_admin"], subscription=subscription
        )
        delivery.deliver_due(config=FAST)
        # and replays it once more by mistake after it was delivered
        with pytest.raises(services.DeliveryNotReplayable):
            services.delivery_replay(
                actor=world["transport_admin"], delivery=Delivery.objects.get()
            )
    # then it was delivered under the key it always had
    assert replayed == 1
    item = Delivery.objects.get()
    assert (item.status, item.replays) == (DeliveryStatus.DELIVERED, 1)
    assert receiver.stats.headers[-1][IDEMPOTENCY_HEADER] == str(dead.pk)
    assert AuditEntry.objects.filter(action="event.replay").count() == 1


def test_another_agency_admin_cannot_replay(world):
    # given a dead delivery of Transport's subscription
    subscription = _webhook(world, "http://127.0.0.1:9/hook", max_attempts=1)
    _consent(world)
    _publish(world)
    Delivery.objects.update(status=DeliveryStatus.DEAD)
    # when Health's admin tries to replay it, it is refused
    from core.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.deliveries_replay_dead(actor=world["health_admin"], subscription=subscription)


def test_a_killed_workers_claims_come_back_when_the_lease_ends(world):
    with Receiver("") as receiver:
        subscription = _webhook(world, receiver.url)
        receiver.secret = subscription.secret
        _consent(world)
        _publish(world)
        # given a worker that claimed the delivery and was killed before sending it
        claimed = delivery.deliveries_claim(worker="dead-worker", limit=10, lease_seconds=30)
        assert len(claimed) == 1
        # when another worker looks during the lease, it is not sent twice
        assert delivery.deliver_due(config=FAST).claimed == 0
        # and when the lease has ended, the next worker claims and sends it
        later = timezone.now() + timedelta(seconds=31)
        again = delivery.deliveries_claim(
            worker="new-worker", limit=10, lease_seconds=30, now=later
        )
        assert again == claimed
        Delivery.objects.filter(pk__in=again).update(
            claimed_until=None, next_attempt_at=timezone.now()
        )
        counts = delivery.deliver_due(config=FAST)
    # then it is delivered, its attempts counting the lost one
    assert counts.delivered == 1
    item = Delivery.objects.get()
    assert (item.status, item.attempts) == (DeliveryStatus.DELIVERED, 3)
    assert receiver.stats.processed == 1


def test_a_second_send_of_a_delivery_is_caught_by_its_idempotency_key(world):
    with Receiver("") as receiver:
        subscription = _webhook(world, receiver.url)
        receiver.secret = subscription.secret
        _consent(world)
        _publish(world)
        # given a delivery sent by a worker that died before recording it
        delivery.deliver_due(config=FAST)
        Delivery.objects.update(status=DeliveryStatus.PENDING, claimed_until=timezone.now())
        # when the next worker sends it again
        delivery.deliver_due(config=FAST)
    # then the receiver processed it once and caught the duplicate by its key
    assert receiver.stats.processed == 1
    assert receiver.stats.duplicates_caught == 1
    assert receiver.stats.duplicates_not_caught == 0


def test_without_consent_the_delivery_is_withheld_with_the_reason(world):
    with Receiver("") as receiver:
        # given Transport's agreement rests on consent, which the person never gave
        _webhook(world, receiver.url)
        _publish(world)
        # when the worker runs
        counts = delivery.deliver_due(config=FAST)
    # then nothing was sent, and the delivery is withheld with the reason, not retried
    assert counts.withheld == 1
    assert receiver.stats.requests == 0
    item = Delivery.objects.get()
    assert item.status == DeliveryStatus.WITHHELD
    assert "consent" in item.reason
    message = Message.objects.get()
    assert (message.kind, message.status) == (MessageKind.DENIED, "withheld")


def test_a_consent_withdrawn_after_publishing_withholds_the_delivery(world):
    with Receiver("") as receiver:
        # given consent when the event was published
        _webhook(world, receiver.url)
        _consent(world)
        _publish(world)
        # when the person withdraws it before the delivery leaves
        consent_withdraw(
            actor=world["citizen"],
            person=world["person"],
            agreement=world["to_transport"].agreement,
        )
        delivery.deliver_due(config=FAST)
    # then it does not leave
    assert receiver.stats.requests == 0
    assert Delivery.objects.get().status == DeliveryStatus.WITHHELD


def test_an_expired_agreement_withholds_the_delivery(world):
    # given Transport's agreement ended after the event was published
    _webhook(world, "http://127.0.0.1:9/hook")
    _consent(world)
    _publish(world)
    world["to_transport"].__class__.objects.filter(pk=world["to_transport"].pk).update(
        valid_until=timezone.now() - timedelta(seconds=1)
    )
    # when the worker runs
    delivery.deliver_due(config=FAST)
    # then it is withheld, saying the agreement is not in force
    item = Delivery.objects.get()
    assert item.status == DeliveryStatus.WITHHELD
    assert "No agreement in force" in item.reason


def test_the_internal_address_handler_updates_the_agencys_source_record(world):
    # given Health inside CivicStack subscribed with its registry handler
    services.subscription_create(
        actor=system_actor(),
        agency=world["health"],
        event_type="address",
        agreement=world["to_health"].agreement,
        handler="registry.address",
    )
    _publish(world)
    # when the worker runs
    counts = delivery.deliver_due(config=FAST)
    # then Health's record of the person has the new address, the old one kept as a version
    assert counts.delivered == 1
    record = SourceRecord.objects.get(agency=world["health"])
    assert (record.address_line, record.locality, record.postcode) == (
        "2 New Street",
        "Newtown",
        "NT2 2BB",
    )
    assert record.versions.count() == 1
    # and Transport's record (not subscribed) is untouched
    assert SourceRecord.objects.get(agency=world["transport"]).address_line == "1 Old Road"
    # and the load was done by the platform, audited against the person
    assert AuditEntry.objects.filter(
        action="source_record.read", subject_person=world["person"].pk, actor="system"
    ).exists()
    assert Message.objects.get().consumer == "health"
    # and running the worker again changes nothing more
    assert delivery.deliver_due(config=FAST).claimed == 0


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(1)
    delays = [
        delivery.backoff_delay(attempt=n, base_seconds=10, cap_seconds=300, rng=rng)
        for n in range(1, 8)
    ]
    for n, value in enumerate(delays, start=1):
        ceiling = min(300, 10 * 2 ** (n - 1))
        assert ceiling / 2 <= value <= ceiling
    assert delays[-1] <= 300


def test_a_lease_too_short_for_the_batch_is_refused():
    with pytest.raises(ValueError, match="lease"):
        delivery.DeliveryConfig(batch=100, concurrency=2, timeout_seconds=5, lease_seconds=10)


def test_verify_refuses_a_tampered_body():
    from exchange.events.errors import WebhookSignatureInvalid
    from exchange.events.webhooks import sign_headers

    headers = sign_headers(secret="s" * 32, idempotency_key="k1", body=b'{"a":1}')
    assert verify(secret="s" * 32, headers=headers, body=b'{"a":1}') == "k1"
    with pytest.raises(WebhookSignatureInvalid):
        verify(secret="s" * 32, headers=headers, body=b'{"a":2}')


def test_the_outbox_command_delivers_what_is_due_and_exits(world):
    from io import StringIO

    from django.core.management import call_command

    with Receiver("") as receiver:
        # given three published events for a webhook subscriber, never handed to a task
        subscription = _webhook(world, receiver.url)
        receiver.secret = subscription.secret
        _consent(world)
        for n in range(3):
            _publish(world, {**NEW_ADDRESS, "address_line": f"{n} New Street"})
        # when the outbox worker runs once
        out = StringIO()
        call_command("deliver_events", "--once", "--json", "--batch", "2", stdout=out)
    # then it swept all three, two batches, and says so
    assert json.loads(out.getvalue())["delivered"] == 3
    assert receiver.stats.processed == 3
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}
