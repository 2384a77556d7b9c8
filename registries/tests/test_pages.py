"""Staff pages: define a registry, import with bad rows kept, browse, search, edit."""

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from identity.choices import Role
from identity.tests.factories import staff
from registries.models import ImportRejectedRow, RegistryDefinition, RegistryRecord
from registries.services import records
from registries.tests.conftest import VEHICLE_SCHEMA
from registry.tests.factories_review import signed_in

pytestmark = pytest.mark.django_db


def _text(response):
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def admin_client(transport):
    return signed_in(Client(), staff(Role.AGENCY_ADMIN, transport, username="adm"))


@pytest.fixture
def steward_client(transport):
    return signed_in(Client(), staff(Role.DATA_STEWARD, transport, username="stw"))


def test_admin_defines_a_registry_and_it_is_served(admin_client, transport):
    # when an agency admin defines the vehicle registry on the page
    response = admin_client.post(
        "/registries/define/",
        {
            "agency": transport.pk,
            "name": "vehicles",
            "title": "Vehicles",
            "schema": json.dumps(VEHICLE_SCHEMA),
        },
    )
    # then it is version 1 and its page (and the API) answer
    assert response.status_code == 302, _text(response)
    assert response["Location"] == "/registries/vehicles/v1/"
    assert RegistryDefinition.objects.get().searchable_fields
    assert admin_client.get("/api/govstack/registries/data/vehicles/1").status_code == 200
    assert "Vehicles" in _text(admin_client.get("/registries/"))


def test_a_bad_schema_is_shown_beside_the_field(admin_client, transport):
    response = admin_client.post(
        "/registries/define/",
        {"agency": transport.pk, "name": "x", "title": "X", "schema": '{"type": "object",'},
    )
    assert response.status_code == 400
    assert "not valid JSON" in _text(response)
    response = admin_client.post(
        "/registries/define/",
        {
            "agency": transport.pk,
            "name": "x",
            "title": "X",
            "schema": json.dumps({"type": "object", "properties": {"a": {"type": "strng"}}}),
        },
    )
    assert response.status_code == 400
    assert "strng" in _text(response)
    assert not RegistryDefinition.objects.exists()


def test_import_keeps_bad_rows_with_their_errors(steward_client, vehicles):
    # given a CSV with two good vehicles and two bad rows
    csv_text = (
        "plate,make,year,colour\n"
        "AA1,Toyota,2019,Red\n"
        "AA2,Ford,not-a-year,Blue\n"
        "AA3,Kia,2020,Green\n"
        ",Fiat,2018,White\n"
    )
    upload = SimpleUploadedFile("cars.csv", csv_text.encode(), content_type="text/csv")
    # when the data steward imports it
    response = steward_client.post(
        "/registries/vehicles/v1/import/", {"file": upload, "format": "csv"}
    )
    assert response.status_code == 302, _text(response)
    # then the good rows load and the bad ones are kept with their errors, shown on the page
    assert set(RegistryRecord.objects.values_list("key", flat=True)) == {"AA1", "AA3"}
    rows = list(ImportRejectedRow.objects.order_by("row_number"))
    assert [r.row_number for r in rows] == [3, 5]
    page = _text(steward_client.get(response["Location"]))
    assert "Row 3" in page and "year" in page and "not-a-year" in page
    assert "Rejected rows" in page


def test_import_jsonl_updates_records_by_key(steward_client, steward, vehicles):
    records.record_create(
        actor=steward, definition=vehicles, content={"plate": "J1", "make": "Kia", "year": 2001}
    )
    lines = '{"plate": "J1", "make": "Kia", "year": 2002}\nnot json\n'
    upload = SimpleUploadedFile("cars.jsonl", lines.encode())
    response = steward_client.post(
        "/registries/vehicles/v1/import/", {"file": upload, "format": "jsonl"}
    )
    assert response.status_code == 302
    assert RegistryRecord.objects.get().data["year"] == 2002
    assert ImportRejectedRow.objects.get().errors[0]["message"].startswith("not valid JSON")


def test_browse_search_and_edit_with_errors_beside_fields(steward_client, steward, vehicles):
    for n, make in enumerate(["Toyota", "Ford", "Toyota"]):
        records.record_create(
            actor=steward,
            definition=vehicles,
            content={"plate": f"B{n}", "make": make, "year": 2010 + n},
        )
    # when the steward filters on make
    page = steward_client.get("/registries/vehicles/v1/", {"field": "make", "value": "toyota"})
    assert page.status_code == 200
    assert "2 records" in _text(page)
    # and a filter on a field that is not searchable says so
    bad = steward_client.get("/registries/vehicles/v1/", {"field": "owner_name", "value": "x"})
    assert bad.status_code == 400 and "not a searchable field" in _text(bad)
    # when a record is saved with a year out of range, the message is beside the field
    record = RegistryRecord.objects.get(key="B1")
    url = f"/registries/vehicles/v1/records/{record.uuid}/"
    assert "Ford" in _text(steward_client.get(url))
    response = steward_client.post(url, {"plate": "B1", "make": "Ford", "year": "1800"})
    assert response.status_code == 400
    assert re.search(
        r'id="id_year_error"[^<]*<span[^>]*>[^<]*</span>[^<]*1800', response.content.decode()
    )
    record.refresh_from_db()
    assert record.data["year"] == 2011
    # and a valid change is saved
    response = steward_client.post(url, {"plate": "B1", "make": "Ford", "year": "2015"})
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.data["year"] == 2015 and record.revision == 2


def test_caseworkers_cannot_define_and_other_agencies_cannot_browse(vehicles):
    from identity.tests.factories import AgencyFactory

    caseworker = signed_in(Client(), staff(Role.CASEWORKER, vehicles.agency, username="cw"))
    assert caseworker.get("/registries/define/").status_code == 403
    outsider = signed_in(
        Client(), staff(Role.DATA_STEWARD, AgencyFactory(code="revenue"), username="out")
    )
    assert outsider.get("/registries/vehicles/v1/").status_code == 403
