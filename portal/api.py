"""The citizen's own answers through the API (mounted at /api/v1/portal): how satisfied they
were with the service that handled a completed case — what the case page asks, for apps."""

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Path, Router, Schema, Status

from cases import selectors as case_selectors
from identity import policy
from identity.models import User
from portal import selectors, services
from portal.models import SatisfactionRating, SatisfactionResponse

router = Router(tags=["portal"])

Reference = Annotated[str, Path(..., min_length=1, max_length=32, pattern=r"^[0-9A-Z-]+$")]


class SatisfactionIn(Schema):
    rating: int = Field(
        ...,
        description="5 very satisfied, 4 satisfied, 3 neither, 2 dissatisfied, 1 very dissatisfied",
    )
    comment: str = Field("", max_length=services.MAX_COMMENT * 2)


class SatisfactionOut(Schema):
    case: str
    rating: int
    rating_label: str
    comment: str
    answered_at: datetime

    @staticmethod
    def resolve_case(obj: SatisfactionResponse) -> str:
        return obj.case.reference

    @staticmethod
    def resolve_rating_label(obj: SatisfactionResponse) -> str:
        return str(SatisfactionRating(obj.rating).label)

    @staticmethod
    def resolve_answered_at(obj: SatisfactionResponse) -> datetime:
        return obj.created_at


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@router.get(
    "/cases/{reference}/satisfaction",
    response=SatisfactionOut,
    operation_id="portal_satisfaction_get",
    summary="Your answer about how satisfied you were with the service on your case",
)
@policy.requires("satisfaction.give_own")
def satisfaction_get(request: HttpRequest, reference: Reference) -> Any:
    viewer = _user(request)
    case = case_selectors.case_get(viewer=viewer, reference=reference, purpose="citizen portal")
    return selectors.satisfaction_get(viewer=viewer, case=case)


@router.post(
    "/cases/{reference}/satisfaction",
    response={201: SatisfactionOut},
    operation_id="portal_satisfaction_give",
    summary="Say how satisfied you were with the service, once your case is completed "
    "(once per case)",
)
@policy.requires("satisfaction.give_own")
def satisfaction_give(
    request: HttpRequest, reference: Reference, payload: SatisfactionIn
) -> Status[SatisfactionResponse]:
    viewer = _user(request)
    case = case_selectors.case_get(viewer=viewer, reference=reference, purpose="citizen portal")
    response = services.satisfaction_give(
        actor=viewer, case=case, rating=payload.rating, comment=payload.comment
    )
    return Status(201, response)
