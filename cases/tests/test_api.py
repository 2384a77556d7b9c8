"""The cases API: wiring, authorisation, status codes and problem+json."""

import pytest
from django.test import Client

from cases.models import Case, WorkItem
from identity import services

pytestmark = pytest.mark.django_db

BASE = "/api/v1/cases"


def _client(user, scopes=("cases:read", "cases:write", "decisions:read")):
    user.civic_system = True  # stands in for the MFA session that mints the token
    _, raw = services.api_token_create(actor=user, name="t", scopes=list(scopes))
    user.civic_system = False
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _post(client, url, body):
    return client.post(url, body, content_type="application/json")


def test_citizen_applies_and_reads_the_outcome(service, citizen):
    client = _client(citizen)
    form = client.get(f"{BASE}/services/test-benefit/form")
    assert form.status_code == 200
    assert form.json()["form"]["properties"]["age"]["x-hint"] == "In whole years."
    answer = _post(
        client, f"{BASE}/services/test-benefit/cases", {"data": {"age": 40, "income": 5}}
    )
    assert answer.status_code == 201, answer.content
    assert answer.json()["status"] == "completed"
    reference = answer.json()["reference"]
    detail = client.get(f"{BASE}/cases/{reference}").json()
    assert detail["result"]["outcome"] == "approve"
    assert detail["decisions"][0]["explanation"].startswith('Eligibility is "approve"')
    assert [c["reference"] for c in client.get(f"{BASE}/cases").json()["items"]] == [reference]


def test_invalid_form_data_is_422_problem_json_by_field(service, citizen):
    answer = _post(_client(citizen), f"{BASE}/services/test-benefit/cases", {"data": {"age": -3}})
    assert answer.status_code == 422
    assert answer["Content-Type"].startswith("application/problem+json")
    body = answer.json()
    assert body["code"] == "case_data_invalid"
    assert set(body["errors"]) == {"age", "income"}
    assert not Case.objects.exists()


def test_another_citizens_case_is_not_found(service, citizen, other_citizen):
    answer = _post(
        _client(citizen), f"{BASE}/services/test-benefit/cases", {"data": {"age": 40, "income": 5}}
    )
    reference = answer.json()["reference"]
    assert _client(other_citizen).get(f"{BASE}/cases/{reference}").status_code == 404


def test_work_item_flow_and_status_codes(service, citizen, caseworker, analyst):
    _post(
        _client(citizen),
        f"{BASE}/services/test-benefit/cases",
        {"data": {"age": 40, "income": 25000}},
    )
    item = WorkItem.objects.get()
    worker = _client(caseworker)
    listed = worker.get(f"{BASE}/work-items", {"queue": "benefit-review", "sla_status": "on_time"})
    assert [i["id"] for i in listed.json()["items"]] == [item.pk]
    # a policy analyst may not work items: 403
    assert _post(_client(analyst), f"{BASE}/work-items/{item.pk}/claim", {}).status_code == 403
    # a citizen neither
    assert _post(_client(citizen), f"{BASE}/work-items/{item.pk}/claim", {}).status_code == 403
    assert _post(worker, f"{BASE}/work-items/{item.pk}/claim", {}).status_code == 200
    bad = _post(worker, f"{BASE}/work-items/{item.pk}/complete", {"data": {"decision": "?"}})
    assert bad.status_code == 422
    done = _post(worker, f"{BASE}/work-items/{item.pk}/complete", {"data": {"decision": "approve"}})
    assert done.status_code == 200
    assert done.json()["status"] == "completed"
    again = _post(worker, f"{BASE}/work-items/{item.pk}/complete", {"data": {"decision": "reject"}})
    assert again.status_code == 409
    assert again.json()["code"] == "work_item_conflict"


def test_deploy_errors_are_400_by_file_and_a_caseworker_cannot_deploy(
    health, analyst, caseworker, service_files
):
    url = f"{BASE}/agencies/health/services"
    assert _post(_client(caseworker), url, {"files": service_files}).status_code == 403
    broken = {
        **service_files,
        "process.bpmn": service_files["process.bpmn"].replace(
            'decisionId="eligibility"', 'decisionId="missing"'
        ),
    }
    answer = _post(_client(analyst), url, {"files": broken})
    assert answer.status_code == 400
    assert answer.json()["code"] == "service_definition_invalid"
    assert "element 'decide'" in answer.json()["errors"]["process.bpmn"][0]
    ok = _post(_client(analyst), url, {"files": service_files})
    assert ok.status_code == 201
    assert ok.json()["version"] == 1


def test_override_needs_a_reason(service, citizen, caseworker):
    reference = _post(
        _client(citizen), f"{BASE}/services/test-benefit/cases", {"data": {"age": 40, "income": 5}}
    ).json()["reference"]
    decision_id = Case.objects.get().decisions.get().pk
    url = f"{BASE}/cases/{reference}/decisions/{decision_id}/override"
    worker = _client(caseworker)
    assert _post(worker, url, {"outcome": "reject", "reason": " "}).status_code == 400
    assert _post(worker, url, {"outcome": "reject", "reason": "Forged payslip"}).status_code == 201
    assert _post(_client(citizen), url, {"outcome": "x", "reason": "mine"}).status_code == 403


def test_anonymous_requests_are_401(service):
    assert Client().get(f"{BASE}/cases").status_code == 401
