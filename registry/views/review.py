"""Clerical review pages: the queue, one pair side by side, a person's merge/split/history.

Every page needs ``person.review``; every change is a POST with CSRF that calls the same
service as the API. A refused change (already decided, a record moved since, a split that
would take every record) is shown beside the form, and nothing is changed.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ApplicationError
from identity import selectors as identity_selectors
from identity.models import User
from identity.views import page
from registry.models import CandidateStatus
from registry.selectors import review as selectors
from registry.services import review as services

PAGE_SIZE = 25
NOTE_MAX = services.NOTE_MAX


class NoteField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", gettext_lazy("Note"))
        kwargs.setdefault(
            "help_text", gettext_lazy("Optional. Why you decided; kept in the history.")
        )
        super().__init__(
            required=False,
            max_length=NOTE_MAX,
            widget=forms.Textarea(attrs={"rows": 3, "maxlength": NOTE_MAX}),
            **kwargs,
        )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("accept", "accept"), ("reject", "reject")], widget=forms.HiddenInput
    )
    note = NoteField()


class MergeForm(forms.Form):
    other = forms.CharField(
        label=gettext_lazy("Person to merge into this one"),
        help_text=gettext_lazy(
            "Their id, for example P0123456789AB. Their records move here and their id "
            "will point to this person."
        ),
        max_length=16,
    )
    note = NoteField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "merge")
        super().__init__(*args, **kwargs)


class SplitForm(forms.Form):
    records = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Records that belong to a different person"),
        help_text=gettext_lazy(
            "They become a new person. Leave at least one record with this person."
        ),
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )
    note = NoteField()

    def __init__(self, *args: Any, records: list[Any], **kwargs: Any) -> None:
        kwargs.setdefault("prefix", "split")
        super().__init__(*args, **kwargs)
        field = self.fields["records"]
        assert isinstance(field, forms.TypedMultipleChoiceField)
        field.choices = [
            (
                r.pk,
                f"{r.agency.code}:{r.agency_record_id} · {r.full_name or '—'} · "
                f"{r.date_of_birth or r.date_of_birth_raw or '—'}",
            )
            for r in records
        ]


class UndoForm(forms.Form):
    note = NoteField()


def _viewer(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _put_error(form: forms.Form, error: ApplicationError, field_map: dict[str, str]) -> None:
    """The service's refusal beside the field it names, else at the top of the form."""
    placed = False
    for name, problems in error.errors.items():
        field = field_map.get(name, name)
        if field in form.fields:
            for problem in problems:
                form.add_error(field, problem)
            placed = True
    if not placed or not error.errors:
        form.add_error(None, error.detail)


# --- the queue ---------------------------------------------------------------------------


STATUS_CHOICES = [
    ("open", gettext_lazy("Waiting for review")),
    ("accepted", gettext_lazy("Same person")),
    ("rejected", gettext_lazy("Different people")),
    ("superseded", gettext_lazy("No longer relevant")),
    ("all", gettext_lazy("All")),
]
ORDER_CHOICES = [
    ("uncertainty", gettext_lazy("Least certain first")),
    ("probability", gettext_lazy("Highest probability first")),
    ("probability_asc", gettext_lazy("Lowest probability first")),
    ("oldest", gettext_lazy("Oldest first")),
    ("newest", gettext_lazy("Newest first")),
]


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(label=gettext_lazy("Status"), choices=STATUS_CHOICES, required=False)
    agency = forms.ChoiceField(label=gettext_lazy("Agency"), required=False)
    ordering = forms.ChoiceField(label=gettext_lazy("Order"), choices=ORDER_CHOICES, required=False)

    def __init__(self, *args: Any, agencies: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["agency"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("All agencies")), *agencies]


@page("person.review")
@require_http_methods(["GET"])
def review_queue(request: HttpRequest) -> HttpResponse:
    viewer = _viewer(request)
    agencies = [(a.code, a.name) for a in identity_selectors.agency_list(viewer=viewer)]
    form = QueueFilterForm(request.GET or None, agencies=agencies)
    status, ordering, agency = "open", "uncertainty", ""
    if form.is_valid():
        status = form.cleaned_data["status"] or status
        ordering = form.cleaned_data["ordering"] or ordering
        agency = form.cleaned_data["agency"] or ""
    qs = selectors.match_candidate_queue(
        viewer=viewer, status=status, ordering=ordering, agency=agency or None
    )
    paginator = Paginator(qs, PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page_obj": page_obj,
        "candidates": list(page_obj.object_list),
        "query": query.urlencode(),
        "status": status,
    }
    return render(
        request, "registry/review/queue.html", context, status=400 if form.errors else 200
    )


# --- one pair ----------------------------------------------------------------------------


@page("person.review")
@require_http_methods(["GET", "POST"])
def review_candidate(request: HttpRequest, candidate_id: int) -> HttpResponse:
    viewer = _viewer(request)
    form = DecisionForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            decide = (
                services.match_candidate_accept
                if form.cleaned_data["decision"] == "accept"
                else services.match_candidate_reject
            )
            try:
                candidate = selectors.match_candidate_for_decision(
                    viewer=viewer, candidate_id=candidate_id
                )
                change = decide(candidate=candidate, actor=viewer, note=form.cleaned_data["note"])
            except ApplicationError as error:
                _put_error(form, error, {})
                status = error.status
            else:
                messages.success(request, _decision_message(candidate_id, change))
                return redirect("registry:review_queue")
        else:
            if "decision" in form.errors:
                form.add_error(None, _("Choose “Same person” or “Different people”."))
            status = 400
    try:
        view = selectors.match_candidate_get(viewer=viewer, candidate_id=candidate_id)
    except ApplicationError as error:
        return _error_page(request, error)
    context = {
        "view": view,
        "form": form,
        "is_open": view.candidate.status == CandidateStatus.OPEN,
        "chart_scale": max((abs(b.weight) for b in view.bars), default=0.0),
    }
    return render(request, "registry/review/candidate.html", context, status=status)


