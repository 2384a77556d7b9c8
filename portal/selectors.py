"""Reads for applying: the service catalogue, life events, a citizen's own drafts.

The catalogue offers every service with a version active now, described by that version's
service.yaml (name, description, agency, life events). Drafts are the citizen's own: any
other draft is "not found", so nobody learns that it exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from cases import selectors as case_selectors
from cases.errors import ServiceNotActive
from cases.models import Case, Service, ServiceVersion
from core.errors import NotFound
from identity import policy
from identity.models import User
from portal.life_events import LIFE_EVENTS, LifeEvent
from portal.models import ApplicationDocument, ApplicationDraft, SatisfactionResponse


class ServiceNotOffered(NotFound):
    code = "service_not_offered"
    title = "This service cannot be applied for now"


class DraftNotFound(NotFound):
    code = "draft_not_found"
    title = "No such application"


@dataclass(frozen=True)
class CatalogueEntry:
    code: str
    name: str
    description: str
    agency_code: str
    agency_name: str
    life_events: tuple[str, ...] = field(default=())


def _entry(service: Service, version: ServiceVersion) -> CatalogueEntry:
    meta = version.metadata or {}
    events = meta.get("life_events", service.life_events) or []
    return CatalogueEntry(
        code=service.code,
        name=str(meta.get("name") or service.name),
        description=str(meta.get("description") or service.description),
        agency_code=service.agency.code,
        agency_name=service.agency.name,
        life_events=tuple(str(e) for e in events if isinstance(e, str)),
    )


def service_catalogue(
    *,
    viewer: User,
    agency: str | None = None,
    life_event: LifeEvent | None = None,
    at: datetime | None = None,
) -> list[CatalogueEntry]:
    """Every service of every agency that can be applied for now (its active version),
    by agency then name; narrowed to one agency's code or one life event if given."""
    policy.authorize(viewer, "case.submit", policy.ANY_OBJECT)
    moment = at or timezone.now()
    versions = (
        ServiceVersion.objects.filter(activates_at__lte=moment)
        .select_related("service__agency")
        .defer("bpmn_xml", "form_schema", "task_forms")
        .order_by("service_id", "-activates_at", "-version")
    )
    if agency:
        versions = versions.filter(service__agency__code=agency)
    active: dict[int, CatalogueEntry] = {}
    for version in versions:
        if version.service_id in active:
            continue
        if (version.metadata or {}).get("catalogue", True) is False:
            continue  # reached from another page (e.g. "your data"), not applied for
        active[version.service_id] = _entry(version.service, version)
    entries = list(active.values())
    if life_event is not None:
        tags = {life_event.slug, *life_event.aliases}
        entries = [e for e in entries if tags & set(e.life_events)]
    return sorted(entries, key=lambda e: (e.agency_name.lower(), e.name.lower()))


def life_event_services(*, viewer: User) -> list[tuple[LifeEvent, list[CatalogueEntry]]]:
    """Each life event with the services tagged with it (possibly none yet)."""
    entries = service_catalogue(viewer=viewer)
    return [
        (event, [e for e in entries if {event.slug, *event.aliases} & set(e.life_events)])
        for event in LIFE_EVENTS
    ]


def service_to_apply(*, viewer: User, code: str) -> tuple[Service, ServiceVersion]:
    """The service and the version a new application is made on; not offered (404)
    when no version of it is active."""
    service = case_selectors.service_for_applicant(viewer=viewer, code=code)
    try:
        version = case_selectors.service_version_active_at(service=service)
    except ServiceNotActive:
        raise ServiceNotOffered(f"The service {code!r} cannot be applied for now.") from None
    return service, version


def draft_list(*, viewer: User, service: Service | None = None) -> QuerySet[ApplicationDraft]:
    """The viewer's applications not submitted yet, the latest first."""
    policy.authorize(viewer, "draft.manage_own", policy.ANY_OBJECT)
    drafts = ApplicationDraft.objects.filter(applicant=viewer, submitted_at__isnull=True)
    if service is not None:
        drafts = drafts.filter(service=service)
    return drafts.select_related("service", "service__agency", "version").order_by("-updated_at")


def draft_get(*, viewer: User, draft_id: str) -> ApplicationDraft:
    """One of the viewer's own drafts (submitted or not); anyone else's is not found."""
    policy.authorize(viewer, "draft.manage_own", policy.ANY_OBJECT)
    draft = (
        ApplicationDraft.objects.select_related("service", "service__agency", "version")
        .filter(pk=draft_id)
        .first()
    )
    if draft is None or not policy.can(viewer, "draft.manage_own", draft):
        raise DraftNotFound("There is no such application.")
    return draft


def draft_documents(*, viewer: User, draft: ApplicationDraft) -> dict[str, ApplicationDocument]:
    """The documents attached to the draft's fields, by field."""
    policy.authorize(viewer, "draft.manage_own", draft)
    return {doc.field: doc for doc in draft.documents.all()}


class SatisfactionNotGiven(NotFound):
    code = "satisfaction_not_given"
    title = "No answer about satisfaction on this case"


def satisfaction_get(*, viewer: User, case: Case) -> SatisfactionResponse:
    """The applicant's own answer on their case (the case read through `case_get`)."""
    policy.authorize(viewer, "satisfaction.give_own", case)
    response = SatisfactionResponse.objects.filter(case=case).first()
    if response is None:
        raise SatisfactionNotGiven(_("You have not said how satisfied you were on this case."))
    return response
