"""Simulating a candidate rule version on the recorded decisions of a service's past cases.

Before a policy analyst activates a new version of a decision model, they see what it would
have decided for the cases already decided: how many outcomes change, and which (by case
reference), replaying the inputs each automated decision recorded (`CaseDecision` ->
`DecisionEvaluation.inputs`, tagged JSON, so the replay evaluates exactly what was
evaluated). Nothing is written but the audit entry saying the simulation ran; reads go in
keyset pages, so memory stays flat whatever the number of cases.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction

from cases.models import CaseDecision, Service, ServiceVersion
from core import audit
from core.errors import ValidationFailed
from decisions import services as decision_services
from decisions.models import DecisionModelVersion
from identity import policy
from identity.models import User

PAGE = 2000
MAX_LISTED = 500  # changes (and failures) listed; all are counted


@dataclass(frozen=True)
class DecisionChange:
    case_reference: str
    element_id: str
    decision: str
    recorded: Any  # tagged JSON, as recorded
    candidate: Any  # tagged JSON, as the candidate decides
    overridden: bool  # a caseworker had overridden the recorded outcome


@dataclass(frozen=True)
class DecisionReplayFailure:
    case_reference: str
    element_id: str
    error: str


@dataclass
class ReevaluationReport:
    service: str
    model: str
    candidate_version: int
    total: int = 0
    changed: int = 0
    unchanged: int = 0
    errors: int = 0
    transitions: dict[str, int] = field(default_factory=dict)  # "old -> new": count
    changes: list[DecisionChange] = field(default_factory=list)
    failures: list[DecisionReplayFailure] = field(default_factory=list)
    truncated: bool = False  # more changes or failures than listed
    seconds: float = 0.0


def _label(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _models_called(service: Service) -> set[int]:
    models: set[int] = set()
    for decisions in ServiceVersion.objects.filter(service=service).values_list(
        "decisions", flat=True
    ):
        models.update(int(ref["model_id"]) for ref in (decisions or {}).values())
    return models


def case_decisions_reevaluate(
    *,
    service: Service,
    candidate_version: DecisionModelVersion,
    actor: User,
    since: datetime | None = None,
) -> ReevaluationReport:
    """Replay every recorded automated decision of `service`'s cases that the candidate's
    model made (any version), on the candidate, and compare with what was decided."""
    model = candidate_version.model
    policy.authorize(actor, "decision.simulate", model)
    if model.pk not in _models_called(service):
        raise ValidationFailed(
            f"The service {service.code!r} does not call the decision model {model.key!r}.",
            errors={"candidate_version": [f"a version of a model {service.code} calls"]},
        )
    started = time.perf_counter()
    loaded = decision_services.decision_version_load(version=candidate_version)
    report = ReevaluationReport(
        service=service.code, model=model.key, candidate_version=candidate_version.version
    )
    transitions: Counter[str] = Counter()
    rows = CaseDecision.objects.filter(case__service=service, model_version__model=model)
    if since is not None:
        rows = rows.filter(decided_at__gte=since)
    columns = ("id", "case__reference", "element_id", "decision", "evaluation__inputs")
    page_rows = rows.values_list(*columns, "outputs", "overridden").order_by("id")
    last_id = 0
    while True:
        page = list(page_rows.filter(id__gt=last_id)[:PAGE])
        for _, reference, element, decision, inputs, outputs, overridden in page:
            report.total += 1
            ok, candidate = decision_services.decision_replay(
                loaded=loaded, decision=decision, inputs=inputs
            )
            if not ok:
                report.errors += 1
                if len(report.failures) < MAX_LISTED:
                    report.failures.append(DecisionReplayFailure(reference, element, candidate))
                else:
                    report.truncated = True
            elif decision_services.decision_outcomes_same(outputs, candidate):
                report.unchanged += 1
            else:
                report.changed += 1
                transitions[f"{_label(outputs)} -> {_label(candidate)}"] += 1
                if len(report.changes) < MAX_LISTED:
                    report.changes.append(
                        DecisionChange(reference, element, decision, outputs, candidate, overridden)
                    )
                else:
                    report.truncated = True
        if len(page) < PAGE:
            break
        last_id = page[-1][0]
    report.transitions = dict(transitions.most_common())
    report.seconds = round(time.perf_counter() - started, 3)
    with transaction.atomic():
        audit.record(
            actor=actor,
            action="case.decisions_simulate",
            target=candidate_version,
            agency=service.agency.code,
            data={
                "service": service.code,
                "model": model.key,
                "version": candidate_version.version,
                "since": since,
                "total": report.total,
                "changed": report.changed,
                "errors": report.errors,
            },
        )
    return report
