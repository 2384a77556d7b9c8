"""The citizen's own pages: every case at every agency, one case with its decision letter,
their data with its sources (and "report a mistake"), and tell us once."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from core.errors import ApplicationError
from identity.models import User
from identity.views import page
from portal import corrections, timeline
from portal.your_data import FIELD_LABELS, your_data_get

CHANGE_OF_ADDRESS = "change-of-address"


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@page("case.view")
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    rows = timeline.dashboard_cases(viewer=_user(request))
    return render(request, "portal/dashboard.html", {"rows": rows})


@page("case.view")
@require_GET
def case_detail(request: HttpRequest, reference: str) -> HttpResponse:
    # a case that is not the viewer's is "not found" (case_get), which the guard makes a 404
    detail = timeline.case_page(viewer=_user(request), reference=reference)
    return render(request, "portal/case.html", {"page": detail, "case": detail.case})


@page("person.view_own")
@require_GET
def my_data(request: HttpRequest) -> HttpResponse:
    data = your_data_get(viewer=_user(request))
    return render(request, "portal/my_data.html", {"data": data})


class CorrectionForm(forms.Form):
    correct_value = forms.CharField(
        label=gettext_lazy("The correct value"),
        max_length=corrections.MAX_VALUE,
        strip=True,
    )
    note = forms.CharField(
        label=gettext_lazy("Anything the agency should know"),
        help_text=gettext_lazy("For example, when it changed or a document that shows it."),
        required=False,
        max_length=corrections.MAX_NOTE,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


@page("person.view_own")
@require_http_methods(["GET", "POST"])
def correction(request: HttpRequest, field: str) -> HttpResponse:
    viewer = _user(request)
    data = your_data_get(viewer=viewer, purpose="report a mistake")
    held = data.field(field) if data is not None and field in FIELD_LABELS else None
    if data is None or held is None or held.from_portal:
        # nothing an agency could correct: "your data" says why (not linked, no such detail)
        return redirect("portal:my_data")
    form = CorrectionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                case = corrections.correction_request_submit(
                    actor=viewer,
                    field=field,
                    correct_value=form.cleaned_data["correct_value"],
                    note=form.cleaned_data["note"],
                )
            except ApplicationError as error:
                placed = False
                for name, problems in error.errors.items():
                    if name in form.fields:
                        for problem in problems:
                            form.add_error(name, problem)
                        placed = True
                if not placed:
                    form.add_error(None, error.detail)
                status = error.status
            else:
                messages.success(
                    request,
                    _("%(agency)s has your request to correct your %(field)s: case %(ref)s.")
                    % {
                        "agency": held.agency_name,
                        "field": held.label.lower(),
                        "ref": case.reference,
                    },
                )
                return redirect("portal:case", reference=case.reference)
        else:
            status = 400
    context = {"form": form, "held": held}
    return render(request, "portal/correction.html", context, status=status)


def _apply_url(code: str) -> str:
    return reverse("portal:apply_start", kwargs={"code": code})


@page("person.view_own")
@require_GET
def tell_us_once(request: HttpRequest) -> HttpResponse:
    viewer = _user(request)
    data = your_data_get(viewer=viewer, purpose="tell us once")
    context = {
        "data": data,
        "history": timeline.address_history(viewer=viewer) if data is not None else [],
        "start_url": _apply_url(CHANGE_OF_ADDRESS),
    }
    return render(request, "portal/tell_us_once.html", context)


urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("cases/<str:reference>/", case_detail, name="case"),
    path("your-data/", my_data, name="my_data"),
    path("your-data/<slug:field>/report-a-mistake/", correction, name="correction"),
    path("tell-us-once/", tell_us_once, name="tell_us_once"),
]
