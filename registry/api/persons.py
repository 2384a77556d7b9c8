from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from identity import policy
from identity.models import User
from registry.schemas.persons import PersonOut, PersonSearchIn, PersonSearchOut
from registry.schemas.records import PurposeQuery
from registry.selectors import persons as selectors

router = Router(tags=["persons"])


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


@router.post(
    "/persons:search",
    response=PersonSearchOut,
    operation_id="person_search",
    summary="Search master persons by national ID (exact) or name and date of birth (fuzzy)",
    description="A POST, so that names and national IDs stay out of URLs and access logs. "
    "Every person returned is recorded in the audit trail with the purpose.",
)
@policy.requires("person.view")
def person_search(request: HttpRequest, body: PersonSearchIn) -> dict[str, Any]:
    hits = selectors.person_search(
        viewer=_user(request),
        purpose=body.purpose,
        name=body.name,
        date_of_birth=body.date_of_birth,
        national_id=body.national_id,
        limit=body.limit,
    )
    items = [
        {
            "id": h.person.pk,
            "given_name": h.person.given_name,
            "family_name": h.person.family_name,
            "date_of_birth": h.person.date_of_birth,
            "score": h.score,
            "matched_on": h.matched_on,
        }
        for h in hits
    ]
    return {"count": len(items), "items": items}


@router.get(
    "/persons/{person_id}",
    response=PersonOut,
    operation_id="person_get",
    summary="A person's golden record with provenance and linked source records (audited)",
)
@policy.requires("person.view")
def person_get(request: HttpRequest, person_id: str, query: Query[PurposeQuery]) -> dict[str, Any]:
    view = selectors.person_get(viewer=_user(request), person_id=person_id, purpose=query.purpose)
    person = view.person
    return {
        "id": person.pk,
        "status": "merged" if person.retired_at else "active",
        "merged_into": person.merged_into_id,
        "golden": {
            name: {**value, "value": None if value["value"] is None else str(value["value"])}
            for name, value in view.golden.items()
        },
        "records": view.records,
        "hidden_records": view.hidden_records,
        "created_at": person.created_at.isoformat(),
        "updated_at": person.updated_at.isoformat(),
    }
