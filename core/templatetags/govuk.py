"""Render Django form fields with GOV.UK Frontend's classes.

``{{ field|govuk_widget }}`` draws the field's widget with the design system's class for its
kind (text input, select, textarea, file upload, radios, checkboxes), the error modifier when
the field has errors, and ``aria-describedby`` pointing at its hint and error message. Used
by templates/includes/_field.html, so every form on every page looks and reads the same.
"""

from typing import Any

from django import forms, template
from django.forms.boundfield import BoundField
from django.utils.safestring import SafeString

register = template.Library()

_CLASSES: list[tuple[type[forms.Widget], str, str]] = [
    (forms.RadioSelect, "govuk-radios__input", ""),
    (forms.CheckboxSelectMultiple, "govuk-checkboxes__input", ""),
    (forms.CheckboxInput, "govuk-checkboxes__input", ""),
    (forms.Select, "govuk-select", "govuk-select--error"),
    (forms.Textarea, "govuk-textarea", "govuk-textarea--error"),
    (forms.ClearableFileInput, "govuk-file-upload", "govuk-file-upload--error"),
    (forms.FileInput, "govuk-file-upload", "govuk-file-upload--error"),
    (forms.widgets.Input, "govuk-input", "govuk-input--error"),
]


def widget_kind(field: BoundField) -> str:
    """'radios', 'checkboxes', 'checkbox' or 'input': how _field.html lays the field out."""
    widget = field.field.widget
    if isinstance(widget, forms.RadioSelect):
        return "radios"
    if isinstance(widget, forms.CheckboxSelectMultiple):
        return "checkboxes"
    if isinstance(widget, forms.CheckboxInput):
        return "checkbox"
    return "input"


def described_by(field: BoundField) -> str:
    ids = []
    if field.help_text:
        ids.append(f"{field.auto_id}_helptext")
    if field.errors:
        ids.append(f"{field.auto_id}_error")
    return " ".join(ids)


@register.filter
def govuk_kind(field: BoundField) -> str:
    return widget_kind(field)


@register.filter
def govuk_widget(field: BoundField, extra: str = "") -> SafeString:
    widget = field.field.widget
    css = next((c for kind, c, _ in _CLASSES if isinstance(widget, kind)), "govuk-input")
    error_css = next((e for kind, _, e in _CLASSES if isinstance(widget, kind)), "")
    classes = [css, widget.attrs.get("class", ""), extra]
    if field.errors and error_css:
        classes.append(error_css)
    attrs: dict[str, Any] = {"class": " ".join(c for c in classes if c)}
    if widget_kind(field) == "input" and (ids := described_by(field)):
        attrs["aria-describedby"] = ids
    return field.as_widget(attrs=attrs)


@register.filter
def govuk_described_by(field: BoundField) -> str:
    return described_by(field)
