"""Staff pages of agency feeds: the mapping, uploads, load progress, rejected rows.

An upload is checked at once (size, encoding, header) and then loads in the background;
the batch page refreshes itself while it loads (a meta refresh: no script needed) and then
lists the rejected rows, each with a form to correct and send it again.
"""

import codecs
from typing import Any
from uuid import UUID

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError, PermissionDenied
from identity import policy
from identity import selectors as identity_selectors
from identity.models import Agency, User
from identity.views import page
from registry.mapping import MappingInvalid, mapping_parse
from registry.models import BatchStatus, RejectedRow, RejectedRowStatus
from registry.schemas.feeds import batch_progress
from registry.selectors import feeds as selectors
from registry.services import feeds as services

DEFAULT_UPLOAD_MAX_BYTES = 50 * 1024 * 1024
REFRESH_SECONDS = 2
ROWS_PER_PAGE = 100


def upload_max_bytes() -> int:
    return int(getattr(settings, "REGISTRY_UPLOAD_MAX_BYTES", DEFAULT_UPLOAD_MAX_BYTES))


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _agency(code: str) -> Agency:
    return identity_selectors.agency_get(code=code)


# --- forms ---------------------------------------------------------------------------------


class MappingForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Mapping (YAML)"),
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false", "class": "code"}),
        help_text=gettext_lazy(
            "For each common field, the column it comes from; record_id names the column "
            "with your record id. Saving makes a new version."
        ),
    )

    def clean_text(self) -> str:
        text: str = self.cleaned_data["text"]
        try:
            mapping_parse(text)
        except MappingInvalid as exc:
            raise forms.ValidationError(
                [f"{key}: {message}" for key, msgs in exc.errors.items() for message in msgs]
                or [exc.detail]
            ) from None
        return text


