"""Helpers the consent pages share."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from consent.errors import AgreementExists, UnknownPurpose
from core.errors import ApplicationError
from identity.models import User

PAGE_SIZE = 25

# Errors that concern one field, though the service raised them without `errors`.
FIELD_OF_ERROR: dict[type[ApplicationError], str] = {
    UnknownPurpose: "purpose",
    AgreementExists: "code",
}


def user_of(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def error_page(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    return render(request, "consent/error.html", {"error": error}, status=error.status)


def put_error(form: forms.Form, error: ApplicationError) -> None:
    """The service's refusal beside the fields it names, else at the top of the form."""
    placed = False
    for name, problems in error.errors.items():
        if name in form.fields:
            for problem in problems:
                form.add_error(name, problem)
            placed = True
    field = next((f for kind, f in FIELD_OF_ERROR.items() if isinstance(error, kind)), None)
    if not placed and field in form.fields:
        form.add_error(field, error.detail)
        placed = True
    if not placed:
        form.add_error(None, error.detail)


def form_status(form: forms.Form) -> int:
    """A form sent back with errors answers 400, so scripts and tests see the failure."""
    return 400 if form.errors else 200
