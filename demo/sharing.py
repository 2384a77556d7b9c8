"""The demo government's data sharing: purposes, data agreements and data services.

What `make demo` needs for the journey in BRIEF.md: Social Services may ask Revenue for a
person's income and Health for the births in their household to decide child benefit, each
only with the person's consent; Revenue may ask Transport for a registered address for tax
correspondence (a public task, no consent); and every agency is kept up to date with a
citizen's new address (tell us once) by law. Everything is created once; running it again
changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from consent import services as consent_services
from consent.choices import LawfulBasis
from consent.models import DataAgreement, Purpose
from exchange import services as exchange_services
from exchange.events import services as event_services
from exchange.models import DataService, Subscription
from identity.models import Agency, User
from registry.services.citizens import PORTAL_AGENCY_CODE, PORTAL_AGENCY_NAME

PURPOSES = {
    "child-benefit-eligibility": "Deciding eligibility for child benefit",
    "tax-correspondence": "Writing to a taxpayer at their registered address",
    "keep-address-current": "Keeping an agency's records of a person's address current",
}


@dataclass(frozen=True)
class AgreementSpec:
    code: str
    provider: str
    consumer: str
    purpose: str
    purpose_text: str
    attributes: tuple[str, ...]
    lawful_basis: str
    retention_days: int


AGREEMENTS = (
    AgreementSpec(
        "revenue-income-for-child-benefit",
        "revenue",
        "social-services",
        "child-benefit-eligibility",
        "Social Services checks your household income with Revenue to decide child benefit, "
        "instead of asking you for payslips.",
        ("income_band", "employment_status", "tax_year"),
        LawfulBasis.CONSENT,
        730,
    ),
    AgreementSpec(
        "health-births-for-child-benefit",
        "health",
        "social-services",
        "child-benefit-eligibility",
        "Social Services checks with Health the children born in your household, instead "
        "of asking you for birth certificates.",
        ("births", "births_count"),
        LawfulBasis.CONSENT,
        730,
    ),
    AgreementSpec(
        "transport-address-for-revenue",
        "transport",
        "revenue",
        "tax-correspondence",
        "Revenue writes to you at the address Transport holds when its own is out of date.",
        ("address_line", "locality", "postcode"),
        LawfulBasis.PUBLIC_TASK,
        365,
    ),
    *(
        AgreementSpec(
            f"citizen-address-for-{code}",
            PORTAL_AGENCY_CODE,
            code,
            "keep-address-current",
            "When you tell us your new address once, every agency that writes to you "
            "updates its records.",
            ("address_line", "locality", "postcode"),
            LawfulBasis.PUBLIC_TASK,
            3650,
        )
        for code in ("revenue", "health", "social-services", "transport")
    ),
)

SERVICES = (
    (
        "revenue",
        "income-for-tax-year",
        "Income for a tax year",
        "The income band and employment status Revenue holds for a person.",
        ("income_band", "employment_status", "tax_year"),
        {
            "type": "object",
            "properties": {"tax_year": {"type": "integer", "minimum": 2000, "maximum": 2100}},
            "required": ["tax_year"],
            "additionalProperties": False,
        },
        "source_record",
    ),
    (
        "health",
        "birth-of-a-child",
        "Births in the household",
        "Children under 18 registered with Health at the person's address.",
        ("births", "births_count"),
        {
            "type": "object",
            "properties": {"since": {"type": "string", "format": "date"}},
            "additionalProperties": False,
        },
        "births",
    ),
    (
        "transport",
        "registered-address",
        "Registered address",
        "The address Transport holds for a licence holder.",
        ("address_line", "locality", "postcode"),
        {"type": "object", "additionalProperties": False},
        "source_record",
    ),
)


# Tell us once: each agency keeps its record of a person's address current, under its
# "citizen-address-for-<agency>" agreement, through the registry's internal handler.
ADDRESS_SUBSCRIBERS = ("revenue", "health", "social-services", "transport")


@transaction.atomic
def demo_sharing_ensure(*, actor: User) -> dict[str, int]:
    """Purposes, agreements, data services and event subscriptions of the demo, each
    created once."""
    created = {"purposes": 0, "agreements": 0, "services": 0, "subscriptions": 0}
    for code, name in PURPOSES.items():
        if not Purpose.objects.filter(code=code).exists():
            consent_services.purpose_create(actor=actor, code=code, name=name)
            created["purposes"] += 1
    agencies = {a.code: a for a in Agency.objects.all()}
    if PORTAL_AGENCY_CODE not in agencies:
        from identity import services as identity_services

        agencies[PORTAL_AGENCY_CODE] = identity_services.agency_create(
            actor=actor, code=PORTAL_AGENCY_CODE, name=PORTAL_AGENCY_NAME
        )
    for spec in AGREEMENTS:
        if DataAgreement.objects.filter(code=spec.code).exists():
            continue
        if spec.provider not in agencies or spec.consumer not in agencies:
            continue  # a deployment without that agency
        consent_services.agreement_create(
            actor=actor,
            code=spec.code,
            provider=agencies[spec.provider],
            consumer=agencies[spec.consumer],
            purpose=spec.purpose,
            purpose_text=spec.purpose_text,
            attributes=spec.attributes,
            lawful_basis=spec.lawful_basis,
            retention_days=spec.retention_days,
        )
        created["agreements"] += 1
    for provider, code, name, description, attributes, schema, resolver in SERVICES:
        if provider not in agencies:
            continue
        if DataService.objects.filter(provider=agencies[provider], code=code).exists():
            continue
        exchange_services.data_service_publish(
            actor=actor,
            provider=agencies[provider],
            code=code,
            name=name,
            description=description,
            attributes=attributes,
            input_schema=schema,
            resolver=resolver,
        )
        created["services"] += 1
    for code in ADDRESS_SUBSCRIBERS:
        agreement = DataAgreement.objects.filter(code=f"citizen-address-for-{code}").first()
        if (
            agreement is None
            or Subscription.objects.filter(
                agency=agreement.consumer, event_type="address", active=True
            ).exists()
        ):
            continue
        event_services.subscription_create(
            actor=actor,
            agency=agreement.consumer,
            event_type="address",
            agreement=agreement,
            handler="registry.address",
        )
        created["subscriptions"] += 1
    return created
