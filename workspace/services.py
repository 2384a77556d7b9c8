"""Fetching another agency's data about a person from the 360° view.

Nothing is copied into the workspace: the data comes through the mediated exchange on the
caseworker's explicit request, for the agreement's purpose and the case at hand, so the
agreement, the consent and the viewer's rights are checked there, and the request and
answer are signed, logged and shown to the person in "who accessed my data".
"""

from __future__ import annotations

from typing import Any

from core.errors import ValidationFailed
from exchange.models import DataService
from exchange.services import ExchangeAnswer, exchange_request
from identity.models import User
from workspace.selectors import acting_agency


def shared_data_fetch(
    *,
    actor: User,
    person_id: str,
    service: DataService,
    purpose: str,
    case_ref: str = "",
    params: dict[str, Any] | None = None,
) -> ExchangeAnswer:
    """Ask `service` about the person for the actor's agency, for the agreement `purpose`."""
    agency = acting_agency(actor)
    if agency is None:
        raise ValidationFailed(errors={"service": ["Your account belongs to no agency."]})
    return exchange_request(
        actor=actor,
        consumer=agency,
        provider_code=service.provider.code,
        service_code=service.code,
        person_id=person_id,
        purpose=purpose,
        case_ref=case_ref,
        params=params or {},
        client="workspace",
    )
