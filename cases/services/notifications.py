"""Notifications to an applicant: written by the `notify` connector or when staff write in
a case's conversation, and delivered after commit.

Every notification shows in the citizen's portal inbox (the case page). An e-mail one also
goes by Django's mail backend to the account's address; an SMS one through `core.sms` to
the mobile number of the applicant's golden record, read for this purpose as the platform
(audited by the registry). When there is no address or number, or the provider refuses the
message, the notification stays in the inbox with the reason in `not_sent_reason`.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cases.models import Case, CaseMessage, Notification
from core.errors import ApplicationError
from core.sms import SmsUnavailable, send_sms
from core.tasks import enqueue_on_commit

EMAIL = "email"
SMS = "sms"  # also in cases.choices.NotificationChannel once that module lists it
DELIVERED = frozenset({EMAIL, SMS})
SMS_LENGTH = 640  # four segments: the rest is in the inbox
REASON_LENGTH = 300


def notification_queue(note: Notification) -> None:
    """Deliver `note` after the current transaction commits (inbox ones need nothing)."""
    from cases.tasks import notification_send as task

    if note.channel in DELIVERED:
        enqueue_on_commit(task, notification_id=note.pk)


def notification_send(*, notification_id: int) -> bool:
    """Deliver one notification once; True if it was sent now (idempotent).

    An SMS provider that cannot take the message now raises `SmsUnavailable` (the task
    retries it), after noting why on the notification."""
    try:
        with transaction.atomic():
            note = (
                Notification.objects.select_for_update(of=("self",))
                .select_related("recipient", "case")
                .filter(pk=notification_id, sent_at__isnull=True)
                .first()
            )
            if note is None:
                return False
            reason = _deliver(note)
            note.not_sent_reason = reason[:REASON_LENGTH]
            if not reason:
                note.sent_at = timezone.now()
            note.save(update_fields=["sent_at", "not_sent_reason"])
    except SmsUnavailable as exc:
        Notification.objects.filter(pk=notification_id, sent_at__isnull=True).update(
            not_sent_reason=exc.detail[:REASON_LENGTH]
        )
        raise
    return not reason


def case_page_link(case: Case) -> str:
    """The address of the case's page in the portal, or "" when no site URL is set."""
    site = str(getattr(settings, "CIVICSTACK_SITE_URL", "") or "").rstrip("/")
    if not site:
        return ""
    return site + reverse("portal:case", kwargs={"reference": case.reference})


def _deliver(note: Notification) -> str:
    """Send `note` by its channel, ending with the link to the case; "" if it went, else why
    not."""
    link = case_page_link(note.case)
    if note.channel == EMAIL:
        if note.recipient is None or not note.recipient.email:
            return "The applicant's account has no e-mail address."
        body = f"{note.body}\n\n{link}".strip() if link else note.body
        send_mail(note.subject, body, None, [note.recipient.email])
        return ""
    if note.channel == SMS:
        number, reason = applicant_mobile(note.case)
        if reason:
            return reason
        tail = f"\n{link}" if link else ""
        text = f"{note.subject}\n{note.body}".strip()
        if len(text) + len(tail) > SMS_LENGTH:  # the link stays whole; the text is cut
            text = text[: SMS_LENGTH - len(tail) - 1] + "…"
        text += tail
        try:
            send_sms(to=number, body=text)
        except SmsUnavailable:
            raise
        except ApplicationError as exc:  # refused: the number or the text
            return exc.detail
        return ""
    return ""


def applicant_mobile(case: Case) -> tuple[str, str]:
    """The applicant's phone number in E.164 from their golden record, or why there is
    none. Read as the platform, for sending this case's notification (audited)."""
    from identity.services import system_actor
    from registry import standardise
    from registry.selectors.persons import person_get
    from registry.services.citizens import citizen_person

    person = citizen_person(user=case.applicant)
    if person is None:
        return "", "The applicant's account is not linked to a person in the registry."
    view = person_get(
        viewer=system_actor(),
        person_id=person.pk,
        purpose=f"send a text message about case {case.reference}",
    )
    entry = view.golden.get("phone")
    value = entry.get("value") if isinstance(entry, dict) else None
    if not value:
        return "", "The applicant's golden record has no phone number."
    try:
        number = standardise.phone(str(value))
    except ValueError:
        return "", "The phone number in the applicant's golden record cannot be read."
    return number, ""


def case_message_notify(*, message: CaseMessage) -> Notification:
    """Tell the applicant staff wrote to them: in the inbox, and by e-mail when their
    account has an address (else by SMS, when their golden record has a number).

    The notification says who wrote and where to read it, not what: the message itself
    stays behind the sign-in."""
    case = message.case
    applicant = case.applicant
    channel = EMAIL if applicant.email else SMS
    with translation.override(applicant.preferred_language or None):
        subject = _("New message about your case %(ref)s") % {"ref": case.reference}
        body = _(
            "%(agency)s has sent you a message about “%(service)s” (case %(ref)s). "
            "Sign in to your account and open the case to read it and reply."
        ) % {"agency": case.agency.name, "service": case.service.name, "ref": case.reference}
    note = Notification.objects.create(
        case=case,
        recipient=applicant,
        channel=channel,
        template="case-message",
        subject=subject,
        body=body,
    )
    notification_queue(note)
    return note
