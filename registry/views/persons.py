"""Staff pages of the master person index: find a person, read the golden record."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError
from identity import policy
from identity.models import User
from identity.views import page
from registry.selectors import persons as selectors
from registry.services.persons import GOLDEN_FIELDS

FIELD_LABELS = {
    "given_name": _("Given name"),
    "middle_name": _("Middle name"),
    "family_name": _("Family name"),
    "date_of_birth": _("Date of birth"),
    "sex": _("Sex"),
    "address_line": _("Address"),
    "locality": _("Town"),
    "postcode": _("Postcode"),
    "phone": _("Phone"),
    "email": _("E-mail"),
    "national_id": _("National ID"),
}


class PersonSearchForm(forms.Form):
    purpose = forms.CharField(
        label=_("Why are you looking this person up?"),
        min_length=3,
        max_length=200,
        help_text=_("Kept in the audit trail, which the person can see."),
    )
    name = forms.CharField(label=_("Name"), required=False, max_length=200)
    date_of_birth = forms.DateField(
        label=_("Date of birth"),
        required=False,
        help_text=_("For example 1985-03-14"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    national_id = forms.CharField(label=_("National ID"), required=False, max_length=40)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("name") or data.get("date_of_birth") or data.get("national_id")):
            raise forms.ValidationError(_("Give a national ID, or a name and/or a date of birth."))
        return data


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@page("person.view")
@require_http_methods(["GET"])
def person_search(request: HttpRequest) -> HttpResponse:
    # A GET form: the page can be bookmarked and refreshed; the purpose is in the URL
    # but names are kept short-lived by not being logged (the access log omits queries).
    form = PersonSearchForm(request.GET if request.GET else None)
    hits = None
    if form.is_bound and form.is_valid():
        try:
            hits = selectors.person_search(
                viewer=_user(request),
                purpose=form.cleaned_data["purpose"],
                name=form.cleaned_data["name"] or None,
                date_of_birth=form.cleaned_data["date_of_birth"],
                national_id=form.cleaned_data["national_id"] or None,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.detail)
    status = 400 if form.is_bound and form.errors else 200
    return render(
        request, "registry/persons/search.html", {"form": form, "hits": hits}, status=status
    )


@page("person.view")
@require_http_methods(["GET"])
def person_detail(request: HttpRequest, person_id: str) -> HttpResponse:
    purpose = request.GET.get("purpose", "").strip()
    if len(purpose) < 3:
        return render(
            request,
            "registry/persons/purpose.html",
            {"person_id": person_id, "error": bool(request.GET.get("purpose") is not None)},
            status=400 if "purpose" in request.GET else 200,
        )
    view = selectors.person_get(viewer=_user(request), person_id=person_id, purpose=purpose)
    rows = [
        {"field": name, "label": FIELD_LABELS[name], **view.golden[name]}
        for name in GOLDEN_FIELDS
        if name in view.golden
    ]
    return render(
        request,
        "registry/persons/detail.html",
        {
            "view": view,
            "person": view.person,
            "rows": rows,
            "purpose": purpose,
            "can_review": policy.can(_user(request), "person.review", view.person),
        },
    )


urlpatterns = [
    path("persons/", person_search, name="person_search"),
    path("persons/<str:person_id>/", person_detail, name="person_detail"),
]
