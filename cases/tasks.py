"""Background work of the cases app. Tasks take ids, call a service, and are safe to run twice.

`cases_fire_timers` advances every case whose timer is due (and resumes cases a killed
worker left half-way); `deploy_service`/`fire_timers` commands and the scheduling of a
case's next timer queue it. `notification_send` mails a notification after its commit.
"""

from django.tasks import task

from core.tasks import retrying


@task()
@retrying()
def cases_fire_timers() -> int:
    from cases.services import engine
    from identity.services import system_actor

    return engine.cases_fire_timers(actor=system_actor()).advanced


@task()
@retrying()
def notification_send(*, notification_id: int) -> None:
    from cases.services import notifications

    notifications.notification_send(notification_id=notification_id)
