"""The exchange app's pages (namespace "exchange"), mounted at /exchange/."""

from django.urls import URLPattern, URLResolver

from exchange.views import catalogue, log

app_name = "exchange"

urlpatterns: list[URLPattern | URLResolver] = [
    *catalogue.urlpatterns,
    *log.urlpatterns,
]
