"""Fixtures of the satisfaction tests (pages and API): a service, its applicant, a completed
and a running case."""

import pytest

from cases.services import definitions, engine
from cases.tests.conftest import TEST_SERVICE
from identity.services import system_actor
from identity.tests.factories import AgencyFactory, CitizenFactory


@pytest.fixture
def health():
    return AgencyFactory(code="health", name="Health")


@pytest.fixture
def service(health):
    return definitions.service_deploy(actor=system_actor(), directory=TEST_SERVICE).service


@pytest.fixture
def citizen():
    return CitizenFactory(username="cit")


def _submit(service, citizen, income):
    return engine.case_submit(
        service=service, data={"age": 40, "income": income}, applicant=citizen, actor=citizen
    )


@pytest.fixture
def completed(service, citizen):
    return _submit(service, citizen, 10_000)  # decided automatically: completed at once


@pytest.fixture
def running(service, citizen):
    return _submit(service, citizen, 25_000)  # waits for a caseworker
