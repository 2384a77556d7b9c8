"""A case's conversation between its applicant and the staff of the agency that runs it.

Who may read and write it is one permission, `case.message`: the applicant on their own
case, or a caseworker or supervisor of the case's agency. Every read and write is audited
under the applicant's person (as `cases.selectors.case_get` records a case view), so the
citizen sees who read their messages. A message from staff tells the applicant (see
`notifications.case_message_notify`); `read_at` is when the other side first saw a message.

`case_messages` is the conversation's read (a selector, kept beside its writes because it
marks nothing and needs nothing else of the cases app).
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from cases.models import Case, CaseMessage
from cases.services.notifications import case_message_notify
from core import audit
from core.errors import ValidationFailed
from identity import policy
from identity.models import User

MAX_BODY = 5_000


class MessageInvalid(ValidationFailed):
    code = "case_message_invalid"
    title = "The message cannot be sent"


def _subject_person(case: Case) -> str | None:
    from registry.services.citizens import citizen_person

    person = citizen_person(user=case.applicant)
    return person.pk if person else None


def _from_citizen(actor: User, case: Case) -> bool:
    return bool(actor.pk == case.applicant_id)


def message_body_clean(body: str) -> str:
    """The text as it will be kept (line ends made one kind, outer blanks dropped), or
    `MessageInvalid` naming the field `body`."""
    text = (body or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise MessageInvalid(_("Write your message."), errors={"body": [_("Write your message.")]})
    if len(text) > MAX_BODY:
        problem = _("Your message is %(length)s characters long: it can be at most %(max)s.") % {
            "length": number_format(len(text), force_grouping=True),
            "max": number_format(MAX_BODY, force_grouping=True),
        }
        raise MessageInvalid(problem, errors={"body": [problem]})
    return text


@transaction.atomic
def case_message_send(*, actor: User, case: Case, body: str) -> CaseMessage:
    """Add a message to `case`'s conversation, from its applicant or from staff."""
    policy.authorize(actor, "case.message", case)
    text = message_body_clean(body)
    from_citizen = _from_citizen(actor, case)
    message = CaseMessage.objects.create(
        case=case, author=actor, from_citizen=from_citizen, body=text
    )
    audit.record(
        actor=actor,
        action="case.message_send",
        subject_person=_subject_person(case),
        target=message,
        agency=case.agency.code,
        data={"reference": case.reference, "from_citizen": from_citizen, "length": len(text)},
    )
    if not from_citizen:
        case_message_notify(message=message)
    return message


@transaction.atomic
def case_messages_mark_read(*, actor: User, case: Case) -> int:
    """Mark the other side's unread messages as read by `actor`; how many were."""
    policy.authorize(actor, "case.message", case)
    unread = CaseMessage.objects.filter(
        case=case, from_citizen=not _from_citizen(actor, case), read_at__isnull=True
    )
    count = unread.update(read_at=timezone.now())
    if count:
        audit.record(
            actor=actor,
            action="case.messages_read",
            subject_person=_subject_person(case),
            target=case,
            agency=case.agency.code,
            data={"reference": case.reference, "messages": count},
        )
    return count


def case_messages(*, viewer: User, case: Case) -> QuerySet[CaseMessage]:
    """The conversation of `case`, oldest first (authorised, audited)."""
    policy.authorize(viewer, "case.message", case)
    audit.record(
        actor=viewer,
        action="case.messages_view",
        subject_person=_subject_person(case),
        target=case,
        agency=case.agency.code,
        data={"reference": case.reference},
    )
    return (
        CaseMessage.objects.filter(case=case).select_related("author").order_by("created_at", "id")
    )
