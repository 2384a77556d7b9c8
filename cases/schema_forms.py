"""Django forms generated from a service's JSON Schema form: one builder for every page.

Staff complete user tasks with it (cases.views) and citizens apply with it (portal). The
form follows the schema's standard keywords (`title`, `description`, `type`, `enum`,
`format: date`, `minimum`/`maximum`, `minLength`/`maxLength`, `required`) and these display
annotations, which validators ignore:

- `x-order`: the order of the questions (the others follow in schema order);
- `x-hint`: a hint shown under the label (after `description`);
- `x-labels`: `{value: label}` for the choices of an `enum`;
- `x-widget: "textarea"`: a multi-line answer for a short string.

The data a form yields (`form_data`) is the JSON the schema checks; the case engine checks
it against the schema again, so a page can never store what the schema refuses.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

YES_NO = (("true", gettext_lazy("Yes")), ("false", gettext_lazy("No")))


def field_order(schema: dict[str, Any] | None) -> list[str]:
    """The top-level field names in the order the form asks them (`x-order` first)."""
    properties: dict[str, Any] = (schema or {}).get("properties", {})
    order = [n for n in (schema or {}).get("x-order", []) if n in properties]
    return order + [n for n in properties if n not in order]


def field_label(name: str, spec: dict[str, Any]) -> str:
    return str(spec.get("title") or name.replace("_", " ").capitalize())


def choice_label(spec: dict[str, Any], value: Any) -> str:
    """The label of one `enum` value (its `x-labels` entry, else the value itself)."""
    labels = spec.get("x-labels") or {}
    return str(labels.get(str(value), value))


def schema_field(
    name: str, spec: dict[str, Any], required: bool, *, boolean_radios: bool = False
) -> forms.Field:
    """The form field for one property. `boolean_radios`: ask a boolean as Yes / No radios
    (what a citizen answers), rather than one checkbox (what staff tick)."""
    label = field_label(name, spec)
    hints = [h for h in (spec.get("description"), spec.get("x-hint")) if h]
    common: dict[str, Any] = {"label": label, "required": required, "help_text": " ".join(hints)}
    kind = spec.get("type")
    if "enum" in spec:
        choices = [(str(v), choice_label(spec, v)) for v in spec["enum"]]
        widget = forms.RadioSelect if len(choices) <= 5 else forms.Select
        if widget is forms.Select:
            choices = [("", _("Choose…")), *choices]
        return forms.ChoiceField(choices=choices, widget=widget, **common)
    if kind == "boolean":
        if boolean_radios:
            return forms.TypedChoiceField(
                choices=YES_NO,
                coerce=lambda v: v == "true",
                empty_value=None,
                widget=forms.RadioSelect,
                **common,
            )
        return forms.BooleanField(**{**common, "required": False})
    if kind == "integer":
        return forms.IntegerField(
            min_value=spec.get("minimum"), max_value=spec.get("maximum"), **common
        )
    if kind == "number":
        return forms.DecimalField(
            min_value=spec.get("minimum"), max_value=spec.get("maximum"), **common
        )
    if kind == "string" and spec.get("format") == "date":
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if kind == "string":
        max_length = spec.get("maxLength")
        long_text = (max_length or 0) > 200 or spec.get("x-widget") == "textarea"
        return forms.CharField(
            max_length=max_length,
            min_length=spec.get("minLength"),
            widget=forms.Textarea(attrs={"rows": 4}) if long_text else forms.TextInput,
            strip=True,
            **common,
        )
    # objects and lists: JSON text, checked by the schema when completed
    common["help_text"] = " ".join([*hints, _("As JSON.")])
    return forms.JSONField(widget=forms.Textarea(attrs={"rows": 4}), **common)


def schema_form_class(
    schema: dict[str, Any] | None,
    *,
    only: Iterable[str] | None = None,
    boolean_radios: bool = False,
    name: str = "TaskForm",
) -> type[forms.Form]:
    """A Django form for the top-level fields of a JSON Schema form (`only`: a subset, in
    the form's order, for a page that asks some of the questions)."""
    schema = schema or {}
    properties: dict[str, Any] = schema.get("properties", {})
    wanted = set(only) if only is not None else None
    required = set(schema.get("required", []))
    fields = {
        field: schema_field(
            field, properties[field] or {}, field in required, boolean_radios=boolean_radios
        )
        for field in field_order(schema)
        if wanted is None or field in wanted
    }
    return type(name, (forms.Form,), fields)


def _json_value(value: Any, spec: dict[str, Any]) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    if spec.get("type") == "integer" and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value


def form_data(schema: dict[str, Any] | None, cleaned: dict[str, Any]) -> dict[str, Any]:
    """The cleaned form as the JSON the schema checks; empty optional fields left out."""
    properties = (schema or {}).get("properties", {})
    data = {}
    for name, value in cleaned.items():
        if value is None or value == "":
            continue
        data[name] = _json_value(value, properties.get(name) or {})
    return data
