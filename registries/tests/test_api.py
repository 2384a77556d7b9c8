"""The GovStack Digital Registries API: every operation, the hyphenated aliases, IM header."""

import json

import pytest
from django.test import Client

from core.models import AuditEntry
from identity import services as identity_services
from identity.choices import Role
from identity.tests.factories import AgencyFactory, CitizenFactory, staff
from registries.models import RegistryDefinition, RegistryRecord
from registries.services import records
from registries.tests.conftest import VEHICLE_SCHEMA
from registry.models import SourceRecord

pytestmark = pytest.mark.django_db

BASE = "/api/govstack/registries"
DATA = f"{BASE}/data/vehicles/1.0"
IM = "eGovStack/GOV/90000009/vehicle-office"


def _token(user, scopes=("registries:write",)):
    user.civic_system = True  # stands in for the MFA session that mints the token
    _, raw = identity_services.api_token_create(actor=user, name="t", scopes=list(scopes))
    return raw


def _client(user, scopes=("registries:write",), im=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {_token(user, scopes)}"}
    if im is not None:
        headers["HTTP_INFORMATION_MEDIATOR_CLIENT"] = im
    return Client(**headers)


@pytest.fixture
def api(steward, transport, admin):
    admin.civic_system = True
    identity_services.system_client_register(
        actor=admin, agency=transport, identifier=IM, name="Vehicle office"
    )
    return _client(steward, im=IM)


def _post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def _put(client, url, body):
    return client.put(url, json.dumps(body), content_type="application/json")


def _car(**fields):
    return {"plate": "AB12CDE", "make": "Toyota", "year": 2019, **fields}


def test_create_then_read_exists_and_list(api, vehicles, owner):
    # when a vehicle is created through the API by a registered system
    created = _post(
        api, f"{DATA}/create", {"write": {"content": _car(owner_national_id="AB123456")}}
    )
    # then it answers the record with its uuid
    assert created.status_code == 200, created.content
    content = created.json()["content"]
    assert content["plate"] == "AB12CDE" and content["uuid"]
    # and read, exists and list find it
    read = _post(api, f"{DATA}/read", {"query": {"content": {"plate": "AB12CDE"}}})
    assert read.status_code == 200 and read.json()["content"]["uuid"] == content["uuid"]
    exists = _post(api, f"{DATA}/exists", {"query": {"content": {"make": "TOYOTA"}}})
    assert exists.json()["answer"]["status"] is True
    listed = api.get(DATA, {"query.make": "toyota", "pageSize": 5})
    assert listed.status_code == 200
    assert listed.json()["count"] == 1 and listed.json()["next"] is None
    # and the owner's trail names the calling system
    entry = AuditEntry.objects.filter(action="registry_record.read").get()
    assert entry.subject_person == owner.pk and entry.data["client"] == IM


def test_list_pages_with_next_and_previous_links(api, steward, vehicles):
    for n in range(3):
        records.record_create(actor=steward, definition=vehicles, content=_car(plate=f"P{n}"))
    body = api.get(
        DATA, {"search": "toy", "page": 2, "pageSize": 1, "ordering": "descending"}
    ).json()
    assert body["count"] == 3
    assert [r["plate"] for r in body["results"]] == ["P1"]
    assert "page=3" in body["next"] and "page=1" in body["previous"]


def test_read_of_a_missing_record_is_404_no_record_found(api, vehicles):
    response = _post(api, f"{DATA}/read", {"query": {"content": {"plate": "NOPE"}}})
    assert response.status_code == 404
    assert response.json()["detail"] == "no record found"


@pytest.mark.parametrize(("action", "hyphen"), [("updateEntries", "update-entries")])
def test_update_and_update_entries_on_both_spellings(api, steward, vehicles, action, hyphen):
    records.record_create(actor=steward, definition=vehicles, content=_car(plate="A1"))
    records.record_create(actor=steward, definition=vehicles, content=_car(plate="A2"))
    one = _put(
        api,
        f"{DATA}/update",
        {"query": {"content": {"plate": "A1"}}, "write": {"content": {"colour": "Red"}}},
    )
    assert one.status_code == 200, one.content
    assert one.json()["content"]["colour"] == "Red"
    for path in (action, hyphen):
        many = _put(
            api,
            f"{DATA}/{path}",
            {"query": {"content": {"make": "Toyota"}}, "write": {"content": {"colour": path}}},
        )
        assert many.status_code == 200, many.content
        assert many.json()["count"] == 2
        assert {r.data["colour"] for r in RegistryRecord.objects.all()} == {path}


@pytest.mark.parametrize("path", ["updateOrCreate", "update-or-create"])
def test_update_or_create_on_both_spellings(api, vehicles, path):
    body = {
        "query": {"content": {"plate": "NEW1"}},
        "write": {"content": {"make": "Kia", "year": 2022}},
    }
    first = _post(api, f"{DATA}/{path}", body)
    second = _post(api, f"{DATA}/{path}", body | {"write": {"content": {"colour": "Red"}}})
    assert first.status_code == second.status_code == 200, first.content
    assert first.json()["content"]["uuid"] == second.json()["content"]["uuid"]
    assert RegistryRecord.objects.get().data["colour"] == "Red"


@pytest.mark.parametrize("path", ["readValue", "read-value"])
def test_read_value_on_both_spellings(api, steward, vehicles, path):
    record = records.record_create(actor=steward, definition=vehicles, content=_car())
    as_json = api.get(f"{DATA}/{record.uuid}/{path}/make.json")
    assert as_json.status_code == 200, as_json.content
    assert as_json.json() == {"value": "Toyota"}
    as_text = api.get(f"{DATA}/AB12CDE/{path}/year.txt")
    assert as_text.content == b"2019"
    assert api.get(f"{DATA}/AB12CDE/{path}/year.xml").status_code == 400
    assert api.get(f"{DATA}/AB12CDE/{path}/wheels.json").status_code == 404


def test_delete_answers_204_then_404(api, steward, vehicles):
    record = records.record_create(actor=steward, definition=vehicles, content=_car())
    assert api.delete(f"{DATA}/{record.uuid}/delete").status_code == 204
    assert api.delete(f"{DATA}/{record.uuid}/delete").status_code == 404


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "code"),
    [
        ("post", f"{DATA}/create", {"write": {"content": {"plate": "X"}}}, 400, "record_invalid"),
        ("post", f"{DATA}/create", {"content": {}}, 400, "validation_failed"),
        (
            "post",
            f"{BASE}/data/boats/1/create",
            {"write": {"content": {}}},
            404,
            "registry_not_found",
        ),
        (
            "post",
            f"{BASE}/data/vehicles/7/create",
            {"write": {"content": {}}},
            404,
            "registry_not_found",
        ),
        ("get", f"{DATA}?query.owner_name=x", None, 400, "filter_invalid"),
        ("get", f"{DATA}?pageSize=500", None, 400, "filter_invalid"),
        ("get", f"{DATA}?page=abc", None, 400, "validation_failed"),
        (
            "post",
            f"{DATA}/create",
            {"write": {"content": _car(owner_name="x" * 70_000)}},
            413,
            "payload_too_large",
        ),
    ],
)
def test_bad_input_gets_a_problem_with_details(api, vehicles, method, url, body, status, code):
    response = getattr(api, method)(url) if body is None else _post(api, url, body)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert not RegistryRecord.objects.exists()


