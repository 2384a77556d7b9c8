"""Writes for applying: start a draft (pre-filled), save each page, attach documents,
delete, and submit the draft as a case; and, once a case is completed, how satisfied its
applicant was (`satisfaction_give`).

Every change is the citizen's own (`draft.manage_own`) and audited. A draft is saved on
every page the citizen sends, with what they typed even when it is not valid yet; only
"check your answers" turns the answers into the application the case engine checks.
"""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from cases.choices import CaseStatus
from cases.models import Case, Service, ServiceVersion
from cases.services import engine
from core import audit
from core.errors import Conflict, PermissionDenied, ValidationFailed
from identity import policy
from identity.models import User
from portal.forms import form_steps
from portal.models import (
    ApplicationDocument,
    ApplicationDraft,
    SatisfactionRating,
    SatisfactionResponse,
)
from portal.prefill import prefill_read
from registry.services.citizens import citizen_person


class DraftAlreadySubmitted(Conflict):
    code = "draft_already_submitted"
    title = "This application has already been sent"


def _authorize(actor: User, draft: ApplicationDraft) -> None:
    policy.authorize(actor, "draft.manage_own", draft)
    if draft.submitted_at is not None:
        raise DraftAlreadySubmitted(
            f"This application was sent as case {draft.case_reference}.",
            reference=draft.case_reference,
        )


@transaction.atomic
def draft_start(
    *, service: Service, version: ServiceVersion, applicant: User, actor: User
) -> ApplicationDraft:
    """A new application for `service`, pre-filled from what government already knows."""
    if actor.pk != applicant.pk:
        raise PermissionDenied("A citizen applies for themself only.", action="draft.manage_own")
    draft = ApplicationDraft(applicant=applicant, service=service, version=version)
    policy.authorize(actor, "draft.manage_own", draft)
    facts = prefill_read(applicant=applicant, service=service, schema=version.form_schema)
    draft.prefill = facts
    draft.data = {name: fact["value"] for name, fact in facts.items()}
    draft.current_step = form_steps(version.form_schema)[0].slug
    draft.save()
    audit.record(
        actor=actor,
        action="draft.start",
        target=draft,
        data={"service": service.code, "version": version.version, "prefilled": sorted(facts)},
    )
    return draft


@transaction.atomic
def draft_save(
    *, draft: ApplicationDraft, answers: dict[str, str], step: str, actor: User
) -> ApplicationDraft:
    """Keep the answers of one page as typed, and where the citizen is."""
    _authorize(actor, draft)
    draft.data = {**draft.data, **answers}
    draft.current_step = step
    draft.updated_at = timezone.now()
    draft.save(update_fields=["data", "current_step", "updated_at"])
    audit.record(
        actor=actor,
        action="draft.save",
        target=draft,
        data={"step": step, "fields": sorted(answers)},
    )
    return draft


@transaction.atomic
def document_attach(
    *, draft: ApplicationDraft, field: str, upload: UploadedFile, content_type: str, actor: User
) -> ApplicationDocument:
    """Store a checked upload for `field`, replacing the one attached before."""
    _authorize(actor, draft)
    for old in draft.documents.filter(field=field):
        old.file.delete(save=False)
        old.delete()
    document = ApplicationDocument(
        draft=draft,
        field=field,
        name=(upload.name or "document")[:255],
        content_type=content_type,
        size=upload.size or 0,
    )
    document.file.save(str(document.pk), upload, save=False)
    document.save()
    draft.data = {**draft.data, field: str(document.pk)}
    draft.updated_at = timezone.now()
    draft.save(update_fields=["data", "updated_at"])
    audit.record(
        actor=actor,
        action="draft.document_attach",
        target=document,
        data={"field": field, "type": content_type, "size": document.size},
    )
    return document


@transaction.atomic
def draft_delete(*, draft: ApplicationDraft, actor: User) -> None:
    _authorize(actor, draft)
    for document in draft.documents.all():
        document.file.delete(save=False)
    audit.record(
        actor=actor, action="draft.delete", target=draft, data={"service": draft.service.code}
    )
    draft.delete()


@transaction.atomic
def draft_submit(*, draft: ApplicationDraft, data: dict[str, Any], actor: User) -> Case:
    """Send the application: a case of the service, with the data as checked; the draft
    keeps the case's reference. Refused (and nothing stored) if the case engine refuses."""
    _authorize(actor, draft)
    case = engine.case_submit(
        service=draft.service, data=data, applicant=draft.applicant, actor=actor
    )
    draft.submitted_at = timezone.now()
    draft.case_reference = case.reference
    draft.updated_at = draft.submitted_at
    draft.save(update_fields=["submitted_at", "case_reference", "updated_at"])
    audit.record(
        actor=actor,
        action="draft.submit",
        target=draft,
        data={"service": draft.service.code, "reference": case.reference},
    )
    return case


# --- satisfaction ------------------------------------------------------------------------

MAX_COMMENT = 1_200


class SatisfactionAlreadyGiven(Conflict):
    code = "satisfaction_already_given"
    title = "You have already said how satisfied you were"


class SatisfactionNotYet(Conflict):
    code = "satisfaction_not_yet"
    title = "The case is not completed yet"


class SatisfactionInvalid(ValidationFailed):
    code = "satisfaction_invalid"
    title = "The answer cannot be kept"


def satisfaction_given(*, case: Case) -> bool:
    return SatisfactionResponse.objects.filter(case=case).exists()


@transaction.atomic
def satisfaction_give(
    *, actor: User, case: Case, rating: int, comment: str = ""
) -> SatisfactionResponse:
    """The applicant's answer to "how satisfied were you with this service?" for their
    completed case; once per case."""
    policy.authorize(actor, "satisfaction.give_own", case)
    # read under a row lock: two answers sent at once wait for each other, and the status
    # is the current one, not the caller's copy
    status = Case.objects.select_for_update().filter(pk=case.pk).values_list("status", flat=True)
    if status.first() != CaseStatus.COMPLETED:
        raise SatisfactionNotYet(
            _("You can say how satisfied you were once your case is completed.")
        )
    if rating not in SatisfactionRating.values:
        problem = _("Choose how satisfied you were.")
        raise SatisfactionInvalid(problem, errors={"rating": [problem]})
    text = (comment or "").replace("\r\n", "\n").strip()
    if len(text) > MAX_COMMENT:
        problem = _("Your comment can be at most %(max)s characters.") % {
            "max": number_format(MAX_COMMENT, force_grouping=True)
        }
        raise SatisfactionInvalid(problem, errors={"comment": [problem]})
    if satisfaction_given(case=case):
        raise SatisfactionAlreadyGiven(
            _("You have already told us how satisfied you were with this service. Thank you.")
        )
    response = SatisfactionResponse.objects.create(case=case, rating=rating, comment=text)
    person = citizen_person(user=case.applicant)
    audit.record(
        actor=actor,
        action="satisfaction.give",
        subject_person=person.pk if person else None,
        target=response,
        agency=case.agency.code,
        data={"reference": case.reference, "rating": rating, "commented": bool(text)},
    )
    return response
