"""Signing up, and verifying one's identity to link the account to one's records."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import auth, messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from core.access import public
from core.errors import ApplicationError
from identity import services as identity_services
from identity.models import User
from identity.views import page
from portal import verification
from registry.services.citizens import citizen_person

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


class SignUpForm(forms.Form):
    first_name = forms.CharField(label=_("Given name"), max_length=150)
    last_name = forms.CharField(label=_("Family name"), max_length=150)
    email = forms.EmailField(
        label=_("E-mail address"), help_text=_("We send messages about your applications here.")
    )
    username = forms.RegexField(
        label=_("Username"),
        regex=r"^[\w.@+-]{3,150}$",
        help_text=_("3 to 150 letters, digits and @ . + - _"),
        error_messages={"invalid": _("Use 3 to 150 letters, digits and @ . + - _ only.")},
    )
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(render_value=False),
        max_length=200,
        help_text=_("At least 12 characters; not a common password."),
    )
    password_again = forms.CharField(
        label=_("Password again"), widget=forms.PasswordInput(render_value=False), max_length=200
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", _("The two passwords are not the same."))
        return data


class VerifyForm(forms.Form):
    national_id = forms.CharField(
        label=_("National ID"), max_length=40, help_text=_("As printed on your identity card.")
    )
    date_of_birth = forms.DateField(
        label=_("Date of birth"),
        help_text=_("For example 1985-03-14"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )


def _put_errors(form: forms.Form, error: ApplicationError) -> None:
    for field, problems in (error.errors or {}).items():
        for problem in problems:
            form.add_error(field if field in form.fields else None, problem)
    if not error.errors:
        form.add_error(None, error.detail)


@public("anyone may create a citizen account; it sees nothing until verified")
@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("portal:dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                user = identity_services.citizen_register(
                    username=data["username"],
                    password=data["password"],
                    email=data["email"],
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                )
        except ApplicationError as error:
            _put_errors(form, error)
            if error.code == "username_taken":
                form.add_error("username", _("This username is taken. Choose another."))
        else:
            auth.login(request, user, backend=MODEL_BACKEND)
            return redirect("portal:verify")
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "portal/account/sign_up.html", {"form": form}, status=status)


@page("identity.verify_own")
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    if citizen_person(user=user) is not None and user.national_id:
        return render(request, "portal/account/verified.html", {})
    form = VerifyForm(request.POST or None)
    state = verification.identity_check_state(user=user)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            verification.identity_verify(
                user=user,
                national_id=form.cleaned_data["national_id"],
                date_of_birth=form.cleaned_data["date_of_birth"],
            )
        except ApplicationError as error:
            _put_errors(form, error)
            status = error.status
            state = verification.identity_check_state(user=user)
        else:
            messages.success(request, _("Your identity is verified: your account is linked."))
            return redirect("portal:my_data")
    elif form.is_bound:
        status = 400
    context = {"form": form, "state": state, "max_failures": verification.MAX_FAILURES}
    return render(request, "portal/account/verify.html", context, status=status)


urlpatterns = [
    path("sign-up/", sign_up, name="sign_up"),
    path("verify/", verify, name="verify"),
]
