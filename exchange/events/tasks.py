"""Background work of events: deliver one event's due deliveries (thin, idempotent).

Queued after commit by `event_publish` and `delivery_replay`, and deferred to the next
attempt when a delivery is to be retried. The `deliver_events` command sweeps every due
delivery as well, so a task that is lost loses no event.
"""

from django.tasks import task

from exchange.events import delivery


@task()
def event_deliver(*, event_id: str) -> None:
    delivery.deliver_due(event_id=event_id)
