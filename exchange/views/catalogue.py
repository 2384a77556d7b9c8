"""Staff pages of the catalogue: the published data services, one service (its input
fields and the data agreements that let other agencies use it), and publishing or editing
a service (the provider's agency admins and data stewards)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consent import selectors as consent_selectors
from consent.errors import AgreementNotInForce
from consent.models import DataAgreementVersion
from core.errors import ApplicationError, PermissionDenied
from exchange import selectors, services
from exchange.errors import ServiceNotFound
from exchange.forms import (
    DataServiceCreateForm,
    DataServiceForm,
    schema_text,
    service_initial,
)
from exchange.models import DataService
from exchange.views.common import put_error, user_of
from identity import policy
from identity import selectors as identity_selectors
from identity.models import Agency, User
from identity.views import page

# JSON Schema keywords shown as rules beside an input field, in this order.
_RULE_KEYWORDS = (
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "default",
)


def _rule(keyword: str, value: Any) -> str:
    texts = {
        "minimum": _("at least %(value)s"),
        "exclusiveMinimum": _("more than %(value)s"),
        "maximum": _("at most %(value)s"),
        "exclusiveMaximum": _("less than %(value)s"),
        "minLength": _("at least %(value)s characters"),
        "maxLength": _("at most %(value)s characters"),
        "pattern": _("matches %(value)s"),
        "format": _("format: %(value)s"),
        "default": _("default: %(value)s"),
    }
    return texts[keyword] % {"value": value}


@dataclass(frozen=True)
class InputField:
    name: str
    type: str
    required: bool
    rules: list[str]
    description: str


def schema_fields(schema: dict[str, Any]) -> list[InputField]:
    """The named fields of an object schema, for a table (other schemas: none)."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return []
    required = schema.get("required") or []
    fields = []
    for name, spec in properties.items():
        spec = spec if isinstance(spec, dict) else {}
        kind = spec.get("type", "")
        kind = " | ".join(map(str, kind)) if isinstance(kind, list) else str(kind)
        rules = [_rule(key, spec[key]) for key in _RULE_KEYWORDS if key in spec]
        if isinstance(spec.get("enum"), list):
            rules.insert(0, _("one of: %(values)s") % {"values": ", ".join(map(str, spec["enum"]))})
        fields.append(
            InputField(
                name=str(name),
                type=kind or "-",
                required=name in required,
                rules=rules,
                description=str(spec.get("description") or spec.get("title") or ""),
            )
        )
    return fields


@dataclass(frozen=True)
class AgreementUse:
    version: DataAgreementVersion
    attributes: list[str]  # what the agreement lets the consumer get from this service


def agreements_using(viewer: User, service: DataService) -> list[AgreementUse]:
    """The data agreements in force with the service's provider whose attributes overlap it."""
    agreements = consent_selectors.agreement_list(viewer=viewer, agency=service.provider).filter(
        provider=service.provider
    )
    uses = []
    for agreement in agreements.order_by("code"):
        try:
            version = consent_selectors.agreement_version_in_force(agreement=agreement)
        except AgreementNotInForce:
            continue
        overlap = sorted(set(version.attributes) & set(service.attributes))
        if overlap:
            uses.append(AgreementUse(version, overlap))
    return uses


def _providers(viewer: User) -> list[Agency]:
    """The agencies whose services the viewer may publish."""
    return [
        a
        for a in identity_selectors.agency_list(viewer=viewer)
        if policy.can(viewer, "data_service.manage", a)
    ]


@page("data_service.view")
@require_GET
def service_list(request: HttpRequest) -> HttpResponse:
    viewer = user_of(request)
    code = request.GET.get("provider", "")
    providers = list(
        identity_selectors.agency_list(viewer=viewer).filter(data_services__active=True).distinct()
    )
    provider = next((a for a in providers if a.code == code), None)
    context = {
        "services": list(selectors.data_service_list(viewer=viewer, provider=provider)),
        "providers": providers,
        "provider": provider,
        "can_publish": policy.can(viewer, "data_service.manage", policy.ANY_OBJECT),
    }
    return render(request, "exchange/service_list.html", context)


