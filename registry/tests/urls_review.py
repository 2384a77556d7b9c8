"""The project's URLs with clerical review's API and pages mounted at their final paths.

For the review tests while registry/api/__init__.py and registry/urls.py do not include
review yet; once they do, the project's own routes answer the same paths.
"""

from django.urls import include, path

from config.api import CivicStackAPI
from config.urls import urlpatterns as project_urlpatterns
from core.api_errors import install_problem_handlers
from identity.api_auth import SessionAuth, TokenAuth
from registry.api.review import router as review_router
from registry.views.review import urlpatterns as review_pages

review_api = CivicStackAPI(
    title="CivicStack API (review tests)",
    version="1-review-tests",
    urls_namespace="api-v1-review-tests",
    auth=[TokenAuth(), SessionAuth()],
    docs_url=None,
)
install_problem_handlers(review_api)
review_api.add_router("/registry", review_router)

urlpatterns = [
    path("api/v1/", review_api.urls),
    path("registry/", include((review_pages, "registry"))),
    *project_urlpatterns,
]
