"""Writes for applying: start a draft (pre-filled), save each page, attach documents,
delete, and submit the draft as a case.

Every change is the citizen's own (`draft.manage_own`) and audited. A draft is saved on
every page the citizen sends, with what they typed even when it is not valid yet; only
"check your answers" turns the answers into the application the case engine checks.
"""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from cases.models import Case, Service, ServiceVersion
from cases.services import engine
from core import audit
from core.errors import Conflict, PermissionDenied
from identity import policy
from identity.models import User
from portal.forms import form_steps
from portal.models import ApplicationDocument, ApplicationDraft
from portal.prefill import prefill_read


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
