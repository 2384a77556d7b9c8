from django.urls import include, path
from django.views.i18n import set_language

from config.api import api
from config.govstack import GOVSTACK_APIS
from core.access import public

urlpatterns = [
    path("api/v1/", api.urls),
    *(path(f"api/govstack/{prefix}/", gs.urls) for prefix, gs in GOVSTACK_APIS.items()),
    path(
        "i18n/setlang/",
        public("choosing the page language needs no account")(set_language),
        name="set_language",
    ),
    path("", include("core.urls")),
    path("", include("identity.urls")),
    path("registry/", include("registry.urls")),
    path("cases/", include("cases.urls")),
    path("consent/", include("consent.urls")),
    path("exchange/", include("exchange.urls")),
    path("registries/", include("registries.urls")),
    path("portal/", include("portal.urls")),
    path("workspace/", include("workspace.urls")),
]
