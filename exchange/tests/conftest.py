"""The small government most exchange tests run in."""

import pytest

from consent.tests.factories import agreement, linked_citizen
from exchange import services
from identity.choices import Role
from identity.services import system_actor
from identity.tests.factories import AgencyFactory, staff, verified
from registry.models import SourceRecord

INCOME_SCHEMA = {
    "type": "object",
    "properties": {"tax_year": {"type": "integer", "minimum": 2000, "maximum": 2100}},
    "required": ["tax_year"],
    "additionalProperties": False,
}


@pytest.fixture
def world():
    """Revenue holds a person's income; Social Services asks for it under consent."""
    revenue = AgencyFactory(code="revenue", name="Revenue")
    social = AgencyFactory(code="social-services", name="Social Services")
    citizen, person = linked_citizen()
    SourceRecord.objects.create(
        agency=revenue,
        agency_record_id="RV1",
        person=person,
        given_name="Maria",
        family_name="Lopez",
        extra={"income_band": "B", "employment_status": "employed", "tax_reference": "99"},
    )
    services.data_service_publish(
        actor=system_actor(),
        provider=revenue,
        code="income-for-tax-year",
        name="Income for a tax year",
        attributes=["income_band", "employment_status", "tax_year", "tax_reference"],
        input_schema=INCOME_SCHEMA,
        resolver="source_record",
    )
    version = agreement(
        provider=revenue,
        consumer=social,
        attributes=("income_band", "tax_year"),
    )
    caseworker = verified(staff(Role.CASEWORKER, social))
    return {
        "revenue": revenue,
        "social": social,
        "citizen": citizen,
        "person": person,
        "version": version,
        "caseworker": caseworker,
    }
