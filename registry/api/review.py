"""Clerical review over the API: the queue of uncertain pairs, decisions, merge, split, undo."""

from typing import Annotated, Any
from uuid import UUID

from django.http import HttpRequest
from ninja import Path, Query, Router

from core.pagination import PathId
from identity import policy
from identity.models import User
from registry.schemas.review import (
    PERSON_ID,
    CandidateDetailOut,
    CandidatePage,
    CandidateQuery,
    ChangeOut,
    HistoryActionOut,
    MergeIn,
    NoteIn,
    SplitIn,
)
from registry.selectors import review as selectors
from registry.services import review as services

router = Router(tags=["registry: clerical review"])

PersonId = Annotated[str, Path(..., pattern=PERSON_ID)]


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@router.get(
    "/review/candidates",
    response=CandidatePage,
    operation_id="review_candidate_list",
    summary="Pairs waiting for review, least certain first (no personal data)",
)
@policy.requires("person.review")
def review_candidate_list(request: HttpRequest, query: Query[CandidateQuery]) -> dict[str, Any]:
    qs = selectors.match_candidate_queue(
        viewer=_user(request), status=query.status, ordering=query.ordering, agency=query.agency
    )
    return {"count": qs.count(), "items": list(qs[query.offset : query.offset + query.limit])}


@router.get(
    "/review/candidates/{candidate_id}",
    response=CandidateDetailOut,
    operation_id="review_candidate_get",
    summary="One pair side by side with the match-weight explanation (both reads audited)",
)
@policy.requires("person.review")
def review_candidate_get(request: HttpRequest, candidate_id: PathId) -> dict[str, Any]:
    view = selectors.match_candidate_get(viewer=_user(request), candidate_id=candidate_id)
    return {
        "candidate": view.candidate,
        "fields": view.rows,
        "explanation": view.bars,
        "prior_weight": view.prior,
    }


@router.post(
    "/review/candidates/{candidate_id}/accept",
    response=ChangeOut,
    operation_id="review_candidate_accept",
    summary="Same person: the two records' persons merge (409 if already decided)",
)
@policy.requires("person.review")
def review_candidate_accept(
    request: HttpRequest, candidate_id: PathId, body: NoteIn
) -> services.MembershipChange:
    viewer = _user(request)
    candidate = selectors.match_candidate_for_decision(viewer=viewer, candidate_id=candidate_id)
    return services.match_candidate_accept(candidate=candidate, actor=viewer, note=body.note)


@router.post(
    "/review/candidates/{candidate_id}/reject",
    response=ChangeOut,
    operation_id="review_candidate_reject",
    summary="Different people: the pair is remembered and not proposed again",
)
@policy.requires("person.review")
def review_candidate_reject(
    request: HttpRequest, candidate_id: PathId, body: NoteIn
) -> services.MembershipChange:
    viewer = _user(request)
    candidate = selectors.match_candidate_for_decision(viewer=viewer, candidate_id=candidate_id)
    return services.match_candidate_reject(candidate=candidate, actor=viewer, note=body.note)


@router.post(
    "/persons/{person_id}/merge",
    response=ChangeOut,
    operation_id="person_merge",
    summary="Merge another person into this one; this one keeps its id",
)
@policy.requires("person.review")
def person_merge(request: HttpRequest, person_id: PersonId, body: MergeIn) -> Any:
    viewer = _user(request)
    survivor = selectors.person_for_review(viewer=viewer, person_id=person_id)
    merged = selectors.person_for_review(viewer=viewer, person_id=body.other)
    return services.persons_merge(survivor=survivor, merged=merged, actor=viewer, note=body.note)


@router.post(
    "/persons/{person_id}/split",
    response=ChangeOut,
    operation_id="person_split",
    summary="Move some of a person's records to a new person (422 if it would take all)",
)
@policy.requires("person.review")
def person_split(request: HttpRequest, person_id: PersonId, body: SplitIn) -> Any:
    viewer = _user(request)
    person = selectors.person_for_review(viewer=viewer, person_id=person_id)
    return services.person_split(
        person=person, record_ids=body.record_ids, actor=viewer, note=body.note
    )


@router.post(
    "/persons/actions/{action}/undo",
    response=ChangeOut,
    operation_id="person_membership_undo",
    summary="Reverse a review, merge or split (409 if a record has moved since)",
)
@policy.requires("person.review")
def person_membership_undo(request: HttpRequest, action: UUID, body: NoteIn) -> Any:
    return services.membership_action_undo(action=action, actor=_user(request), note=body.note)


@router.get(
    "/persons/{person_id}/history",
    response=list[HistoryActionOut],
    operation_id="person_history",
    summary="Membership changes of a person's records, newest first (audited)",
)
@policy.requires("person.review")
def person_history(request: HttpRequest, person_id: PersonId) -> Any:
    return selectors.person_history(viewer=_user(request), person_id=person_id)
