"""The consent app's pages (namespace "consent"), mounted at /consent/."""

from django.urls import URLPattern, URLResolver

from consent.views import agreements, audit, citizens

app_name = "consent"

urlpatterns: list[URLPattern | URLResolver] = [
    *agreements.urlpatterns,
    *citizens.urlpatterns,
    *audit.urlpatterns,
]
