"""Agreements, purposes and citizens linked to persons, for consent and exchange tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from consent import services
from consent.choices import LawfulBasis
from consent.models import DataAgreement, DataAgreementVersion, Purpose
from identity.models import Agency, User
from identity.services import system_actor
from identity.tests.factories import AgencyFactory, CitizenFactory
from registry.models import Person, SourceRecord
from registry.services.citizens import PORTAL_AGENCY_CODE


def purpose(code: str = "child-benefit-eligibility") -> Purpose:
    found = Purpose.objects.filter(code=code).first()
    return found or services.purpose_create(
        actor=system_actor(), code=code, name=code.replace("-", " ").capitalize()
    )


def agreement(
    *,
    provider: Agency | None = None,
    consumer: Agency | None = None,
    code: str = "revenue-income-for-benefits",
    purpose_code: str = "child-benefit-eligibility",
    attributes: tuple[str, ...] = ("income_band", "employment_status"),
    lawful_basis: str = LawfulBasis.CONSENT,
    **terms: Any,
) -> DataAgreementVersion:
    purpose(purpose_code)
    return services.agreement_create(
        actor=system_actor(),
        code=code,
        provider=provider or AgencyFactory(code="revenue", name="Revenue"),
        consumer=consumer or AgencyFactory(code="social-services", name="Social Services"),
        purpose=purpose_code,
        purpose_text="To decide child benefit from your household income.",
        attributes=attributes,
        lawful_basis=lawful_basis,
        retention_days=365,
        valid_from=terms.pop("valid_from", timezone.now() - timedelta(days=1)),
        **terms,
    )


def linked_citizen(username: str = "citizen", **person: Any) -> tuple[User, Person]:
    """A citizen account already linked to a master person (as identity verification does)."""
    user = CitizenFactory(username=username)
    who = Person.objects.create(
        given_name=person.get("given_name", "Maria"), family_name=person.get("family_name", "Lopez")
    )
    portal = AgencyFactory(code=PORTAL_AGENCY_CODE, name="Citizen portal")
    SourceRecord.objects.create(
        agency=portal, agency_record_id=f"user-{user.pk}", person=who, given_name=who.given_name
    )
    return user, who


def agreement_of(version: DataAgreementVersion) -> DataAgreement:
    return version.agreement
