"""Schemathesis generates requests from the OpenAPI document; no request may cause a 5xx.

Runs in-process against the WSGI application, authenticated as a platform admin with every
scope, so the generated cases reach the handlers rather than stopping at authentication.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from config.api import api
from identity import services
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff

schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
schema.app = get_wsgi_application()


@pytest.fixture(autouse=True)
def keep_test_connection():
    """The WSGI app is called directly, not through Django's test client, so stop the
    end-of-request hook from closing the connection the test transaction lives on."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(db):
    AgencyFactory(code="health", name="Health")
    admin = staff(Role.PLATFORM_ADMIN)
    admin.civic_system = True  # token creation needs an MFA session; stand in for it
    _, raw = services.api_token_create(
        actor=admin, name="fuzz", scopes=sorted(services.api_scopes()), days=1
    )
    return raw


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_request_causes_a_server_error(case, admin_token):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {admin_token}", "Host": "localhost"},
        checks=[not_a_server_error],
    )
