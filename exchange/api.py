"""The exchange API at /api/v1/exchange: the catalogue, mediated requests, the message log.

A refused request answers with the refusing check's code (`consent_required`,
`unknown_purpose`, `agreement_not_found`, `agreement_not_in_force`, `validation_failed`,
`permission_denied`, ...) and is in the message log with that reason.
"""

import json
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema, Status
from ninja.pagination import paginate

from core.errors import ValidationFailed
from core.pagination import Paging
from exchange import selectors, services
from exchange.messages import message_body_intact, message_log_verify
from exchange.models import DataService, Message
from exchange.schemas import (
    DataServiceIn,
    DataServiceOut,
    ExchangeIn,
    ExchangeOut,
    LogCheckOut,
    MessageDetailOut,
    MessageOut,
)
from identity import policy
from identity import selectors as identity_selectors
from identity.models import User

router = Router(tags=["exchange"])

AgencyCode = Annotated[str, Path(..., min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")]
ServiceCode = Annotated[str, Path(..., min_length=1, max_length=80, pattern=r"^[a-z0-9-]+$")]


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@router.get(
    "/services",
    response=list[DataServiceOut],
    operation_id="exchange_service_list",
    summary="The catalogue of data services",
)
@policy.requires("data_service.view")
@paginate(Paging)
def service_list(request: HttpRequest) -> Any:
    return selectors.data_service_list(viewer=_user(request))


@router.put(
    "/agencies/{code}/services/{service}",
    response=DataServiceOut,
    operation_id="exchange_service_publish",
    summary="Publish or update one of the agency's data services",
)
@policy.requires("data_service.manage")
def service_publish(
    request: HttpRequest, code: AgencyCode, service: ServiceCode, payload: DataServiceIn
) -> DataService:
    if payload.code != service:
        raise ValidationFailed(errors={"code": ["must match the path"]})
    provider = identity_selectors.agency_get(code=code)
    fields = payload.dict()
    fields.pop("code")
    return services.data_service_publish(
        actor=_user(request), provider=provider, code=service, **fields
    )


@router.post(
    "/agencies/{code}/services/{service}/requests",
    response={200: ExchangeOut},
    operation_id="exchange_request",
    summary="Ask a data service about a person (agreement, purpose and consent checked)",
)
@policy.requires("exchange.request")
def exchange_request(
    request: HttpRequest, code: AgencyCode, service: ServiceCode, payload: ExchangeIn
) -> Any:
    actor = _user(request)
    consumer_code = payload.consumer or (actor.agency.code if actor.agency else "")
    if not consumer_code:
        raise ValidationFailed(errors={"consumer": ["name the consuming agency"]})
    consumer = identity_selectors.agency_get(code=consumer_code)
    client = getattr(getattr(request, "im_client", None), "identifier", "")
    return services.exchange_request(
        actor=actor,
        consumer=consumer,
        provider_code=code,
        service_code=service,
        person_id=payload.person,
        purpose=payload.purpose,
        case_ref=payload.case_ref,
        params=payload.params,
        client=client,
    )


class MessageQuery(Schema):
    agency: str = Field("", max_length=40, pattern=r"^[a-z0-9-]*$")
    person: str = Field("", max_length=16, pattern=r"^[A-Za-z0-9]*$")
    kind: str = Field("", max_length=10, pattern=r"^[a-z]*$")
    exchange_id: UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


@router.get(
    "/messages",
    response=list[MessageOut],
    operation_id="exchange_message_list",
    summary="The signed message log, newest first (auditors)",
)
@policy.requires("message_log.view")
@paginate(Paging)
def message_list(request: HttpRequest, filters: Query[MessageQuery]) -> Any:
    return selectors.message_list(viewer=_user(request), **filters.dict())


@router.post(
    "/messages/verify",
    response=LogCheckOut,
    operation_id="exchange_message_verify",
    summary="Verify the whole log: hashes, links and signatures",
)
@policy.requires("audit.verify")
def message_verify(request: HttpRequest) -> Status[Any]:
    result = message_log_verify()
    return Status(200, result)


@router.get(
    "/messages/{seq}",
    response=MessageDetailOut,
    operation_id="exchange_message_get",
    summary="One message with its body (the read is audited)",
)
@policy.requires("message_log.view")
def message_get(request: HttpRequest, seq: Annotated[int, Path(..., ge=1, le=2**63 - 1)]) -> Any:
    message: Message = selectors.message_get(viewer=_user(request), seq=seq)
    body = json.loads(message.body) if message.body else None
    return {
        **selectors.message_summary(message),
        "created_at": message.created_at,
        "body_hash": message.body_hash,
        "body": body,
        "body_intact": message_body_intact(message),
    }
