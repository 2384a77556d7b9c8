"""The workspace's tests run in the small governments of the apps below it."""

from cases.tests.conftest import (  # noqa: F401
    caseworker,
    citizen,
    health,
    service,
    service_files,
    supervisor,
    version,
)
from exchange.tests.conftest import world  # noqa: F401
