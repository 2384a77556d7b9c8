"""Forms of the consent pages: agreements, purposes, disclosure delays.

The forms only read the request; the services decide. Dates are typed as days and turned
into moments at midnight in the current time zone (`day_start`).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from consent.choices import LawfulBasis
from consent.models import DataAgreementVersion, Purpose
from identity.models import Agency

MAX_TEXT = 4000


def day_start(day: date | None) -> datetime | None:
    """Midnight at the start of ``day`` in the current time zone (None stays None)."""
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.min))


def local_day(moment: datetime | None) -> date | None:
    return None if moment is None else timezone.localtime(moment).date()


def attribute_names(text: str) -> list[str]:
    """Attribute names typed one per line (commas also separate)."""
    return [p.strip() for line in text.splitlines() for p in line.split(",") if p.strip()]


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class TermsForm(forms.Form):
    """The terms of one agreement version: what is shared, why, on which basis, how long."""

    purpose = forms.ChoiceField(label=_("Purpose"))
    purpose_text = forms.CharField(
        label=_("Purpose as shown to people"),
        max_length=MAX_TEXT,
        help_text=_("Plain words: why the data is shared, as a citizen will read it."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    attributes = forms.CharField(
        label=_("Attributes shared"),
        max_length=MAX_TEXT,
        help_text=_("One attribute name per line, for example income_band."),
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    lawful_basis = forms.ChoiceField(
        label=_("Lawful basis"),
        choices=LawfulBasis.choices,
        widget=forms.RadioSelect,
        help_text=_("With consent, each person decides whether their data is shared."),
    )
    retention_days = forms.IntegerField(
        label=_("Retention (days)"),
        min_value=1,
        max_value=36500,
        help_text=_("How long the consumer may keep the data."),
    )
    valid_from = forms.DateField(
        label=_("In force from"),
        required=False,
        help_text=_("For example 2026-01-31. Leave empty to start now."),
        widget=_date_widget(),
    )
    valid_until = forms.DateField(
        label=_("Ends on"),
        required=False,
        help_text=_("It stops at the start of this day. Leave empty for no end."),
        widget=_date_widget(),
    )
    policy_url = forms.URLField(label=_("Privacy policy address"), required=False)
    dpia = forms.CharField(
        label=_("Data protection impact assessment"),
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    forgettable = forms.BooleanField(
        label=_("A withdrawn consent to it may be deleted"), required=False
    )

    def __init__(self, *args: Any, purposes: list[Purpose], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["purpose"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Choose a purpose"))] + [
            (p.code, f"{p.name} ({p.code})") for p in purposes
        ]

    def terms(self) -> dict[str, Any]:
        """The cleaned terms in the shape the services take."""
        data = self.cleaned_data
        return {
            "purpose": data["purpose"],
            "purpose_text": data["purpose_text"],
            "attributes": attribute_names(data["attributes"]),
            "lawful_basis": data["lawful_basis"],
            "retention_days": data["retention_days"],
            "valid_from": day_start(data.get("valid_from")),
            "valid_until": day_start(data.get("valid_until")),
            "policy_url": data.get("policy_url") or "",
            "dpia": data.get("dpia") or "",
            "forgettable": bool(data.get("forgettable")),
        }


class AgreementCreateForm(TermsForm):
    code = forms.SlugField(
        label=_("Code"),
        max_length=100,
        help_text=_("A short name in lower case with hyphens, for example revenue-income."),
    )
    provider = forms.ChoiceField(label=_("Provider (the agency that holds the data)"))
    consumer = forms.ChoiceField(label=_("Consumer (the agency that receives it)"))

    field_order = ["code", "provider", "consumer"]

    def __init__(
        self,
        *args: Any,
        providers: list[Agency],
        consumers: list[Agency],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.order_fields(self.field_order)
        for name, agencies in (("provider", providers), ("consumer", consumers)):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [("", _("Choose an agency"))] + [(a.code, a.name) for a in agencies]


def revise_initial(version: DataAgreementVersion) -> dict[str, Any]:
    """The latest version's terms, to start a revision from."""
    return {
        "purpose": version.purpose.code,
        "purpose_text": version.purpose_text,
        "attributes": "\n".join(version.attributes),
        "lawful_basis": version.lawful_basis,
        "retention_days": version.retention_days,
        "valid_until": local_day(version.valid_until),
        "policy_url": version.policy_url,
        "dpia": version.dpia,
        "forgettable": version.forgettable,
    }


def revise_changes(form: TermsForm, latest: DataAgreementVersion) -> dict[str, Any]:
    """Only the terms that differ from the latest version (the rest carry over)."""
    terms = form.terms()
    changes: dict[str, Any] = {}
    if terms["purpose"] != latest.purpose.code:
        changes["purpose"] = terms["purpose"]
    for name in ("purpose_text", "lawful_basis", "retention_days", "policy_url", "dpia"):
        if terms[name] != getattr(latest, name):
            changes[name] = terms[name]
    if terms["forgettable"] != latest.forgettable:
        changes["forgettable"] = terms["forgettable"]
    if sorted(set(terms["attributes"])) != sorted(latest.attributes):
        changes["attributes"] = terms["attributes"]
    if form.cleaned_data.get("valid_until") != local_day(latest.valid_until):
        changes["valid_until"] = terms["valid_until"]
    if terms["valid_from"] is not None:
        changes["valid_from"] = terms["valid_from"]
    return changes


class PurposeForm(forms.Form):
    code = forms.SlugField(
        label=_("Code"),
        max_length=80,
        help_text=_("Lower case with hyphens, for example child-benefit-eligibility."),
    )
    name = forms.CharField(label=pgettext_lazy("what a thing is called", "Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"),
        required=False,
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class PersonLookupForm(forms.Form):
    person = forms.CharField(
        label=_("Person ID"),
        max_length=16,
        help_text=_("The master person index ID, for example P7K2M9XQ4TBC1."),
    )


class DisclosureDelayForm(forms.Form):
    agency = forms.ChoiceField(label=_("Investigating agency"))
    until = forms.DateField(
        label=_("Show the reads to the person from"),
        help_text=_("For example 2026-06-30. Until then the person does not see your reads."),
        widget=_date_widget(),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=MAX_TEXT,
        help_text=_("Auditors read it; the person does not."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, agencies: list[Agency], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["agency"]
        assert isinstance(field, forms.ChoiceField)
        choices: list[tuple[str, str]] = [(a.code, a.name) for a in agencies]
        if len(choices) != 1:
            choices = [("", str(_("Choose an agency"))), *choices]
        field.choices = choices
