"""The demo's data sharing is in place after seeding, and seeding twice changes nothing."""

import pytest
from django.core.management import call_command

from consent.models import DataAgreement
from demo import services as demo_services
from exchange.models import DataService
from identity.services import system_actor

pytestmark = pytest.mark.django_db


def test_seed_demo_sharing_creates_the_journeys_agreements_and_services_once():
    demo_services.demo_agencies_ensure(actor=system_actor())
    call_command("seed_demo_sharing")
    assert DataAgreement.objects.filter(
        code="revenue-income-for-child-benefit", consumer__code="social-services"
    ).exists()
    assert set(DataService.objects.values_list("code", flat=True)) == {
        "income-for-tax-year",
        "birth-of-a-child",
        "registered-address",
    }
    counts = (DataAgreement.objects.count(), DataService.objects.count())
    call_command("seed_demo_sharing")
    assert (DataAgreement.objects.count(), DataService.objects.count()) == counts