@page("data_service.view")
@require_GET
def service_detail(request: HttpRequest, provider: str, code: str) -> HttpResponse:
    viewer = user_of(request)
    service = selectors.data_service_get(viewer=viewer, provider_code=provider, code=code)
    context = {
        "service": service,
        "input_fields": schema_fields(service.input_schema),
        "input_schema_text": schema_text(service.input_schema),
        "output_schema_text": schema_text(service.output_schema),
        "uses": agreements_using(viewer, service),
        "can_edit": policy.can(viewer, "data_service.manage", service.provider),
    }
    return render(request, "exchange/service_detail.html", context)


def _publish(
    request: HttpRequest, form: DataServiceForm, *, provider: Agency, code: str, created: bool
) -> HttpResponse | None:
    """Publish through the service; None when the form goes back with its errors."""
    try:
        service = services.data_service_publish(
            actor=user_of(request), provider=provider, code=code, **form.service_fields()
        )
    except ApplicationError as error:
        put_error(form, error)
        return None
    text = (
        _("The data service “%(code)s” is published.")
        if created
        else _("The data service “%(code)s” is updated.")
    )
    messages.success(request, text % {"code": service.code})
    return redirect("exchange:service_detail", provider=provider.code, code=service.code)


@page("data_service.manage")
@require_http_methods(["GET", "POST"])
def service_create(request: HttpRequest) -> HttpResponse:
    viewer = user_of(request)
    providers = _providers(viewer)
    form = DataServiceCreateForm(request.POST or None, providers=providers)
    if request.method == "POST" and form.is_valid():
        provider = next(a for a in providers if a.code == form.cleaned_data["provider"])
        code = form.cleaned_data["code"]
        try:
            selectors.data_service_get(viewer=viewer, provider_code=provider.code, code=code)
        except ServiceNotFound:
            done = _publish(request, form, provider=provider, code=code, created=True)
            if done is not None:
                return done
        else:
            form.add_error(
                "code",
                _("%(agency)s already publishes this code: edit that service instead.")
                % {"agency": provider.name},
            )
    status = 400 if form.errors else 200
    return render(request, "exchange/service_form.html", {"form": form}, status=status)


@page("data_service.manage")
@require_http_methods(["GET", "POST"])
def service_edit(request: HttpRequest, provider: str, code: str) -> HttpResponse:
    viewer = user_of(request)
    service = selectors.data_service_get(viewer=viewer, provider_code=provider, code=code)
    if not policy.can(viewer, "data_service.manage", service.provider):
        raise PermissionDenied(_("Only the provider's agency admins and data stewards edit it."))
    form = DataServiceForm(request.POST or None, initial=service_initial(service))
    if request.method == "POST" and form.is_valid():
        done = _publish(request, form, provider=service.provider, code=service.code, created=False)
        if done is not None:
            return done
    status = 400 if form.errors else 200
    context = {"form": form, "service": service}
    return render(request, "exchange/service_form.html", context, status=status)


@page("data_service.manage")
@require_POST
def service_retire(request: HttpRequest, provider: str, code: str) -> HttpResponse:
    viewer = user_of(request)
    service = selectors.data_service_get(viewer=viewer, provider_code=provider, code=code)
    services.data_service_retire(actor=viewer, service=service)
    messages.success(
        request,
        _("The data service “%(code)s” is retired: the exchange refuses requests for it.")
        % {"code": service.code},
    )
    return redirect("exchange:service_detail", provider=service.provider.code, code=service.code)


urlpatterns: list[URLPattern] = [
    path("services/", service_list, name="service_list"),
    path("services/new/", service_create, name="service_create"),
    path("services/<slug:provider>/<slug:code>/", service_detail, name="service_detail"),
    path("services/<slug:provider>/<slug:code>/edit/", service_edit, name="service_edit"),
    path("services/<slug:provider>/<slug:code>/retire/", service_retire, name="service_retire"),
]