def _decision_message(candidate_id: int, change: services.MembershipChange) -> str:
    if change.candidate_status == CandidateStatus.REJECTED:
        return _("Pair %(id)s: recorded as different people.") % {"id": candidate_id}
    return _("Pair %(id)s: recorded as the same person, now %(person)s.") % {
        "id": candidate_id,
        "person": change.survivor,
    }


def _error_page(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    return render(request, "registry/review/error.html", {"error": error}, status=error.status)


# --- a person: merge, split, history -----------------------------------------------------


def _person_page(
    request: HttpRequest,
    person_id: str,
    *,
    merge_form: MergeForm | None = None,
    split_form: SplitForm | None = None,
    undo_error: str = "",
    status: int = 200,
) -> HttpResponse:
    try:
        review = selectors.person_review_get(viewer=_viewer(request), person_id=person_id)
    except ApplicationError as error:
        return _error_page(request, error)
    context = {
        "review": review,
        "person": review.person,
        "merge_form": merge_form or MergeForm(),
        "split_form": split_form or SplitForm(records=review.records),
        "undo_form": UndoForm(),
        "undo_error": undo_error,
        "can_split": len(review.records) > 1 and review.person.retired_at is None,
    }
    return render(request, "registry/review/person.html", context, status=status)


@page("person.review")
@require_http_methods(["GET"])
def person_review(request: HttpRequest, person_id: str) -> HttpResponse:
    return _person_page(request, person_id)


@page("person.review")
@require_POST
def person_merge(request: HttpRequest, person_id: str) -> HttpResponse:
    viewer = _viewer(request)
    form = MergeForm(request.POST)
    if not form.is_valid():
        return _person_page(request, person_id, merge_form=form, status=400)
    try:
        survivor = selectors.person_for_review(viewer=viewer, person_id=person_id)
        merged = selectors.person_for_review(viewer=viewer, person_id=form.cleaned_data["other"])
        change = services.persons_merge(
            survivor=survivor, merged=merged, actor=viewer, note=form.cleaned_data["note"]
        )
    except ApplicationError as error:
        if error.status == 404 and not error.errors:
            form.add_error("other", error.detail)
        else:
            _put_error(form, error, {})
        return _person_page(request, person_id, merge_form=form, status=error.status)
    messages.success(
        request,
        ngettext(
            "%(merged)s merged into %(survivor)s: %(count)s record moved.",
            "%(merged)s merged into %(survivor)s: %(count)s records moved.",
            len(change.records_moved),
        )
        % {"merged": merged.pk, "survivor": survivor.pk, "count": len(change.records_moved)},
    )
    return redirect("registry:person_review", person_id=survivor.pk)


@page("person.review")
@require_POST
def person_split(request: HttpRequest, person_id: str) -> HttpResponse:
    viewer = _viewer(request)
    try:
        review = selectors.person_review_get(viewer=viewer, person_id=person_id)
    except ApplicationError as error:
        return _error_page(request, error)
    form = SplitForm(request.POST, records=review.records)
    if not form.is_valid():
        return _person_page(request, person_id, split_form=form, status=400)
    try:
        change = services.person_split(
            person=review.person,
            record_ids=form.cleaned_data["records"],
            actor=viewer,
            note=form.cleaned_data["note"],
        )
    except ApplicationError as error:
        _put_error(form, error, {"record_ids": "records"})
        return _person_page(request, person_id, split_form=form, status=error.status)
    messages.success(
        request,
        ngettext(
            "%(count)s record split off into the new person %(new)s.",
            "%(count)s records split off into the new person %(new)s.",
            len(change.records_moved),
        )
        % {"count": len(change.records_moved), "new": change.new_person},
    )
    return redirect("registry:person_review", person_id=review.person.pk)


@page("person.review")
@require_POST
def membership_undo(request: HttpRequest, action: uuid.UUID) -> HttpResponse:
    viewer = _viewer(request)
    form = UndoForm(request.POST)
    back = request.POST.get("person", "")
    if not form.is_valid():
        return _person_page(request, back, undo_error=_("The note is too long."), status=400)
    try:
        change = services.membership_action_undo(
            action=action, actor=viewer, note=form.cleaned_data["note"]
        )
    except ApplicationError as error:
        if not back:
            return _error_page(request, error)
        return _person_page(request, back, undo_error=error.detail, status=error.status)
    messages.success(
        request,
        ngettext(
            "Change undone: %(count)s record is back with its previous person.",
            "Change undone: %(count)s records are back with their previous persons.",
            len(change.records_moved),
        )
        % {"count": len(change.records_moved)},
    )
    if back:
        return redirect("registry:person_review", person_id=back)
    return redirect(reverse("registry:review_queue"))


urlpatterns: list[URLPattern] = [
    path("review/", review_queue, name="review_queue"),
    path("review/<int:candidate_id>/", review_candidate, name="review_candidate"),
    path("persons/<str:person_id>/review/", person_review, name="person_review"),
    path("persons/<str:person_id>/merge/", person_merge, name="person_merge"),
    path("persons/<str:person_id>/split/", person_split, name="person_split"),
    path("persons/actions/<uuid:action>/undo/", membership_undo, name="membership_undo"),
]
