"""The citizen's own pages: every case at every agency, one case with its decision letter,
its conversation with the caseworker and (once completed) the satisfaction question, their
data with its sources (and "report a mistake"), and tell us once."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases import selectors as case_selectors
from cases.services import messages as case_messages
from core.errors import ApplicationError
from identity.models import User
from identity.views import page
from portal import corrections, services, timeline
from portal.models import SatisfactionRating
from portal.your_data import FIELD_LABELS, your_data_get

CHANGE_OF_ADDRESS = "change-of-address"


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@page("case.view")
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    rows = timeline.dashboard_cases(viewer=_user(request))
    return render(request, "portal/dashboard.html", {"rows": rows})


class CaseMessageForm(forms.Form):
    body = forms.CharField(
        label=gettext_lazy("Your message"),
        help_text=gettext_lazy("Up to 5,000 characters. The staff working on your case read it."),
        required=False,  # the service says what is wrong, beside the field
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5}),
    )


class SatisfactionForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=gettext_lazy("How satisfied were you with this service?"),
        choices=SatisfactionRating.choices,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": gettext_lazy("Choose how satisfied you were."),
            "invalid_choice": gettext_lazy("Choose how satisfied you were."),
        },
    )
    comment = forms.CharField(
        label=gettext_lazy("How could we improve this service?"),
        help_text=gettext_lazy(
            "Up to 1,200 characters. Do not include personal details: this is not read "
            "as part of your case."
        ),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


def _put_error(form: forms.Form, error: ApplicationError) -> None:
    """The service's refusal beside the fields it names, else at the top of the form."""
    placed = False
    for name, problems in error.errors.items():
        if name in form.fields:
            for problem in problems:
                form.add_error(name, problem)
            placed = True
    if not placed:
        form.add_error(None, error.detail)


def _case_page(
    request: HttpRequest,
    reference: str,
    *,
    message_form: CaseMessageForm | None = None,
    satisfaction_form: SatisfactionForm | None = None,
    status: int = 200,
) -> HttpResponse:
    viewer = _user(request)
    # a case that is not the viewer's is "not found" (case_get), which the guard makes a 404
    detail = timeline.case_page(viewer=viewer, reference=reference)
    if any(not m.from_citizen and m.read_at is None for m in detail.messages):
        case_messages.case_messages_mark_read(actor=viewer, case=detail.case)
    context = {
        "page": detail,
        "case": detail.case,
        "message_form": message_form or CaseMessageForm(),
        "satisfaction_form": satisfaction_form or SatisfactionForm(),
    }
    return render(request, "portal/case.html", context, status=status)


@page("case.view")
@require_GET
def case_detail(request: HttpRequest, reference: str) -> HttpResponse:
    return _case_page(request, reference)


def _case_url(reference: str, anchor: str) -> str:
    return f"{reverse('portal:case', kwargs={'reference': reference})}#{anchor}"


@page("case.message")
@require_POST
def case_message(request: HttpRequest, reference: str) -> HttpResponse:
    viewer = _user(request)
    case = case_selectors.case_get(viewer=viewer, reference=reference, purpose="citizen portal")
    form = CaseMessageForm(request.POST)
    form.is_valid()
    try:
        case_messages.case_message_send(actor=viewer, case=case, body=form.cleaned_data["body"])
    except ApplicationError as error:
        if error.status in (403, 404):
            raise
        _put_error(form, error)
        return _case_page(request, reference, message_form=form, status=error.status)
    messages.success(
        request, _("Your message has been sent to %(agency)s.") % {"agency": case.agency.name}
    )
    return redirect(_case_url(reference, "messages"))


@page("satisfaction.give_own")
@require_POST
def case_satisfaction(request: HttpRequest, reference: str) -> HttpResponse:
    viewer = _user(request)
    case = case_selectors.case_get(viewer=viewer, reference=reference, purpose="citizen portal")
    form = SatisfactionForm(request.POST)
    if not form.is_valid():
        return _case_page(request, reference, satisfaction_form=form, status=400)
    try:
        services.satisfaction_give(
            actor=viewer,
            case=case,
            rating=form.cleaned_data["rating"],
            comment=form.cleaned_data["comment"],
        )
    except ApplicationError as error:
        if error.status in (403, 404):
            raise
        _put_error(form, error)
        return _case_page(request, reference, satisfaction_form=form, status=error.status)
    messages.success(request, _("Thank you for telling us how satisfied you were."))
    return redirect(_case_url(reference, "satisfaction"))


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
    path("cases/<str:reference>/messages/", case_message, name="case_message"),
    path("cases/<str:reference>/satisfaction/", case_satisfaction, name="case_satisfaction"),
    path("your-data/", my_data, name="my_data"),
    path("your-data/<slug:field>/report-a-mistake/", correction, name="correction"),
    path("tell-us-once/", tell_us_once, name="tell_us_once"),
]
