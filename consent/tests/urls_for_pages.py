"""The project's URLs with the consent pages at /consent/, for the page tests (until the
project's URLconf includes them; then this adds nothing)."""

from django.urls import URLPattern, URLResolver, include, path

from config.urls import urlpatterns as project_urls

mounted = any(isinstance(u, URLResolver) and u.namespace == "consent" for u in project_urls)

urlpatterns: list[URLPattern | URLResolver] = [
    *project_urls,
    *([] if mounted else [path("consent/", include("consent.urls"))]),
]
