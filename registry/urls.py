"""The registry's staff pages (namespace "registry")."""

from django.urls import URLPattern, URLResolver

from registry.views import feeds as feed_views
from registry.views import persons
from registry.views import review as review_views

app_name = "registry"

urlpatterns: list[URLPattern | URLResolver] = [
    *persons.urlpatterns,
    *feed_views.urlpatterns,
    *review_views.urlpatterns,
]
