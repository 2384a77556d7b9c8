"""The feeds API: batches of records, progress, rejected rows, corrections, mappings."""

import json

import pytest

from core.models import AuditEntry
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff
from registry.models import FeedMapping, RejectedRow, SourceRecord
from registry.tests.feeds_helpers import revenue_agency, revenue_row, token_client

pytestmark = pytest.mark.django_db

BATCH = "/api/v1/registry/agencies/revenue/records:batch"
MAPPING = "/api/v1/registry/agencies/revenue/feed-mapping"


@pytest.fixture
def revenue():
    return revenue_agency()


@pytest.fixture
def steward(revenue):
    return staff(Role.DATA_STEWARD, revenue, username="stew")


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_batch_loads_and_returns_rejected_rows_with_reasons(revenue, steward):
    # given two good records and one with an impossible date
    records = [revenue_row("RV1"), revenue_row("RV2"), revenue_row("RV3", DOB="31/02/1980")]
    # when posted as a batch
    response = _post(token_client(steward), BATCH, {"records": records})
    # then 201 with the counts and the rejected row (number, field, message)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["created"], body["rejected"], body["status"], body["progress"]) == (
        2,
        1,
        "done",
        100,
    )
    assert body["rejected_rows"] == [
        {
            "id": RejectedRow.objects.get().pk,
            "row_number": 3,
            "agency_record_id": "RV3",
            "status": "open",
            "errors": [
                {"field": "date_of_birth", "message": "column DOB: 31/02/1980 is not a real date"}
            ],
        }
    ]
    assert SourceRecord.objects.filter(agency=revenue).count() == 2


def test_over_ten_thousand_records_is_413_problem(revenue, steward):
    response = _post(token_client(steward), BATCH, {"records": [{}] * 10_001})
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "batch_too_large"
    assert "at most 10,000 records" in problem["detail"]
    assert not SourceRecord.objects.exists()


def test_body_that_is_not_a_records_list_is_400(revenue, steward):
    client = token_client(steward)
    assert _post(client, BATCH, [revenue_row()]).status_code == 400
    response = client.post(BATCH, "{oops", content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


def test_batch_progress_and_rejected_rows_can_be_read_back(revenue, steward):
    client = token_client(steward)
    created = _post(client, BATCH, {"records": [revenue_row("RV1", GENDER="Q")]}).json()
    batch = client.get(f"/api/v1/registry/batches/{created['id']}")
    assert batch.status_code == 200
    assert (batch.json()["processed_rows"], batch.json()["rejected"]) == (1, 1)
    rows = client.get(f"/api/v1/registry/batches/{created['id']}/rejected-rows")
    assert rows.status_code == 200
    assert rows.json()[0]["errors"][0]["field"] == "sex"
    assert AuditEntry.objects.filter(action="registry.rejected_rows.read").count() == 1


def test_correction_loads_the_row(revenue, steward):
    client = token_client(steward)
    _post(client, BATCH, {"records": [revenue_row("RV1", TEL_NO="12")]})
    row = RejectedRow.objects.get()
    # when corrected with a still-wrong number, then 400 naming the field; the row stays open
    still_bad = _post(
        client,
        f"/api/v1/registry/rejected-rows/{row.pk}/correction",
        {"values": revenue_row("RV1", TEL_NO="9")},
    )
    assert still_bad.status_code == 400
    assert "phone" in still_bad.json()["errors"]
    # when corrected properly, then 201, the record exists and the row is resolved
    fixed = _post(
        client,
        f"/api/v1/registry/rejected-rows/{row.pk}/correction",
        {"values": revenue_row("RV1")},
    )
    assert fixed.status_code == 201, fixed.content
    assert fixed.json()["row"]["status"] == "resolved"
    assert fixed.json()["batch"]["channel"] == "correction"
    assert SourceRecord.objects.get().std_phone == "+447700900123"
    # and sending it again is a conflict
    again = _post(
        client,
        f"/api/v1/registry/rejected-rows/{row.pk}/correction",
        {"values": revenue_row("RV1")},
    )
    assert again.status_code == 409


def test_mapping_get_and_put_yaml_and_json(revenue, steward):
    client = token_client(steward)
    shipped = client.get(MAPPING)
    assert shipped.status_code == 200
    assert (shipped.json()["version"], shipped.json()["spec"]["record_id"]) == (
        None,
        "TAXPAYER_REF",
    )
    yaml_text = "record_id: REF\nfields:\n  family_name: NAME\n"
    put = client.put(MAPPING, yaml_text, content_type="application/yaml")
    assert put.status_code == 200, put.content
    assert (put.json()["version"], put.json()["source_text"]) == (1, yaml_text)
    put = client.put(
        MAPPING,
        json.dumps({"record_id": "ID", "fields": {"given_name": "G"}}),
        content_type="application/json",
    )
    assert put.json()["version"] == 2
    assert FeedMapping.objects.get(active=True).spec["record_id"] == "ID"


def test_invalid_mapping_is_422_naming_the_key(revenue, steward):
    body = {
        "record_id": "ID",
        "fields": {"family_name": "N", "sex": {"column": "S", "values": {"W": "W"}}},
    }
    response = token_client(steward).put(MAPPING, json.dumps(body), content_type="application/json")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert "fields.sex.values.W" in response.json()["errors"]
    assert not FeedMapping.objects.exists()


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.POLICY_ANALYST])
def test_roles_other_than_steward_cannot_post_batches(revenue, role):
    user = staff(role, revenue)
    response = _post(token_client(user), BATCH, {"records": [revenue_row("RV1")]})
    assert response.status_code == 403
    assert not SourceRecord.objects.exists()


def test_another_agencys_steward_is_refused(revenue):
    health_steward = staff(Role.DATA_STEWARD, AgencyFactory(code="health"))
    client = token_client(health_steward)
    assert _post(client, BATCH, {"records": [revenue_row("RV1")]}).status_code == 403
    own = staff(Role.DATA_STEWARD, revenue)
    batch_id = _post(token_client(own), BATCH, {"records": [revenue_row("RV1")]}).json()["id"]
    assert client.get(f"/api/v1/registry/batches/{batch_id}").status_code == 404
    assert (
        client.put(
            MAPPING, "record_id: X\nfields: {family_name: N}\n", content_type="application/yaml"
        ).status_code
        == 403
    )


def test_read_only_token_cannot_load(revenue, steward):
    response = _post(token_client(steward, scopes=("registry:read",)), BATCH, {"records": []})
    assert response.status_code == 403
