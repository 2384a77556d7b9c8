"""The decisions API: wiring, authorisation, status codes and problem+json."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from core.models import AuditEntry
from decisions import services as decision_services
from decisions.models import DecisionEvaluation, DecisionModelVersion
from decisions.tests.factories import DecisionModelFactory, benefit_xml
from identity import services
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff

pytestmark = pytest.mark.django_db

BASE = "/api/v1/decisions/agencies/health/models"
MODEL = BASE + "/benefit"


def _client(user, scopes=("decisions:read", "decisions:write")):
    user.civic_system = True  # stands in for the MFA session that mints the token
    _, raw = services.api_token_create(actor=user, name="t", scopes=list(scopes))
    user.civic_system = False
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def health():
    return AgencyFactory(code="health", name="Health")


@pytest.fixture
def analyst(health):
    return staff(Role.POLICY_ANALYST, health, username="ana")


@pytest.fixture
def as_analyst(analyst):
    return _client(analyst)


@pytest.fixture
def as_caseworker(health):
    return _client(staff(Role.CASEWORKER, health, username="cas"))


@pytest.fixture
def model(health):
    return DecisionModelFactory(agency=health, key="benefit")


def _upload(client, xml=None, **extra):
    body = {"dmn_xml": xml or benefit_xml(), **extra}
    return client.post(MODEL + "/versions", body, content_type="application/json")


def _schedule(client, version, when):
    return client.put(
        f"{MODEL}/versions/{version}/activation",
        {"activates_at": when},
        content_type="application/json",
    )


def _now_iso():
    return timezone.now().isoformat()


def test_analyst_creates_a_model_then_lists_it(as_analyst):
    body = {"key": "benefit", "name": "Benefit eligibility", "description": "Who gets it"}
    response = as_analyst.post(BASE, body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["key"] == "benefit" and response.json()["agency"] == "health"
    again = as_analyst.post(BASE, body, content_type="application/json")
    assert again.status_code == 409
    assert again.json()["code"] == "decision_model_exists"
    listed = as_analyst.get(BASE)
    assert listed.status_code == 200
    assert [m["key"] for m in listed.json()["items"]] == ["benefit"]


def test_upload_schedule_evaluate_and_simulate(model, as_analyst, as_caseworker):
    # given an analyst uploads v1 and activates it now
    uploaded = _upload(as_analyst, notes="first")
    assert uploaded.status_code == 201, uploaded.content
    assert uploaded.json()["version"] == 1 and uploaded.json()["state"] == "draft"
    scheduled = _schedule(as_analyst, 1, _now_iso())
    assert scheduled.status_code == 200, scheduled.content
    assert scheduled.json()["state"] == "active"
    # when a caseworker evaluates the payment for a 19-year-old
    evaluated = as_caseworker.post(
        MODEL + "/evaluate",
        {
            "decision": "Monthly payment",
            "inputs": {"Age": 19, "Income": {"@type": "decimal", "value": "1500.00"}},
            "purpose": "benefit claim",
            "subject_person": "P-1",
        },
        content_type="application/json",
    )
    # then the exact result, the explanations and the version used come back
    assert evaluated.status_code == 200, evaluated.content
    body = evaluated.json()
    assert body["result"] == {"@type": "decimal", "value": "120.50"}
    assert body["version"] == 1 and body["decision"] == "Monthly payment"
    assert "Age is 19, which matches at least 18" in body["explanation"]
    assert any(row["selected"] and row["rule"] == 2 for row in body["explanation_rows"])
    recorded = DecisionEvaluation.objects.get(pk=body["evaluation_id"])
    assert recorded.inputs == {"Age": 19, "Income": {"@type": "decimal", "value": "1500.00"}}
    # and a candidate with a threshold of 21 changes that outcome
    assert _upload(as_analyst, benefit_xml(threshold=21)).status_code == 201
    simulated = as_analyst.post(MODEL + "/versions/2/simulate", {}, content_type="application/json")
    assert simulated.status_code == 200, simulated.content
    report = simulated.json()
    assert (report["total"], report["changed"], report["unchanged"]) == (1, 1, 0)
    assert report["changes"][0]["evaluation_id"] == body["evaluation_id"]
    assert report["changes"][0]["candidate"] == 0
    # and the versions list shows v1 active and v2 a draft
    versions = as_analyst.get(MODEL + "/versions").json()["items"]
    assert [(v["version"], v["state"]) for v in versions] == [(2, "draft"), (1, "active")]
    detail = as_analyst.get(MODEL + "/versions/1")
    assert detail.status_code == 200 and detail.json()["dmn_xml"] == benefit_xml()


def test_bad_upload_is_problem_json_naming_element_and_line(model, as_analyst):
    xml = benefit_xml().replace("then 120.50 else", "then 120.50 +* else")
    response = _upload(as_analyst, xml)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "dmn_model_invalid"
    assert (problem["element_id"], problem["line"]) == ("le_payment", 30)
    assert "FEEL syntax error" in problem["detail"]
    assert not DecisionModelVersion.objects.exists()


def test_oversized_upload_is_413(model, as_analyst):
    padding = "<!--" + "x" * decision_services.MAX_DMN_BYTES + "-->"
    response = _upload(as_analyst, benefit_xml() + padding)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert not DecisionModelVersion.objects.exists()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", BASE, {"key": "x", "name": "X"}),
        ("post", MODEL + "/versions", {"dmn_xml": "<x/>"}),
        ("put", MODEL + "/versions/1/activation", {"activates_at": None}),
        ("post", MODEL + "/versions/1/simulate", {}),
    ],
)
def test_a_caseworker_may_not_manage_or_simulate(model, as_caseworker, method, path, body):
    response = getattr(as_caseworker, method)(path, body, content_type="application/json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_another_agencys_analyst_cannot_see_the_models(model, as_analyst):
    outsider = _client(staff(Role.POLICY_ANALYST, AgencyFactory(code="revenue")))
    assert _upload(as_analyst).status_code == 201
    assert outsider.get(BASE).status_code == 403
    assert outsider.get(MODEL + "/versions").status_code == 403
    assert outsider.get(MODEL + "/versions/1").status_code == 403
    assert _upload(outsider).status_code == 403


def test_token_without_write_scope_cannot_evaluate(model, health):
    reader = _client(staff(Role.CASEWORKER, health), scopes=("decisions:read",))
    response = reader.post(
        MODEL + "/evaluate",
        {"decision": "Benefit eligibility", "inputs": {}, "purpose": "claim"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert "scope" in response.json()["detail"]


def test_schedule_in_the_past_is_refused(model, as_analyst):
    _upload(as_analyst)
    past = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    response = _schedule(as_analyst, 1, past)
    assert response.status_code == 400
    assert response.json()["code"] == "activation_in_past"


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"decision": "Pension", "inputs": {}}, 400, "decision_unknown"),
        (
            {"decision": "Benefit eligibility", "inputs": {"Age": {"@type": "date", "value": "x"}}},
            400,
            "decision_inputs_invalid",
        ),
        ({"decision": "Benefit eligibility", "inputs": {}, "at": "2000-01-01T00:00Z"}, 409, None),
    ],
)
def test_evaluation_problems(model, as_analyst, as_caseworker, payload, status, code):
    _upload(as_analyst)
    _schedule(as_analyst, 1, _now_iso())
    response = as_caseworker.post(
        MODEL + "/evaluate", {"purpose": "claim", **payload}, content_type="application/json"
    )
    assert response.status_code == status, response.content
    assert response.json()["code"] == (code or "decision_model_not_active")
    assert not DecisionEvaluation.objects.exists()


def test_evaluation_history_is_paged_and_audited(model, as_analyst, as_caseworker):
    _upload(as_analyst)
    _schedule(as_analyst, 1, _now_iso())
    for age in (17, 30):
        as_caseworker.post(
            MODEL + "/evaluate",
            {
                "decision": "Benefit eligibility",
                "inputs": {"Age": age, "Income": 5},
                "purpose": "claim",
                "subject_person": f"P-{age}",
            },
            content_type="application/json",
        )
    response = as_analyst.get(MODEL + "/evaluations", {"purpose": "review", "limit": 1})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2 and len(body["items"]) == 1
    assert body["items"][0]["subject_person"] == "P-30"
    assert body["items"][0]["outputs"] == "eligible"
    reads = AuditEntry.objects.filter(action="decision_evaluation.read")
    assert [r.subject_person for r in reads] == ["P-30"]
    assert as_analyst.get(MODEL + "/evaluations").status_code == 400  # purpose required


def test_unknown_model_and_version_answer_not_found(model, as_analyst):
    assert as_analyst.get(BASE + "/nothing/versions").status_code == 404
    response = as_analyst.get(MODEL + "/versions/9")
    assert response.status_code == 404
    assert response.json()["code"] == "decision_version_not_found"
