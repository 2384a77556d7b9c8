"""Helpers the exchange pages share."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest

from core.errors import ApplicationError
from identity.models import User

PAGE_SIZE = 25


def user_of(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def put_error(form: forms.Form, error: ApplicationError) -> None:
    """The service's refusal beside the fields it names, else at the top of the form."""
    placed = False
    for name, problems in error.errors.items():
        if name in form.fields:
            for problem in problems:
                form.add_error(name, problem)
            placed = True
        else:
            for problem in problems:
                form.add_error(None, f"{name}: {problem}")
            placed = True
    if not placed:
        form.add_error(None, error.detail)


def form_status(form: forms.Form) -> int:
    """A form sent back with errors answers 400, so scripts and tests see the failure."""
    return 400 if form.errors else 200
