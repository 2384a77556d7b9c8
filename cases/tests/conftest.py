"""Fixtures of the cases app's tests: an agency, its staff, a citizen and the test service."""

from pathlib import Path

import pytest

from cases.services import definitions
from identity.choices import Role
from identity.services import system_actor
from identity.tests.factories import AgencyFactory, CitizenFactory, staff, verified

FIXTURES = Path(__file__).parent / "fixtures"
TEST_SERVICE = FIXTURES / "test_benefit"


@pytest.fixture
def health():
    return AgencyFactory(code="health", name="Health")


@pytest.fixture
def citizen():
    return CitizenFactory(username="cit", email="cit@example.org")


@pytest.fixture
def other_citizen():
    return CitizenFactory(username="other")


@pytest.fixture
def caseworker(health):
    return verified(staff(Role.CASEWORKER, health, username="cas"))


@pytest.fixture
def supervisor(health):
    return verified(staff(Role.SUPERVISOR, health, username="sup"))


@pytest.fixture
def analyst(health):
    return verified(staff(Role.POLICY_ANALYST, health, username="ana"))


@pytest.fixture
def service_files():
    files = definitions.read_directory(TEST_SERVICE)
    return {name: content.decode() for name, content in files.items()}


@pytest.fixture
def version(health, service_files):
    return definitions.service_deploy(actor=system_actor(), files=service_files)


@pytest.fixture
def service(version):
    return version.service
