"""The cases app's staff pages (namespace "cases"), mounted at /cases/."""

from django.urls import URLPattern, URLResolver

from cases import views

app_name = "cases"

urlpatterns: list[URLPattern | URLResolver] = [*views.urlpatterns]
