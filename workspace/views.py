"""The staff workspace's pages: the 360° view of a person (mounted at /workspace/)."""

from __future__ import annotations

import uuid
from typing import Any, cast

from django import forms
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from cases.analytics.charts import bars
from cases.schema_forms import form_data, schema_form_class
from core.errors import ApplicationError, NotFound
from exchange.models import DataService
from identity.models import User
from identity.views import page
from registry.services.persons import GOLDEN_FIELDS
from registry.views.persons import FIELD_LABELS
from workspace import dashboard, documents, selectors, services


class PurposeForm(forms.Form):
    purpose = forms.CharField(
        label=_("Why are you looking at this person?"),
        min_length=3,
        max_length=200,
        help_text=_("Kept in the audit trail, which the person can see."),
    )
    case = forms.CharField(
        label=_("Case reference"),
        required=False,
        max_length=32,
        help_text=_("The case you are working on, if any."),
    )


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _params_form(service: DataService, data: Any = None) -> forms.Form:
    form_class = schema_form_class(service.input_schema, name="ParamsForm")
    return form_class(data, prefix=f"s{service.pk.hex[:8]}")


def _page(
    request: HttpRequest,
    person_id: str,
    purpose: str,
    case: str,
    answers: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    overview = selectors.person_overview(
        viewer=_user(request), person_id=person_id, purpose=purpose
    )
    golden = overview.view.golden
    rows = [
        {"label": FIELD_LABELS[name], **golden[name]} for name in GOLDEN_FIELDS if name in golden
    ]
    answers = answers or {}
    shared = [
        {
            "source": source,
            "form": answers.get(str(source.service.pk), {}).get("form")
            or _params_form(source.service),
            "answer": answers.get(str(source.service.pk), {}).get("answer"),
            "error": answers.get(str(source.service.pk), {}).get("error"),
        }
        for source in overview.shared
    ]
    context = {
        "overview": overview,
        "person": overview.view.person,
        "rows": rows,
        "shared": shared,
        "purpose": purpose,
        "case": case,
    }
    return render(request, "workspace/person.html", context, status=status)


@page("person.view")
@require_http_methods(["GET"])
def person_360(request: HttpRequest, person_id: str) -> HttpResponse:
    form = PurposeForm(
        request.GET if "purpose" in request.GET else None,
        initial={"case": request.GET.get("case", "")[:32]},
    )
    if not form.is_bound or not form.is_valid():
        status = 400 if form.is_bound else 200
        return render(
            request, "workspace/purpose.html", {"form": form, "person_id": person_id}, status=status
        )
    return _page(request, person_id, form.cleaned_data["purpose"], form.cleaned_data["case"])


@page("exchange.request")
@require_http_methods(["POST"])
def shared_fetch(request: HttpRequest, person_id: str) -> HttpResponse:
    """Ask another agency's data service about the person, through the exchange."""
    purpose_form = PurposeForm(request.POST)
    if not purpose_form.is_valid():
        context = {"form": purpose_form, "person_id": person_id}
        return render(request, "workspace/purpose.html", context, status=400)
    purpose, case = purpose_form.cleaned_data["purpose"], purpose_form.cleaned_data["case"]
    service = _service(request.POST.get("service", ""))
    form = _params_form(service, request.POST)
    outcome: dict[str, Any] = {"form": form}
    status = 200
    if form.is_valid():
        try:
            outcome["answer"] = services.shared_data_fetch(
                actor=_user(request),
                person_id=person_id,
                service=service,
                purpose=request.POST.get("agreement_purpose", ""),
                case_ref=case,
                params=form_data(service.input_schema, form.cleaned_data),
            )
        except ApplicationError as exc:
            outcome["error"] = exc.detail
            status = exc.status
    else:
        status = 400
    if request.headers.get("HX-Request"):
        # htmx swaps only this service's panel; a refusal is content, not a failed request.
        sources = selectors.shared_sources(viewer=_user(request), person_id=person_id)
        source = next((s for s in sources if s.service.pk == service.pk), None)
        context = {"item": {"source": source, **outcome}, "person_id": person_id}
        return render(
            request, "workspace/_shared.html", context | {"purpose": purpose, "case": case}
        )
    return _page(request, person_id, purpose, case, {str(service.pk): outcome}, status=status)


def _service(value: str) -> DataService:
    try:
        key = uuid.UUID(value)
    except ValueError:
        raise NotFound("No such data service.") from None
    service = DataService.objects.filter(pk=key).select_related("provider").first()
    if service is None:
        raise NotFound("No such data service.")
    return service


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


@page("work_item.assign")
@require_http_methods(["GET"])
def supervision(request: HttpRequest) -> HttpResponse:
    """Backlog, SLA, throughput, automation, override and satisfaction rates per service,
    with charts."""
    agencies = dashboard.supervised_agencies(_user(request))
    chosen = next((a for a in agencies if a.code == request.GET.get("agency")), None)
    agency = chosen or (agencies[0] if agencies else None)
    if agency is None:
        raise NotFound("You supervise no agency.")
    rows = dashboard.service_figures(viewer=_user(request), agency=agency, days=30)
    charts = {
        "backlog": bars([(r.service.name, r.open_cases, str(r.open_cases)) for r in rows]),
        "automation": bars(
            [
                (r.service.name, r.automation_percent or 0, _percent(r.automation_percent))
                for r in rows
            ]
        ),
        "sla": bars([(r.service.name, r.sla_percent or 0, _percent(r.sla_percent)) for r in rows]),
        "overrides": bars(
            [(r.service.name, r.override_percent or 0, _percent(r.override_percent)) for r in rows]
        ),
        "satisfaction": bars(
            [
                (r.service.name, r.satisfaction_percent or 0, _percent(r.satisfaction_percent))
                for r in rows
            ]
        ),
    }
    context = {"agency": agency, "agencies": agencies, "rows": rows, "charts": charts, "days": 30}
    return render(request, "workspace/supervision.html", context)


@page("case.view")
@require_http_methods(["GET"])
def case_document(request: HttpRequest, reference: str, document_id: str) -> HttpResponse:
    """An applicant's document, for staff who may see the case (downloaded, never shown
    inline, so a crafted file cannot run in the page's origin)."""
    document = documents.case_document_get(
        viewer=_user(request), reference=reference, document_id=document_id
    )
    response = FileResponse(
        document.file.open("rb"),
        as_attachment=True,
        filename=document.name,
        content_type=document.content_type or "application/octet-stream",
    )
    response["Cache-Control"] = "private, no-store"
    # the page guard is typed for HttpResponse; a streamed answer is one in all but name
    return cast(HttpResponse, response)


urlpatterns = [
    path(
        "cases/<str:reference>/documents/<str:document_id>/",
        case_document,
        name="case_document",
    ),
    path("supervision/", supervision, name="supervision"),
    path("people/<str:person_id>/", person_360, name="person"),
    path("people/<str:person_id>/shared/", shared_fetch, name="shared_fetch"),
]