def test_unknown_system_client_is_403_and_malformed_is_400(steward, vehicles):
    unknown = _client(steward, im="eGovStack/GOV/1/unknown").get(DATA)
    assert unknown.status_code == 403
    assert unknown.json()["code"] == "unknown_system_client"
    malformed = _client(steward, im="just-a-name").get(DATA)
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "malformed_system_client"


def test_without_the_header_the_token_alone_works(steward, vehicles):
    assert _client(steward).get(DATA).status_code == 200


def test_read_scope_cannot_write_and_another_agency_cannot_read(steward, vehicles):
    read_only = _client(steward, scopes=("registries:read",))
    assert read_only.get(DATA).status_code == 200
    assert _post(read_only, f"{DATA}/create", {"write": {"content": _car()}}).status_code == 403
    outsider = staff(Role.DATA_STEWARD, AgencyFactory(code="revenue"))
    assert _client(outsider).get(DATA).status_code == 403


def test_citizen_sees_who_used_their_data(api, steward, vehicles, owner):
    # given a citizen whose account is linked to the owner
    citizen = CitizenFactory(national_id="AB123456")
    portal = AgencyFactory(code="citizen-portal")
    SourceRecord.objects.create(
        agency=portal, agency_record_id=f"user-{citizen.pk}", person=owner, national_id="AB123456"
    )
    created = _post(
        api, f"{DATA}/create", {"write": {"content": _car(owner_national_id="AB123456")}}
    )
    _post(api, f"{DATA}/read", {"query": {"content": {"plate": "AB12CDE"}}})
    client = _client(citizen, scopes=("profile:read",))
    # when the citizen asks, under either spelling
    for path in ("myPersonalDataUsage", "MyPersonalDataUsage"):
        response = client.get(
            f"{BASE}/data/{path}", {"userId": "ab 123456", "databaseId": "vehicles"}
        )
        assert response.status_code == 200, response.content
        usage = response.json()
        # then the read and the creation are listed, by whom, from which system
        assert [u["action"] for u in usage] == ["read", "create"]
        assert usage[0]["readerId"] == "tina"
        assert usage[0]["readerInstitutionName"] == "Transport"
        assert usage[0]["readerApplicationName"] == IM
        assert usage[0]["refrences"] == [{"ReferenceID": created.json()["content"]["uuid"]}]
    # and nobody else's usage can be asked for
    other = client.get(f"{BASE}/data/myPersonalDataUsage", {"userId": "ZZ000", "databaseId": ""})
    assert other.status_code == 403


