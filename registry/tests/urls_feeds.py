"""The project's URLs with the feeds API and pages mounted at their final paths.

For the feed tests while registry/api/__init__.py and registry/urls.py do not include
feeds yet; once they do, the project's own routes answer the same paths.
"""

from django.urls import include, path

from config.api import CivicStackAPI
from config.urls import urlpatterns as project_urlpatterns
from core.api_errors import install_problem_handlers
from identity.api_auth import SessionAuth, TokenAuth
from registry.api.feeds import router as feeds_router
from registry.views.feeds import urlpatterns as feeds_pages

feeds_api = CivicStackAPI(
    title="CivicStack API (feed tests)",
    version="1-feed-tests",
    urls_namespace="api-v1-feed-tests",
    auth=[TokenAuth(), SessionAuth()],
    docs_url=None,
)
install_problem_handlers(feeds_api)
feeds_api.add_router("/registry", feeds_router)

urlpatterns = [
    path("api/v1/", feeds_api.urls),
    path("registry/", include((feeds_pages, "registry"))),
    *project_urlpatterns,
]
