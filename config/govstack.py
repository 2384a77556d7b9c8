"""The GovStack-compatible APIs, each mounted at /api/govstack/<prefix>/ (see identity.govstack)."""

from ninja import NinjaAPI

from consent.govstack import api as consent_api
from exchange.govstack import api as im_api
from registries.govstack import api as registries_api

GOVSTACK_APIS: dict[str, NinjaAPI] = {
    "consent": consent_api,
    "im": im_api,
    "registries": registries_api,
}
