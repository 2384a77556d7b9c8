"""Report a mistake in your data: the request becomes a case at the agency whose record
gave the value.

A case belongs to the agency of its service (the case engine files `Case.agency` and the
work item's queue under the service's agency), so every agency that holds records about
people has its own "data-correction" service, `data-correction-<agency code>`, deployed
from the one definition in cases/demo_services/data-correction/ (a process with one user
task in the agency's `data-correction` queue, then a message to the applicant). That
directory has no service.yaml of its own, so `deploy_demo_services` leaves it alone;
`correction_services_deploy` writes one per agency and deploys it (unchanged files are not
deployed again).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import yaml
from django.utils.translation import gettext_lazy as _

import cases
from cases.models import Case, Service, ServiceVersion
from cases.services import definitions, engine
from core.errors import ApplicationError, ValidationFailed
from identity import policy
from identity.models import Agency, User
from portal.your_data import FIELD_LABELS, your_data_get
from registry.models import SourceRecord
from registry.services.citizens import PORTAL_AGENCY_CODE

DEFINITION = Path(cases.__file__).resolve().parent / "demo_services" / "data-correction"
CODE_PREFIX = "data-correction-"
MAX_VALUE = 300
MAX_NOTE = 1000


class PersonNotLinked(ApplicationError):
    code = "person_not_linked"
    status = 409
    title = "Your account is not linked to your record in government yet"


class CorrectionNotOffered(ApplicationError):
    code = "correction_not_offered"
    status = 409
    title = "This agency does not take correction requests online"


def correction_service_code(agency_code: str) -> str:
    return f"{CODE_PREFIX}{agency_code}"[:80]


def _service_yaml(agency: Agency) -> str:
    return yaml.safe_dump(
        {
            "code": correction_service_code(agency.code),
            "agency": agency.code,
            "name": f"Correct your data held by {agency.name}"[:200],
            "description": (
                f"Tell {agency.name} that a detail its record holds about you is wrong; "
                "a caseworker checks the record, corrects it and tells you."
            ),
            "catalogue": False,  # reached from "your data", not applied for
            "cost_per_transaction": 2.5,
            "sla": "P10D",
            "queues": {"data-correction": {"role": "caseworker", "sla": "P5D", "priority": 40}},
        },
        sort_keys=False,
        allow_unicode=True,
    )


def correction_services_deploy(
    *, actor: User, agencies: Iterable[Agency] | None = None
) -> list[tuple[ServiceVersion, bool]]:
    """Deploy the data-correction service for each agency (default: every agency holding
    records about people); returns each version and whether it was deployed now."""
    if agencies is None:
        held = SourceRecord.objects.values("agency_id").distinct()
        agencies = Agency.objects.filter(pk__in=held).exclude(code=PORTAL_AGENCY_CODE)
    done = []
    for agency in sorted(agencies, key=lambda a: a.code):
        # the public deploy reads a directory: the shared files plus this agency's yaml
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch)
            for path in DEFINITION.rglob("*"):
                if path.is_file():
                    copy = target / path.relative_to(DEFINITION)
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    copy.write_bytes(path.read_bytes())
            (target / "service.yaml").write_text(_service_yaml(agency), encoding="utf-8")
            done.append(definitions.service_deploy_if_changed(actor=actor, directory=target))
    return done


def correction_request_submit(
    *, actor: User, field: str, correct_value: str, note: str = ""
) -> Case:
    """Ask the agency whose record gave `field` of the actor's golden record to correct it.

    The request is a case of that agency's data-correction service, in its caseworkers'
    queue; the applicant follows it on their dashboard like any other case.
    """
    policy.authorize(actor, "person.view_own", actor)
    correct_value = (correct_value or "").strip()
    note = (note or "").strip()
    errors: dict[str, list[str]] = {}
    if field not in FIELD_LABELS:
        errors["field"] = [str(_("Choose a detail of your record."))]
    if not correct_value:
        errors["correct_value"] = [str(_("Enter the correct value."))]
    elif len(correct_value) > MAX_VALUE:
        errors["correct_value"] = [str(_("At most %(n)s characters.") % {"n": MAX_VALUE})]
    if len(note) > MAX_NOTE:
        errors["note"] = [str(_("At most %(n)s characters.") % {"n": MAX_NOTE})]
    if errors:
        raise ValidationFailed(errors=errors)
    data = your_data_get(viewer=actor, purpose="report a mistake")
    if data is None:
        raise PersonNotLinked()
    held = data.field(field)
    if held is None:
        raise ValidationFailed(
            errors={"field": [str(_("Your record holds no such detail to correct."))]}
        )
    if held.from_portal:
        raise CorrectionNotOffered(
            str(_("You gave this detail yourself when you signed up; no agency holds it.")),
            errors={"field": [str(_("You gave this detail yourself."))]},
        )
    service = Service.objects.filter(code=correction_service_code(held.agency_code)).first()
    if service is None:
        raise CorrectionNotOffered(
            str(
                _("%(agency)s does not take correction requests online yet. Contact them.")
                % {"agency": held.agency_name}
            )
        )
    # the value the record holds, unmasked: the caseworker compares it with their system
    current = next(
        (
            getattr(r.record, field, "")
            for r in data.records
            if r.agency.code == held.agency_code and r.record.agency_record_id == held.record
        ),
        "",
    )
    return engine.case_submit(
        service=service,
        data={
            "field": field,
            "field_label": held.label,
            "record": held.record,
            "current_value": str(current or "")[:MAX_VALUE],
            "correct_value": correct_value,
            **({"note": note} if note else {}),
        },
        applicant=actor,
        actor=actor,
    )
