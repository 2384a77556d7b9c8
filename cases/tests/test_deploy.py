"""Deploying a service: everything checked first, errors naming elements, nothing half-stored."""

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from cases.errors import ServiceDefinitionInvalid
from cases.models import Service, ServiceVersion
from cases.services import definitions
from core.errors import PermissionDenied
from decisions import selectors as decision_selectors
from decisions.models import DecisionModel, DecisionModelVersion
from identity.services import system_actor

from .conftest import TEST_SERVICE

pytestmark = pytest.mark.django_db


def test_a_deploy_stores_the_version_and_its_dmn_in_the_decisions_app(
    health, analyst, service_files
):
    version = definitions.service_deploy(actor=analyst, files=service_files)
    assert (version.service.code, version.version, version.process_id) == (
        "test-benefit",
        1,
        "test_benefit",
    )
    assert version.metadata["queues"]["benefit-review"]["role"] == "caseworker"
    assert version.metadata["cost_per_transaction"] == "3.5"
    model = DecisionModel.objects.get(agency=health, key="test-benefit-eligibility")
    active = decision_selectors.decision_model_version_active_at(model=model)
    assert active is not None and active.pk == version.decisions["eligibility"]["version_id"]
    # a second deploy with the same DMN reuses that decision model version
    again = definitions.service_deploy(actor=analyst, files=service_files)
    assert again.version == 2
    assert DecisionModelVersion.objects.filter(model=model).count() == 1


def _broken(service_files, name, old, new):
    assert old in service_files[name]
    return {**service_files, name: service_files[name].replace(old, new)}


@pytest.mark.parametrize(
    ("name", "old", "new", "file", "expected"),
    [
        ("process.bpmn", "<bpmn:process ", "<bpmn:process <", "process.bpmn", "not well-formed"),
        (
            "process.bpmn",
            '=outcome = "review"',
            '=outcome = "review" and (',
            "process.bpmn",
            "element 'f_review'",
        ),
        (
            "process.bpmn",
            'decisionId="eligibility"',
            'decisionId="elegibility"',
            "process.bpmn",
            "element 'decide': decision 'elegibility' is in no DMN file",
        ),
        (
            "process.bpmn",
            'type="notify"',
            'type="os.system"',
            "process.bpmn",
            "element 'notify_applicant', line 80: no connector named 'os.system'",
        ),
        (
            "process.bpmn",
            'candidateGroups="benefit-review"',
            'candidateGroups="nobody"',
            "process.bpmn",
            "element 'review': queue 'nobody' is not declared",
        ),
        (
            "process.bpmn",
            'cancelActivity="false"',
            'cancelActivity="maybe"',
            "process.bpmn",
            "line 37: Element '{http://www.omg.org/spec/BPMN/20100524/MODEL}boundaryEvent', "
            "attribute 'cancelActivity': 'maybe' is not a valid value",
        ),
        (
            "eligibility.dmn",
            'href="#in_age"',
            'href="#nowhere"',
            "eligibility.dmn",
            "element 'eligibility'; line 6",
        ),
        ("form.json", '"type": "integer"', '"type": "integr"', "form.json", "at properties/age"),
        ("form.json", '"minimum": 0,', '"minimum": 0', "form.json", "not valid JSON"),
        ("service.yaml", "sla: P5D", "sla: five days", "service.yaml", "queues.benefit-review.sla"),
    ],
)
def test_a_bad_definition_is_refused_naming_the_place_and_nothing_is_stored(
    health, service_files, name, old, new, file, expected
):
    files = _broken(service_files, name, old, new)
    with pytest.raises(ServiceDefinitionInvalid) as refused:
        definitions.service_deploy(actor=system_actor(), files=files)
    assert any(expected in message for message in refused.value.errors[file]), refused.value.errors
    assert set(refused.value.errors) == {file}  # no knock-on errors in other files
    assert not Service.objects.exists()
    assert not ServiceVersion.objects.exists()
    assert not DecisionModel.objects.exists()


def test_every_problem_is_reported_at_once(health, service_files):
    files = _broken(service_files, "form.json", '"type": "integer"', '"type": "integr"')
    files = _broken(files, "process.bpmn", 'type="notify"', 'type="nope"')
    with pytest.raises(ServiceDefinitionInvalid) as refused:
        definitions.service_deploy(actor=system_actor(), files=files)
    assert set(refused.value.errors) == {"form.json", "process.bpmn"}


def test_python_in_an_expression_is_refused_at_deploy(health, service_files):
    files = _broken(
        service_files, "process.bpmn", '=outcome = "review"', "=__import__('os').system('x')"
    )
    with pytest.raises(ServiceDefinitionInvalid) as refused:
        definitions.service_deploy(actor=system_actor(), files=files)
    assert "element 'f_review'" in refused.value.errors["process.bpmn"][0]


def test_only_analysts_and_agency_admins_of_the_agency_deploy(health, caseworker, service_files):
    with pytest.raises(PermissionDenied):
        definitions.service_deploy(actor=caseworker, files=service_files)
    assert not Service.objects.exists()


def test_activation_in_the_past_is_refused(health, service_files):
    with pytest.raises(ServiceDefinitionInvalid) as refused:
        definitions.service_deploy(
            actor=system_actor(),
            files=service_files,
            activate_at=timezone.now() - dt.timedelta(days=1),
        )
    assert "activate_at" in refused.value.errors


def test_the_command_deploys_a_directory(health):
    out = StringIO()
    call_command("deploy_service", str(TEST_SERVICE), "--agency", "health", stdout=out)
    assert "Deployed test-benefit version 1" in out.getvalue()
    assert ServiceVersion.objects.get().decisions["eligibility"]["decision"] == "Eligibility"


def test_the_command_lists_every_problem(health, tmp_path):
    for path in TEST_SERVICE.rglob("*"):
        if path.is_file():
            target = tmp_path / path.relative_to(TEST_SERVICE)
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(path.read_bytes())
    (tmp_path / "form.json").write_text(json.dumps({"type": "array"}))
    with pytest.raises(CommandError, match=r"form\.json: the form's top-level type"):
        call_command("deploy_service", str(tmp_path))
    assert not ServiceVersion.objects.exists()
