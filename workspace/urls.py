"""The staff workspace's pages (namespace "workspace"), mounted at /workspace/."""

from django.urls import URLPattern, URLResolver

from workspace import views

app_name = "workspace"

urlpatterns: list[URLPattern | URLResolver] = [*views.urlpatterns]
