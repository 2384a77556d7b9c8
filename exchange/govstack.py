"""The GovStack Information Mediator directory API at /api/govstack/im/.

The instance is this CivicStack deployment (`GOVSTACK_INSTANCE`); members are its
agencies (class GOV for government agencies, COM for partner organisations, code = the
agency code); applications are each agency's registered calling systems
(`identity.SystemClient`) and, for agencies that publish data services, the application
``exchange`` through which the platform serves them. Services are the data services of
the catalogue; an "allowed" method is one the caller's agency holds a data agreement in
force for. `getOpenAPI` describes one service from its input and output schemas.
"""

from typing import Any

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Schema

from consent.models import DataAgreementVersion
from core.errors import NotFound, ValidationFailed
from exchange import selectors
from exchange.models import DataService
from identity import policy
from identity.choices import AgencyKind
from identity.govstack import govstack_api
from identity.models import Agency, SystemClient, User

api = govstack_api(
    namespace="im",
    title="CivicStack — GovStack Information Mediator directory API",
    version="1.0",
    description=(
        "Members (agencies), applications (calling systems) and the data services they "
        "publish, with an OpenAPI description per service."
    ),
)

EXCHANGE_APPLICATION = "exchange"
CLASS_FOR_KIND = {AgencyKind.GOVERNMENT: "GOV", AgencyKind.PARTNER: "COM"}


def _instance() -> str:
    return str(getattr(settings, "GOVSTACK_INSTANCE", "CIVICSTACK"))


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


class ClientsQuery(Schema):
    instanceId: str | None = None


@api.get("/listClients", operation_id="listClients", summary="Members and applications")
@policy.requires("data_service.view")
def list_clients(request: HttpRequest, query: Query[ClientsQuery]) -> dict[str, Any]:
    instance = _instance()
    if query.instanceId not in (None, "", instance):
        return {"member": []}  # no federated instances are known to this one
    publishing = set(DataService.objects.filter(active=True).values_list("provider_id", flat=True))
    members: list[dict[str, Any]] = []
    for agency in Agency.objects.order_by("code"):
        member_class = CLASS_FOR_KIND.get(AgencyKind(agency.kind), "GOV")
        ident = {"instanceId": instance, "memberClass": member_class, "memberCode": agency.code}
        members.append({"name": agency.name, "id": {"objectType": "MEMBER", **ident}})
        if agency.pk in publishing:
            members.append(
                {
                    "name": f"{agency.name} — data services",
                    "id": {
                        "objectType": "APPLICATION",
                        **ident,
                        "applicationCode": EXCHANGE_APPLICATION,
                    },
                }
            )
    for client in SystemClient.objects.filter(active=True).select_related("agency"):
        parts = client.identifier.split("/")
        members.append(
            {
                "name": client.name,
                "id": {
                    "objectType": "APPLICATION",
                    "instanceId": parts[0],
                    "memberClass": parts[1],
                    "memberCode": parts[2],
                    "applicationCode": parts[3],
                },
            }
        )
    return {"member": members}


def _provider(instance_id: str, member_class: str, member_code: str) -> Agency:
    if instance_id != _instance():
        raise NotFound(f"Unknown instance {instance_id!r}.")
    agency = Agency.objects.filter(code=member_code).first()
    if agency is None or CLASS_FOR_KIND.get(AgencyKind(agency.kind), "GOV") != member_class:
        raise NotFound(f"No member {member_class}/{member_code} in {instance_id}.")
    return agency


def _service_details(service: DataService, member_class: str, application: str) -> dict[str, Any]:
    return {
        "objectType": "SERVICE",
        "serviceType": "REST",
        "instanceId": _instance(),
        "memberClass": member_class,
        "memberCode": service.provider.code,
        "applicationCode": application,
        "serviceCode": service.code,
        "serviceVersion": service.updated_at.strftime("%Y%m%d%H%M%S"),
        "endpointList": {
            "member": [
                {
                    "method": "POST",
                    "path": (
                        f"/api/v1/exchange/agencies/{service.provider.code}"
                        f"/services/{service.code}/requests"
                    ),
                }
            ]
        },
    }


