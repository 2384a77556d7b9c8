"""URLs for the API tests: the cases router on an API of its own, as config/api.py mounts it."""

from django.urls import path

from cases.api import router
from config.api import CivicStackAPI
from core.api_errors import install_problem_handlers
from identity.api_auth import SessionAuth, TokenAuth

api = CivicStackAPI(
    title="CivicStack API (cases tests)",
    version="1",
    urls_namespace="cases-test-api",
    auth=[TokenAuth(), SessionAuth()],
)
install_problem_handlers(api)
api.add_router("/cases", router, url_name_prefix="cases-test")

urlpatterns = [path("api/v1/", api.urls)]