def test_staff_cannot_use_the_citizen_usage_endpoint(api, vehicles):
    response = api.get(f"{BASE}/data/myPersonalDataUsage", {"userId": "AB123456"})
    assert response.status_code == 403


# --- database API --------------------------------------------------------------------------


def test_database_modify_creates_then_versions_a_registry(admin, transport):
    client = _client(admin)
    body = {
        "groupName": "transport",
        "catalogName": "Vehicles",
        "code": "vehicles",
        "schema": VEHICLE_SCHEMA,
    }
    first = _post(client, f"{BASE}/database/modify", body)
    assert first.status_code == 200, first.content
    assert first["X-Registry-Version"] == "1"
    again = _post(client, f"{BASE}/database/modify", body)
    assert again["X-Registry-Version"] == "1"
    schema = json.loads(json.dumps(VEHICLE_SCHEMA))
    schema["properties"]["fuel"] = {"type": "string"}
    newer = _post(client, f"{BASE}/database/modify", body | {"schema": schema})
    assert newer["X-Registry-Version"] == "2"
    assert RegistryDefinition.objects.filter(name="vehicles").count() == 2


def test_database_modify_refuses_a_bad_schema(admin, transport):
    body = {"code": "bad", "schema": {"type": "object", "properties": {"a": {"type": 5}}}}
    response = _post(_client(admin), f"{BASE}/database/modify", body)
    assert response.status_code == 400
    assert response.json()["code"] == "schema_invalid" and "schema" in response.json()["errors"]
    assert not RegistryDefinition.objects.exists()


def test_databases_get_and_delete(admin, transport, vehicles):
    client = _client(admin)
    listed = client.get(f"{BASE}/databases")
    assert listed.status_code == 200, listed.content
    group = listed.json()[0]
    assert group["code"] == "transport"
    info = group["databases"][0]
    assert info["name"] == "vehicles" and info["version"] == "1"
    assert {"name": "make", "path": "/make", "isFulltext": True} in info["schemaTags"]
    assert info["fieldsUniques"] == [["plate"]]
    one = client.get(f"{BASE}/database/{vehicles.pk}")
    assert one.status_code == 200 and one.json()["schema"]["type"] == "object"
    # a caseworker may not archive; the agency admin may, and the version stops answering
    caseworker = staff(Role.CASEWORKER, transport)
    assert _client(caseworker).delete(f"{BASE}/database/{vehicles.pk}").status_code == 403
    deleted = client.delete(f"{BASE}/database/{vehicles.pk}")
    assert deleted.status_code == 200 and deleted.json() == "Success"
    assert client.get(DATA).status_code == 404
    assert client.get(f"{BASE}/database/999999").status_code == 404
