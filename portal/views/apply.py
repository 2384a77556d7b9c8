"""Applying for a service: the catalogue, life events, forms pre-filled and saved as drafts.

An application is a draft saved on the server at every page (what was typed is kept, even
with errors), then "check your answers", then the case. Long forms ask one question per
page. The pages call portal.selectors and portal.services, which authorise and audit.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from cases.errors import CaseDataInvalid
from cases.schema_forms import field_label, form_data
from core.errors import ApplicationError
from identity import policy
from identity.models import User
from identity.views import page
from portal import selectors, services
from portal.forms import (
    DocumentField,
    Step,
    answer_text,
    answers_form_class,
    form_steps,
    source_text,
    step_form_class,
    typed_answers,
)
from portal.life_events import life_event_get
from portal.models import ApplicationDraft


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def case_url(reference: str) -> str:
    """The citizen's page of a case (portal:case), once it exists."""
    try:
        return reverse("portal:case", kwargs={"reference": reference})
    except NoReverseMatch:
        # the case page is another part of the portal; until it is mounted, its address
        return f"{reverse('portal:dashboard')}cases/{reference}/"


# --- the catalogue and life events --------------------------------------------------------


@page("case.submit")
@require_GET
def catalogue(request: HttpRequest) -> HttpResponse:
    viewer = _user(request)
    everything = selectors.service_catalogue(viewer=viewer)
    agencies = sorted({(e.agency_code, e.agency_name) for e in everything}, key=lambda a: a[1])
    chosen = request.GET.get("agency") or ""
    if chosen and chosen not in {code for code, _name in agencies}:
        chosen = ""
    entries = [e for e in everything if not chosen or e.agency_code == chosen]
    groups: dict[str, list[Any]] = {}
    for entry in entries:
        groups.setdefault(entry.agency_name, []).append(entry)
    drafts = (
        list(selectors.draft_list(viewer=viewer))
        if policy.can(viewer, "draft.manage_own", policy.ANY_OBJECT)
        else []
    )
    return render(
        request,
        "portal/catalogue.html",
        {"groups": groups, "agencies": agencies, "chosen": chosen, "drafts": drafts},
    )


@page("case.submit")
@require_GET
def life_events(request: HttpRequest) -> HttpResponse:
    events = selectors.life_event_services(viewer=_user(request))
    return render(request, "portal/life_events.html", {"events": events})


@page("case.submit")
@require_GET
def life_event(request: HttpRequest, slug: str) -> HttpResponse:
    event = life_event_get(slug)
    if event is None:
        raise Http404(_("There is no such life event."))
    if slug != event.slug:
        return redirect("portal:life_event", slug=event.slug)
    entries = selectors.service_catalogue(viewer=_user(request), life_event=event)
    return render(request, "portal/life_events_detail.html", {"event": event, "entries": entries})


# --- applying ------------------------------------------------------------------------------


@page("draft.manage_own")
@require_http_methods(["GET", "POST"])
def apply_start(request: HttpRequest, code: str) -> HttpResponse:
    viewer = _user(request)
    service, version = selectors.service_to_apply(viewer=viewer, code=code)
    if request.method == "POST":
        draft = services.draft_start(
            service=service, version=version, applicant=viewer, actor=viewer
        )
        return redirect(_step_url(draft, draft.current_step))
    meta = version.metadata or {}
    return render(
        request,
        "portal/apply/start.html",
        {
            "service": service,
            "name": meta.get("name") or service.name,
            "description": meta.get("description") or service.description,
            "drafts": selectors.draft_list(viewer=viewer, service=service),
            "questions": len(version.form_schema.get("properties") or {}),
        },
    )


def _step_url(draft: ApplicationDraft, step: str, *, change: bool = False) -> str:
    step = step or form_steps(draft.version.form_schema)[0].slug
    url = reverse(
        "portal:apply_step", kwargs={"code": draft.service.code, "draft_id": draft.pk, "step": step}
    )
    return f"{url}?change=1" if change else url


def _check_url(draft: ApplicationDraft) -> str:
    return reverse("portal:apply_check", kwargs={"code": draft.service.code, "draft_id": draft.pk})


def _open_draft(request: HttpRequest, code: str, draft_id: str) -> ApplicationDraft:
    draft = selectors.draft_get(viewer=_user(request), draft_id=draft_id)
    if draft.service.code != code:
        raise Http404(_("There is no such application."))
    return draft


def _title(draft: ApplicationDraft) -> str:
    return str((draft.version.metadata or {}).get("name") or draft.service.name)


def _with_sources(form: forms.Form, draft: ApplicationDraft) -> None:
    """Say beside each pre-filled field where its value came from, while it is unchanged."""
    for name, fact in (draft.prefill or {}).items():
        if name in form.fields and draft.data.get(name) == fact.get("value"):
            field = form.fields[name]
            field.help_text = " ".join(t for t in (str(field.help_text), source_text(fact)) if t)