class MethodsQuery(Schema):
    serviceId: str | None = None


def _services(
    request: HttpRequest,
    instance_id: str,
    member_class: str,
    member_code: str,
    application_code: str,
    service_id: str | None,
) -> tuple[Agency, list[DataService]]:
    provider = _provider(instance_id, member_class, member_code)
    if application_code != EXCHANGE_APPLICATION:
        raise NotFound(f"{member_code} has no application {application_code!r} with services.")
    found = selectors.data_service_list(viewer=_user(request), provider=provider)
    if service_id:
        found = found.filter(code=service_id)
    return provider, list(found)


ROUTE = "/r1/{instance_id}/{member_class}/{member_code}/{application_code}"


@api.get(f"{ROUTE}/listMethods", operation_id="listMethods", summary="A provider's services")
@policy.requires("data_service.view")
def list_methods(
    request: HttpRequest,
    instance_id: str,
    member_class: str,
    member_code: str,
    application_code: str,
    query: Query[MethodsQuery],
) -> dict[str, Any]:
    _, found = _services(
        request, instance_id, member_class, member_code, application_code, query.serviceId
    )
    return {"member": [_service_details(s, member_class, application_code) for s in found]}


@api.get(
    f"{ROUTE}/allowedMethods",
    operation_id="allowedMethods",
    summary="The provider's services the caller's agency holds an agreement in force for",
)
@policy.requires("data_service.view")
def allowed_methods(
    request: HttpRequest,
    instance_id: str,
    member_class: str,
    member_code: str,
    application_code: str,
    query: Query[MethodsQuery],
) -> dict[str, Any]:
    provider, found = _services(
        request, instance_id, member_class, member_code, application_code, query.serviceId
    )
    caller = _user(request)
    consumer_id = caller.agency_id
    im_client = getattr(request, "im_client", None)
    if im_client is not None:
        consumer_id = im_client.agency_id
    now = timezone.now()
    agreed: set[str] = set()
    versions = (
        DataAgreementVersion.objects.filter(
            agreement__provider=provider, agreement__consumer_id=consumer_id, valid_from__lte=now
        )
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
        .order_by("agreement_id", "-version")
    )
    latest: dict[Any, DataAgreementVersion] = {}
    for version in versions:
        latest.setdefault(version.agreement_id, version)
    for version in latest.values():
        agreed.update(version.attributes)
    allowed = [s for s in found if agreed & set(s.attributes)]
    return {"member": [_service_details(s, member_class, application_code) for s in allowed]}


class OpenApiQuery(Schema):
    serviceCode: str


@api.get(
    f"{ROUTE}/getOpenAPI",
    operation_id="getOpenAPI",
    summary="The OpenAPI description of one data service",
)
@policy.requires("data_service.view")
def get_openapi(
    request: HttpRequest,
    instance_id: str,
    member_class: str,
    member_code: str,
    application_code: str,
    query: Query[OpenApiQuery],
) -> dict[str, Any]:
    if not query.serviceCode.strip():
        raise ValidationFailed(errors={"serviceCode": ["required"]})
    _, found = _services(
        request, instance_id, member_class, member_code, application_code, query.serviceCode
    )
    if not found:
        raise NotFound(f"{member_code} publishes no service {query.serviceCode!r}.")
    service = found[0]
    path = _service_details(service, member_class, application_code)["endpointList"]["member"][0]
    output = service.output_schema or {
        "type": "object",
        "properties": {name: {} for name in service.attributes},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": service.name,
            "version": service.updated_at.strftime("%Y%m%d%H%M%S"),
            "description": service.description,
        },
        "paths": {
            path["path"]: {
                "post": {
                    "operationId": f"{service.provider.code}_{service.code}".replace("-", "_"),
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["person", "purpose"],
                                    "properties": {
                                        "person": {"type": "string"},
                                        "purpose": {"type": "string"},
                                        "case_ref": {"type": "string"},
                                        "params": service.input_schema or {"type": "object"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The attributes the caller's agreement allows.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"data": output},
                                    }
                                }
                            },
                        }
                    },
                }
            }
        },
    }
