"""Application forms for citizens, built from the service's JSON Schema form.

The fields come from the shared builder (`cases.schema_forms`, also used for staff task
forms); this module adds what applying needs:

- steps: a form of more than `MAX_QUESTIONS_ON_ONE_PAGE` questions is asked one question per
  page; a shorter one on one page. Either is followed by "check your answers".
- documents: a property with `"format": "binary"` or an `x-upload` annotation is a file
  upload. `x-upload` may say `{"accept": ["application/pdf", "image/png"], "max_bytes":
  5242880}` (defaults: PDF, JPG or PNG, up to 5 MB). The file's name, its first bytes and
  its size are checked; the application's data then holds the stored document's id.
- the answers as typed: a draft keeps the text of every answer (even one that is not valid
  yet), and "check your answers" validates them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cases.schema_forms import choice_label, field_label, field_order, schema_field

MAX_QUESTIONS_ON_ONE_PAGE = 5
ONE_PAGE_STEP = "questions"
DEFAULT_ACCEPT = ("application/pdf", "image/jpeg", "image/png")
DEFAULT_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class FileType:
    extensions: tuple[str, ...]
    magic: bytes | None  # how the file starts, where the type has a signature
    label: str


FILE_TYPES = {
    "application/pdf": FileType((".pdf",), b"%PDF-", "PDF"),
    "image/jpeg": FileType((".jpg", ".jpeg"), b"\xff\xd8\xff", "JPG"),
    "image/png": FileType((".png",), b"\x89PNG\r\n\x1a\n", "PNG"),
    "text/plain": FileType((".txt",), None, "TXT"),
}


@dataclass(frozen=True)
class UploadRule:
    accept: tuple[str, ...]
    max_bytes: int

    @property
    def labels(self) -> str:
        names = [FILE_TYPES[t].label for t in self.accept]
        if len(names) == 1:
            return names[0]
        return _("%(first)s or %(last)s") % {"first": ", ".join(names[:-1]), "last": names[-1]}

    @property
    def size_text(self) -> str:
        megabytes = self.max_bytes / (1024 * 1024)
        return _("%(n)s MB") % {"n": f"{megabytes:g}"}


def is_upload(spec: dict[str, Any]) -> bool:
    return spec.get("format") == "binary" or "x-upload" in spec


def upload_rule(spec: dict[str, Any]) -> UploadRule:
    declared = spec.get("x-upload") or {}
    accept = tuple(t for t in declared.get("accept", DEFAULT_ACCEPT) if t in FILE_TYPES)
    max_bytes = declared.get("max_bytes", DEFAULT_MAX_BYTES)
    return UploadRule(accept or DEFAULT_ACCEPT, int(max_bytes))


class DocumentField(forms.FileField):
    """A file upload whose type (name and first bytes) and size are checked."""

    def __init__(self, *, rule: UploadRule, **kwargs: Any) -> None:
        self.rule = rule
        super().__init__(**kwargs)
        self.error_messages["required"] = gettext_lazy("Select a file")
        self.error_messages["empty"] = gettext_lazy("The selected file is empty")
        self.widget.attrs["accept"] = ",".join(
            ext for t in rule.accept for ext in FILE_TYPES[t].extensions
        )

    def validate(self, value: Any) -> None:
        super().validate(value)
        if not isinstance(value, UploadedFile):
            return
        if value.size is not None and value.size > self.rule.max_bytes:
            raise forms.ValidationError(
                _("The selected file must be smaller than %(size)s") % {"size": self.rule.size_text}
            )
        if self.file_type(value) is None:
            raise forms.ValidationError(
                _("The selected file must be a %(types)s") % {"types": self.rule.labels}
            )

    def file_type(self, upload: UploadedFile) -> str | None:
        """The accepted type the file is (by its name and its first bytes), if any."""
        name = (upload.name or "").lower()
        upload.seek(0)
        head = upload.read(16)
        upload.seek(0)
        for kind in self.rule.accept:
            spec = FILE_TYPES[kind]
            if name.endswith(spec.extensions) and (
                spec.magic is None or head.startswith(spec.magic)
            ):
                return kind
        return None


@dataclass(frozen=True)
class Step:
    slug: str
    fields: tuple[str, ...]


def form_steps(schema: dict[str, Any] | None) -> list[Step]:
    """The pages of an application: one question each when there are many."""
    order = field_order(schema)
    if len(order) > MAX_QUESTIONS_ON_ONE_PAGE:
        return [Step(name, (name,)) for name in order]
    return [Step(ONE_PAGE_STEP, tuple(order))]


def _properties(schema: dict[str, Any] | None) -> dict[str, Any]:
    return dict((schema or {}).get("properties") or {})


def step_form_class(
    schema: dict[str, Any] | None, step: Step, *, attached: set[str]
) -> type[forms.Form]:
    """The form of one page. A document field already attached need not be sent again."""
    properties = _properties(schema)
    required = set((schema or {}).get("required", []))
    fields: dict[str, forms.Field] = {}
    for name in step.fields:
        spec = properties.get(name) or {}
        if is_upload(spec):
            rule = upload_rule(spec)
            hint = _("The file must be a %(types)s and smaller than %(size)s.") % {
                "types": rule.labels,
                "size": rule.size_text,
            }
            hints = [h for h in (spec.get("description"), spec.get("x-hint"), hint) if h]
            fields[name] = DocumentField(
                rule=rule,
                label=field_label(name, spec),
                required=name in required and name not in attached,
                help_text=" ".join(hints),
            )
        else:
            fields[name] = schema_field(name, spec, name in required, boolean_radios=True)
    return type("ApplicationStepForm", (forms.Form,), fields)


def answers_form_class(schema: dict[str, Any] | None) -> type[forms.Form]:
    """The whole application, to check the answers as typed; a document is its id."""
    properties = _properties(schema)
    required = set((schema or {}).get("required", []))
    fields: dict[str, forms.Field] = {}
    for name in field_order(schema):
        spec = properties.get(name) or {}
        if is_upload(spec):
            fields[name] = forms.CharField(
                label=field_label(name, spec),
                required=name in required,
                error_messages={"required": gettext_lazy("Select a file")},
            )
        else:
            fields[name] = schema_field(name, spec, name in required, boolean_radios=True)
    return type("ApplicationAnswersForm", (forms.Form,), fields)


def typed_answers(form: forms.Form, post: Any) -> dict[str, str]:
    """What the citizen typed on a page, field by field, kept even when not valid."""
    answers = {}
    for name, field in form.fields.items():
        if isinstance(field, forms.FileField):
            continue
        answers[name] = str(post.get(name, "")).strip()
    return answers


def answer_text(spec: dict[str, Any], value: Any, *, document_name: str = "") -> str:
    """An answer as "check your answers" shows it."""
    if value is None or value == "":
        return ""
    if is_upload(spec):
        return document_name or str(value)
    if "enum" in spec:
        return choice_label(spec, value)
    if spec.get("type") == "boolean":
        truth = value if isinstance(value, bool) else str(value) == "true"
        return str(_("Yes") if truth else _("No"))
    if isinstance(value, date):
        return date_format(value, "DATE_FORMAT")
    return str(value)


def source_text(fact: dict[str, Any]) -> str:
    """Where a pre-filled fact came from: "From Health records, updated 3 May 2025"."""
    agency = fact.get("agency_name") or fact.get("agency") or ""
    updated = fact.get("updated_at")
    when = None
    if updated:
        try:
            when = datetime.fromisoformat(str(updated)).date()
        except ValueError:
            when = None
    if when is None:
        return _("From %(agency)s records.") % {"agency": agency}
    return _("From %(agency)s records, updated %(date)s.") % {
        "agency": agency,
        "date": date_format(when, "DATE_FORMAT"),
    }
