import datetime

import factory

from identity.tests.factories import AgencyFactory
from registry.models import SourceRecord


class SourceRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SourceRecord

    agency = factory.SubFactory(AgencyFactory)
    agency_record_id = factory.Sequence(lambda n: f"R{n:06d}")
    given_name = "Maria"
    family_name = "Garcia"
    date_of_birth = datetime.date(1985, 3, 14)
    sex = "F"
    address_line = "12 High Street"
    locality = "Northtown"
    postcode = "NT1 2AB"
    national_id = factory.Sequence(lambda n: f"{100000000 + n}")
