"""Staff read the documents an applicant attached to their application.

A document is found through its case: the viewer must be allowed to see the case
(`cases.selectors.case_get`, which audits the look), the document must be one the case's
application names (its id is the value of a document field of the submitted data) and
must come from the application that became this case. Each read is recorded under the
applicant's person, so they see it in "who accessed my data".
"""

from __future__ import annotations

import uuid
from typing import Any

from cases import selectors as case_selectors
from cases.models import Case
from core import audit
from core.errors import NotFound
from identity.models import User
from portal.models import ApplicationDocument
from registry.services.citizens import citizen_person


def document_fields(case: Case) -> list[tuple[str, str]]:
    """(field, label) of the application's document fields that hold a document."""
    properties: dict[str, Any] = (case.service_version.form_schema or {}).get("properties", {})
    found = []
    for name, spec in properties.items():
        spec = spec or {}
        is_document = spec.get("format") == "binary" or "x-upload" in spec
        if is_document and (case.data or {}).get(name):
            found.append((name, str(spec.get("title") or name)))
    return found


def case_document_get(*, viewer: User, reference: str, document_id: str) -> ApplicationDocument:
    case = case_selectors.case_get(viewer=viewer, reference=reference, purpose="read a document")
    try:
        key = uuid.UUID(document_id)
    except ValueError:
        raise NotFound("No such document on this case.") from None
    named = {str((case.data or {}).get(field)) for field, _label in document_fields(case)}
    document = (
        ApplicationDocument.objects.filter(pk=key, draft__case_reference=case.reference)
        .select_related("draft")
        .first()
    )
    if document is None or str(document.pk) not in named:
        raise NotFound("No such document on this case.")
    person = citizen_person(user=case.applicant)
    audit.record(
        actor=viewer,
        action="case.document_read",
        subject_person=person.pk if person else None,
        target=case,
        agency=case.agency.code,
        purpose="read a document",
        data={"reference": case.reference, "field": document.field, "name": document.name},
    )
    return document