FORMAT_CHOICES = [
    ("", gettext_lazy("As the mapping says")),
    ("csv", gettext_lazy("CSV")),
    ("jsonl", gettext_lazy("JSON Lines")),
]


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy("CSV with a header row, or JSON Lines (one record per line)."),
    )
    format = forms.ChoiceField(label=gettext_lazy("Format"), choices=FORMAT_CHOICES, required=False)
    encoding = forms.CharField(
        label=gettext_lazy("Encoding"),
        required=False,
        max_length=40,
        help_text=gettext_lazy("Leave empty for the mapping's (usually UTF-8), e.g. latin-1."),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        limit = upload_max_bytes()
        if upload.size > limit:
            raise forms.ValidationError(
                _("The file is %(size)s MB; the largest accepted is %(limit)s MB.")
                % {"size": round(upload.size / 1048576, 1), "limit": limit // 1048576}
            )
        if upload.size == 0:
            raise forms.ValidationError(_("The file is empty."))
        return upload

    def clean_encoding(self) -> str:
        encoding: str = self.cleaned_data["encoding"].strip()
        if encoding:
            try:
                codecs.lookup(encoding)
            except LookupError:
                raise forms.ValidationError(
                    _("%(name)s is not an encoding we know; try utf-8 or latin-1.")
                    % {"name": encoding}
                ) from None
        return encoding


class CorrectionForm(forms.Form):
    """One text input per column of the rejected row, as it was sent."""

    def __init__(self, *args: Any, values: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.columns = list(values)
        for number, column in enumerate(self.columns):
            value = values[column]
            self.fields[f"c{number}"] = forms.CharField(
                label=column,
                required=False,
                initial="" if value is None else str(value),
                max_length=2000,
            )

    def values(self) -> dict[str, str]:
        return {col: self.cleaned_data[f"c{i}"] for i, col in enumerate(self.columns)}

    def add_row_errors(
        self, errors: dict[str, list[str]], columns_of: dict[str, list[str]]
    ) -> None:
        for field_name, messages_ in errors.items():
            targets = [
                f"c{self.columns.index(c)}"
                for c in columns_of.get(field_name, [field_name])
                if c in self.columns
            ]
            for message in messages_:
                self.add_error(targets[0] if targets else None, message)


# --- pages ---------------------------------------------------------------------------------


def _feed_context(request: HttpRequest, agency: Agency) -> dict[str, Any]:
    viewer = _user(request)
    mapping, spec, text = selectors.feed_mapping_effective(viewer=viewer, agency=agency)
    return {
        "agency": agency,
        "mapping": mapping,
        "spec": spec,
        "mapping_text": text,
        "batches": list(selectors.ingest_batch_list(viewer=viewer, agency=agency)[:20]),
        "may_load": policy.can(viewer, "source_record.manage", agency),
        "may_edit_mapping": policy.can(viewer, "feed_mapping.manage", agency),
        "open_rejected": (
            selectors.rejected_row_list_for_agency(viewer=viewer, agency=agency).count()
            if policy.can(viewer, "source_record.manage", agency)
            else None
        ),
        "upload_max_mb": upload_max_bytes() // 1048576,
    }


@page("source_record.view")
@require_http_methods(["GET", "POST"])
def feed_agency(request: HttpRequest, code: str) -> HttpResponse:
    """An agency's feed: the mapping (editable), an upload form, recent loads."""
    agency = _agency(code)
    context = _feed_context(request, agency)
    mapping_form = MappingForm(initial={"text": context["mapping_text"]})
    status = 200
    if request.method == "POST":
        mapping_form = MappingForm(request.POST)
        if mapping_form.is_valid():
            saved = services.feed_mapping_save(
                agency=agency, text_or_spec=mapping_form.cleaned_data["text"], actor=_user(request)
            )
            messages.success(request, _("Mapping saved as version %(v)s.") % {"v": saved.version})
            return redirect("registry:feed_agency", code=agency.code)
        status = 400
    context.update(mapping_form=mapping_form, upload_form=UploadForm())
    return render(request, "registry/feeds/agency.html", context, status=status)


@page("source_record.manage")
@require_http_methods(["POST"])
def feed_upload(request: HttpRequest, code: str) -> HttpResponse:
    """Check an uploaded file and queue its load; then show its progress."""
    agency = _agency(code)
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            batch = services.ingest_upload_start(
                agency=agency,
                data=upload.read(),
                actor=_user(request),
                filename=upload.name or "",
                fmt=form.cleaned_data["format"] or None,
                encoding=form.cleaned_data["encoding"] or None,
            )
        except ApplicationError as exc:
            if isinstance(exc, PermissionDenied):
                raise
            form.add_error("file", exc.detail)
        else:
            return redirect("registry:feed_batch", batch_id=batch.pk)
    context = _feed_context(request, agency)
    context.update(
        mapping_form=MappingForm(initial={"text": context["mapping_text"]}), upload_form=form
    )
    return render(request, "registry/feeds/agency.html", context, status=400)


@page("source_record.view")
@require_http_methods(["GET"])
def feed_batch(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    """A load's progress (refreshing itself until done), its counts and its rejected rows."""
    viewer = _user(request)
    batch = selectors.ingest_batch_get(viewer=viewer, batch_id=batch_id)
    loading = batch.status in (BatchStatus.PENDING, BatchStatus.RUNNING)
    rows: list[RejectedRow] = []
    may_correct = policy.can(viewer, "source_record.manage", batch.agency)
    if not loading and may_correct:
        rows = list(selectors.rejected_row_list(viewer=viewer, batch=batch)[:ROWS_PER_PAGE])
        selectors.rejected_rows_read(viewer=viewer, batch=batch, rows=rows)
    context = {
        "batch": batch,
        "loading": loading,
        "progress": batch_progress(batch),
        "refresh_seconds": REFRESH_SECONDS,
        "rows": rows,
        "more_rows": max(0, batch.rejected_count - len(rows)) if may_correct else 0,
        "may_correct": may_correct,
    }
    return render(request, "registry/feeds/batch.html", context)


@page("source_record.manage")
@require_http_methods(["GET", "POST"])
def feed_rejected_row(request: HttpRequest, row_id: int) -> HttpResponse:
    """One rejected row as sent, its errors, and a form to correct and send it again."""
    viewer = _user(request)
    row = selectors.rejected_row_get(viewer=viewer, row_id=row_id)
    values = services.rejected_row_values(row)
    form = CorrectionForm(request.POST or None, values=values)
    status = 200
    if request.method == "POST" and row.status == RejectedRowStatus.OPEN and form.is_valid():
        try:
            result = services.rejected_row_resubmit(row=row, values=form.values(), actor=viewer)
        except services.CorrectionInvalid as exc:
            spec = services.feed_spec_for(agency=row.agency)[1]
            columns_of = {t: list(r.columns) for t, r in spec.fields.items()}
            columns_of["agency_record_id"] = [spec.record_id]
            form.add_row_errors(exc.errors, columns_of)
        except services.RejectedRowClosed as exc:
            form.add_error(None, exc.detail)
        else:
            messages.success(
                request,
                _("Row %(n)s corrected and loaded (%(c)s created, %(u)s updated).")
                % {
                    "n": row.row_number,
                    "c": result.batch.created_count,
                    "u": result.batch.updated_count,
                },
            )
            return redirect("registry:feed_batch", batch_id=row.batch_id)
        status = 400
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "registry/feeds/rejected_row.html",
        {
            "row": row,
            "form": form,
            "batch_url": reverse("registry:feed_batch", args=[row.batch_id]),
        },
        status=status,
    )


urlpatterns: list[URLPattern] = [
    path("feeds/<slug:code>/", feed_agency, name="feed_agency"),
    path("feeds/<slug:code>/upload/", feed_upload, name="feed_upload"),
    path("feeds/batches/<uuid:batch_id>/", feed_batch, name="feed_batch"),
    path("feeds/rejected/<int:row_id>/", feed_rejected_row, name="feed_rejected_row"),
]