@page("draft.manage_own")
@require_http_methods(["GET", "POST"])
def apply_step(request: HttpRequest, code: str, draft_id: str, step: str) -> HttpResponse:
    viewer = _user(request)
    draft = _open_draft(request, code, draft_id)
    if draft.submitted_at is not None:
        return redirect(case_url(draft.case_reference))
    schema = draft.version.form_schema
    steps = form_steps(schema)
    index = next((i for i, s in enumerate(steps) if s.slug == step), None)
    if index is None:
        raise Http404(_("There is no such question."))
    current: Step = steps[index]
    documents = selectors.draft_documents(viewer=viewer, draft=draft)
    form_class = step_form_class(schema, current, attached=set(documents))
    changing = request.GET.get("change") == "1"
    status = 200
    if request.method == "POST":
        form = form_class(request.POST, request.FILES)
        valid = form.is_valid()
        try:
            services.draft_save(
                draft=draft, answers=typed_answers(form, request.POST), step=step, actor=viewer
            )
            for name, field in form.fields.items():
                upload = request.FILES.get(name)
                if isinstance(field, DocumentField) and upload and name not in form.errors:
                    kind = field.file_type(upload) or "application/octet-stream"
                    documents[name] = services.document_attach(
                        draft=draft, field=name, upload=upload, content_type=kind, actor=viewer
                    )
        except ApplicationError as error:
            form.add_error(None, error.detail)
            valid = False
        if request.POST.get("action") == "save" and not form.non_field_errors():
            # saved as typed, errors and all: the citizen fixes them when they come back
            messages.success(
                request, _("Your application is saved. You can come back to it from this page.")
            )
            return redirect("portal:catalogue")
        if valid:
            if changing or index == len(steps) - 1:
                return redirect(_check_url(draft))
            return redirect(_step_url(draft, steps[index + 1].slug))
        status = 400
    else:
        initial = {name: draft.data.get(name) for name in current.fields if name in draft.data}
        form = form_class(initial=initial)
    _with_sources(form, draft)
    back = _step_url(draft, steps[index - 1].slug) if index else None
    if changing:
        back = _check_url(draft)
    return render(
        request,
        "portal/apply/step.html",
        {
            "draft": draft,
            "title": _title(draft),
            "form": form,
            "number": index + 1,
            "count": len(steps),
            "one_per_page": len(steps) > 1,
            "back": back,
            "documents": {n: d for n, d in documents.items() if n in current.fields},
            "start_url": reverse("portal:apply_start", kwargs={"code": code}),
        },
        status=status,
    )


def _answer_rows(
    draft: ApplicationDraft, form: forms.Form, documents: dict[str, Any]
) -> list[dict[str, Any]]:
    schema = draft.version.form_schema
    properties = schema.get("properties") or {}
    step_of = {name: s.slug for s in form_steps(schema) for name in s.fields}
    cleaned = getattr(form, "cleaned_data", {}) or {}
    rows: list[dict[str, Any]] = []
    for name in form.fields:
        spec = properties.get(name) or {}
        value = cleaned.get(name) if name in cleaned else draft.data.get(name)
        document = documents.get(name)
        fact = (draft.prefill or {}).get(name)
        prefilled = fact is not None and draft.data.get(name) == fact.get("value")
        rows.append(
            {
                "name": name,
                "label": field_label(name, spec),
                "value": answer_text(spec, value, document_name=document.name if document else ""),
                "source": source_text(fact) if prefilled and fact else "",
                "errors": form.errors.get(name, []),
                "change": _step_url(draft, step_of[name], change=True),
            }
        )
    return rows


@page("draft.manage_own")
@require_http_methods(["GET", "POST"])
def apply_check(request: HttpRequest, code: str, draft_id: str) -> HttpResponse:
    viewer = _user(request)
    draft = _open_draft(request, code, draft_id)
    if draft.submitted_at is not None:
        return redirect(case_url(draft.case_reference))
    schema = draft.version.form_schema
    form = answers_form_class(schema)(data=dict(draft.data))
    valid = form.is_valid()
    status = 200
    if request.method == "POST":
        if valid:
            try:
                case = services.draft_submit(
                    draft=draft, data=form_data(schema, form.cleaned_data), actor=viewer
                )
            except CaseDataInvalid as error:
                for name, refusals in error.errors.items():
                    for problem in refusals:
                        form.add_error(name if name in form.fields else None, problem)
            except ApplicationError as error:
                form.add_error(None, error.detail)
            else:
                return redirect(case_url(case.reference))
        status = 400
    documents = selectors.draft_documents(viewer=viewer, draft=draft)
    rows = _answer_rows(draft, form, documents)
    # Errors on this page point at the question to change, not at a field on it.
    problems = [(row["change"], row["label"], e) for row in rows for e in row["errors"]]
    return render(
        request,
        "portal/apply/check.html",
        {
            "draft": draft,
            "title": _title(draft),
            "rows": rows,
            "problems": problems,
            "general": form.non_field_errors(),
            "show_problems": request.method == "POST",
            "back": _step_url(draft, form_steps(schema)[-1].slug),
        },
        status=status,
    )


@page("draft.manage_own")
@require_http_methods(["GET", "POST"])
def apply_delete(request: HttpRequest, code: str, draft_id: str) -> HttpResponse:
    viewer = _user(request)
    draft = _open_draft(request, code, draft_id)
    if draft.submitted_at is not None:
        return redirect(case_url(draft.case_reference))
    if request.method == "POST":
        services.draft_delete(draft=draft, actor=viewer)
        messages.success(request, _("Your application has been deleted."))
        return redirect("portal:catalogue")
    return render(
        request,
        "portal/apply/delete.html",
        {"draft": draft, "title": _title(draft), "back": _step_url(draft, draft.current_step)},
    )


urlpatterns = [
    path("services/", catalogue, name="catalogue"),
    path("life-events/", life_events, name="life_events"),
    path("life-events/<slug:slug>/", life_event, name="life_event"),
    path("services/<slug:code>/apply/", apply_start, name="apply_start"),
    path("services/<slug:code>/apply/<uuid:draft_id>/check/", apply_check, name="apply_check"),
    path("services/<slug:code>/apply/<uuid:draft_id>/delete/", apply_delete, name="apply_delete"),
    path(
        "services/<slug:code>/apply/<uuid:draft_id>/question/<str:step>/",
        apply_step,
        name="apply_step",
    ),
]
