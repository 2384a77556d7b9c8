"""Forms of the registries' staff pages: define a registry, import a file, edit a record."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from identity.models import Agency
from registries.values import coerce_text, properties


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


class DefinitionForm(forms.Form):
    agency = forms.ModelChoiceField(
        label=gettext_lazy("Agency"), queryset=Agency.objects.none(), empty_label=None
    )
    name = forms.CharField(
        label=pgettext_lazy("what a thing is called", "Name"),
        max_length=64,
        help_text=gettext_lazy("Used in the API path, e.g. vehicles. Letters, digits, - and _."),
    )
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    description = forms.CharField(
        label=gettext_lazy("Description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    schema = forms.CharField(
        label=gettext_lazy("JSON Schema (2020-12) of a record"),
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "code"}),
        help_text=gettext_lazy(
            "An object schema. On a property, x-searchable: true makes it searchable, "
            'x-personal: true marks personal data, x-person: "national_id" or "person_id" '
            "points at a person, primaryKey: true makes it the record's key."
        ),
    )
    searchable_fields = forms.CharField(
        label=gettext_lazy("Searchable fields"),
        required=False,
        help_text=gettext_lazy("Comma-separated; leave empty to take them from the schema."),
    )
    personal_fields = forms.CharField(
        label=gettext_lazy("Personal fields"),
        required=False,
        help_text=gettext_lazy("Comma-separated; leave empty to take them from the schema."),
    )

    def __init__(self, *args: Any, agencies: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agency"].queryset = agencies  # type: ignore[attr-defined]

    def clean_schema(self) -> Any:
        try:
            return json.loads(self.cleaned_data["schema"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                _("This is not valid JSON: %(msg)s (line %(line)s).")
                % {"msg": exc.msg, "line": exc.lineno}
            ) from None

    def declarations(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("searchable_fields", "personal_fields"):
            text = self.cleaned_data.get(name) or ""
            if text.strip():
                out[name] = _names(text)
        return out


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("File"),
        help_text=gettext_lazy(
            "CSV with a header row naming the fields, or JSON Lines (one record per line)."
        ),
    )
    format = forms.ChoiceField(
        label=gettext_lazy("Format"),
        choices=[("csv", gettext_lazy("CSV")), ("jsonl", gettext_lazy("JSON Lines"))],
    )


class RecordForm(forms.Form):
    """One input per top-level field of the schema; objects and arrays as JSON text."""

    def __init__(
        self, *args: Any, schema: Mapping[str, Any], content: Mapping[str, Any], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.props = properties(schema)
        required = set(schema.get("required") or [])
        for name, prop in self.props.items():
            value = content.get(name)
            shown = "" if value is None else value
            if isinstance(value, Mapping | list):
                shown = json.dumps(value, ensure_ascii=False)
            elif isinstance(value, bool):
                shown = "true" if value else "false"
            self.fields[name] = forms.CharField(
                label=name,
                required=False,
                initial=shown,
                help_text=str(prop.get("description", "")) if isinstance(prop, Mapping) else "",
                max_length=20000,
            )
            self.fields[name].widget.attrs["data-required"] = "1" if name in required else "0"

    def content(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, prop in self.props.items():
            text = self.cleaned_data.get(name) or ""
            if text.strip():
                out[name] = coerce_text(prop if isinstance(prop, Mapping) else {}, text)
        return out

    def add_record_errors(self, errors: Mapping[str, list[str]]) -> None:
        for path, messages in errors.items():
            field = path.split("/", 1)[0]
            for message in messages:
                self.add_error(field if field in self.fields else None, message)
