"""Overriding an automated decision: allowed to caseworkers, never without a reason."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cases.models import CaseDecision, CaseDecisionOverride
from core import audit
from core.errors import ValidationFailed
from identity import policy
from identity.models import User

MAX_REASON = 2000


def case_decision_override(
    *, decision: CaseDecision, outcome: Any, reason: str, actor: User
) -> CaseDecisionOverride:
    case = decision.case
    policy.authorize(actor, "case.override", case)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "A reason is required to override an automated decision.",
            errors={"reason": ["Say why the automated decision is overridden."]},
        )
    if len(reason) > MAX_REASON:
        raise ValidationFailed(errors={"reason": [f"At most {MAX_REASON} characters."]})
    with transaction.atomic():
        override = CaseDecisionOverride.objects.create(
            decision=decision, outcome=outcome, reason=reason, actor=actor
        )
        CaseDecision.objects.filter(pk=decision.pk).update(overridden=True)
        decision.overridden = True
        audit.record(
            actor=actor,
            action="case.decision_override",
            target=case,
            agency=case.agency.code,
            data={
                "reference": case.reference,
                "decision": decision.decision,
                "element": decision.element_id,
                "from": decision.outputs,
                "to": outcome,
                "reason": reason,
            },
        )
    return override
