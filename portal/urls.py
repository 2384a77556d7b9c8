"""The citizen portal's pages (namespace "portal"), mounted at /portal/."""

from django.urls import URLPattern, URLResolver

from portal.views import account, apply, home

app_name = "portal"

urlpatterns: list[URLPattern | URLResolver] = [
    *home.urlpatterns,
    *apply.urlpatterns,
    *account.urlpatterns,
]
