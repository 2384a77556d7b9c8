"""Delivery of notifications: the `notify` connector writes them, this sends e-mail ones."""

from __future__ import annotations

from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from cases.models import Notification


def notification_send(*, notification_id: int) -> bool:
    """Mail one notification once; True if it was sent now (idempotent)."""
    with transaction.atomic():
        note = (
            Notification.objects.select_for_update()
            .select_related("recipient")
            .filter(pk=notification_id, sent_at__isnull=True)
            .first()
        )
        if note is None or note.recipient is None or not note.recipient.email:
            return False
        send_mail(note.subject, note.body, None, [note.recipient.email])
        note.sent_at = timezone.now()
        note.save(update_fields=["sent_at"])
    return True
