"""Forms of the exchange pages: publishing a data service, filtering the message log.

The forms only read the request; the services decide. A JSON Schema is typed as text: the
form checks that it is JSON, and `data_service_publish` checks that it is a JSON Schema.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from exchange.choices import MessageKind, ProviderKind
from exchange.models import DataService
from exchange.providers import RESOLVERS
from identity.models import Agency

MAX_TEXT = 4000
MAX_SCHEMA = 20_000


def attribute_names(text: str) -> list[str]:
    """Attribute names typed one per line (commas also separate)."""
    return [p.strip() for line in text.splitlines() for p in line.split(",") if p.strip()]


def day_start(day: date | None) -> datetime | None:
    """Midnight at the start of ``day`` in the current time zone (None stays None)."""
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.min))


def schema_text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) if schema else ""


def _json_value(text: str) -> Any:
    """The JSON typed in a textarea; empty means no schema."""
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(
            _("This is not valid JSON: %(problem)s (line %(line)s, column %(column)s)."),
            code="json",
            params={"problem": exc.msg, "line": exc.lineno, "column": exc.colno},
        ) from None


def _schema_widget() -> forms.Textarea:
    return forms.Textarea(attrs={"rows": 10, "spellcheck": "false"})


class DataServiceForm(forms.Form):
    """What a provider agency publishes about one data service (without provider and code,
    which name the service and so cannot change once it is published)."""

    name = forms.CharField(label=pgettext_lazy("what a thing is called", "Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=MAX_TEXT,
        help_text=_("What the service answers, for staff of other agencies."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    attributes = forms.CharField(
        label=_("Attributes it may release"),
        max_length=MAX_TEXT,
        help_text=_(
            "One attribute name per line, for example income_band. A request gets only "
            "those its data agreement also allows."
        ),
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    kind = forms.ChoiceField(
        label=_("Where the data comes from"),
        choices=ProviderKind.choices,
        initial=ProviderKind.INTERNAL,
        widget=forms.RadioSelect,
    )
    resolver = forms.ChoiceField(
        label=_("Resolver"),
        required=False,
        help_text=_("For data held in CivicStack: which reader answers."),
    )
    endpoint_url = forms.URLField(
        label=_("Endpoint address"),
        required=False,
        max_length=200,
        help_text=_("For the agency's own system: the https address CivicStack calls."),
    )
    input_schema = forms.CharField(
        label=_("Input schema (JSON Schema)"),
        required=False,
        max_length=MAX_SCHEMA,
        strip=False,
        help_text=_(
            'The parameters a request must send, for example {"type": "object", '
            '"properties": {"tax_year": {"type": "integer"}}}. Leave empty for none.'
        ),
        widget=_schema_widget(),
    )
    output_schema = forms.CharField(
        label=_("Output schema (JSON Schema)"),
        required=False,
        max_length=MAX_SCHEMA,
        strip=False,
        help_text=_("What an answer looks like. Leave empty if not described."),
        widget=_schema_widget(),
    )
    timeout_seconds = forms.FloatField(
        label=_("Time limit (seconds)"),
        initial=5.0,
        help_text=_("How long to wait for the agency's system, up to 60 seconds."),
    )
    max_retries = forms.IntegerField(
        label=_("Retries"),
        initial=2,
        help_text=_("How many times to try again after a failure, from 0 to 5."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["resolver"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("None (the agency's own system)"))] + [
            (name, name) for name in sorted(RESOLVERS)
        ]

    def clean_input_schema(self) -> Any:
        return _json_value(self.cleaned_data.get("input_schema", ""))

    def clean_output_schema(self) -> Any:
        return _json_value(self.cleaned_data.get("output_schema", ""))

    def service_fields(self) -> dict[str, Any]:
        """The cleaned fields in the shape `data_service_publish` takes."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data.get("description") or "",
            "attributes": attribute_names(data["attributes"]),
            "kind": data["kind"],
            "resolver": data.get("resolver") or "",
            "endpoint_url": data.get("endpoint_url") or "",
            "input_schema": data.get("input_schema") or {},
            "output_schema": data.get("output_schema") or {},
            "timeout_seconds": data["timeout_seconds"],
            "max_retries": data["max_retries"],
        }


class DataServiceCreateForm(DataServiceForm):
    provider = forms.ChoiceField(label=_("Provider (the agency that holds the data)"))
    code = forms.RegexField(
        label=_("Code"),
        max_length=80,
        regex=r"^[a-z0-9-]+$",
        error_messages={"invalid": _("Use lower-case letters, digits and hyphens only.")},
        help_text=_("Lower case with hyphens, for example income-for-tax-year."),
    )

    field_order = ["provider", "code", "name"]

    def __init__(self, *args: Any, providers: list[Agency], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order_fields(self.field_order)
        field = self.fields["provider"]
        assert isinstance(field, forms.ChoiceField)
        choices: list[tuple[str, str]] = [(a.code, a.name) for a in providers]
        if len(choices) != 1:
            choices = [("", str(_("Choose an agency"))), *choices]
        field.choices = choices


def service_initial(service: DataService) -> dict[str, Any]:
    """A published service's fields, to start an edit from."""
    return {
        "name": service.name,
        "description": service.description,
        "attributes": "\n".join(service.attributes),
        "kind": service.kind,
        "resolver": service.resolver,
        "endpoint_url": service.endpoint_url,
        "input_schema": schema_text(service.input_schema),
        "output_schema": schema_text(service.output_schema),
        "timeout_seconds": service.timeout_seconds,
        "max_retries": service.max_retries,
    }


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class MessageFilterForm(forms.Form):
    agency = forms.ChoiceField(label=_("Agency (as consumer or provider)"), required=False)
    person = forms.CharField(
        label=_("Person ID"),
        required=False,
        max_length=16,
        help_text=_("The master person index ID, for example P7K2M9XQ4TBC1."),
    )
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("Any kind")), *MessageKind.choices],
    )
    since = forms.DateField(
        label=_("From"),
        required=False,
        help_text=_("For example 2026-01-31."),
        widget=_date_widget(),
    )
    until = forms.DateField(
        label=_("To (inclusive)"),
        required=False,
        help_text=_("For example 2026-02-28."),
        widget=_date_widget(),
    )
    exchange_id = forms.UUIDField(
        label=_("Exchange ID"),
        required=False,
        help_text=_("Shows the request and its answer together."),
    )

    def __init__(self, *args: Any, agencies: list[Agency], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["agency"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("All agencies"))] + [(a.code, a.name) for a in agencies]

    def clean_person(self) -> str:
        return str(self.cleaned_data.get("person") or "").strip().upper()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", _("The end must not be before the start."))
        return data

    def filters(self) -> dict[str, Any]:
        """The cleaned filters in the shape `message_list` takes."""
        data = self.cleaned_data
        until = data.get("until")
        return {
            "agency": data.get("agency") or "",
            "person": data.get("person") or "",
            "kind": data.get("kind") or "",
            "exchange_id": data.get("exchange_id"),
            "since": day_start(data.get("since")),
            "until": day_start(until + timedelta(days=1)) if until else None,
        }


class LogVerifyForm(forms.Form):
    since = forms.DateField(
        label=_("Check from (optional)"),
        required=False,
        help_text=_(
            "For example 2026-01-31: checks the entries from that day on, and their link "
            "to the entry before. Leave empty to check the whole log, which takes longer."
        ),
        widget=_date_widget(),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # its own ids: it shares pages with the log's filters, which also have "since"
        kwargs.setdefault("auto_id", "verify_%s")
        super().__init__(*args, **kwargs)
