from django.urls import include, path

from config.api import api

urlpatterns = [
    path("api/v1/", api.urls),
    path("", include("core.urls")),
    path("", include("identity.urls")),
]
