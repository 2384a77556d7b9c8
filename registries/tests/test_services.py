"""Registry definitions and records: validation, versions, persons, audit, all-or-nothing."""

import copy
import json

import pytest
from django.db import connection

from core.errors import PermissionDenied
from core.models import AuditEntry
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff, verified
from registries import selectors
from registries.errors import (
    AmbiguousQuery,
    FilterInvalid,
    RecordInvalid,
    RecordNotFound,
    RecordTooLarge,
    RegistryNameTaken,
    RegistryNotFound,
    SchemaInvalid,
)
from registries.models import RegistryFieldValue, RegistryRecord, RegistryRecordPerson
from registries.services import definitions, records
from registries.tests.conftest import VEHICLE_SCHEMA, person_with_national_id

pytestmark = pytest.mark.django_db


def _car(**fields):
    return {"plate": "AB12CDE", "make": "Toyota", "year": 2019, **fields}


def _create(steward, vehicles, **fields):
    return records.record_create(
        actor=steward, definition=vehicles, content=_car(**fields), purpose="test"
    )


# --- definitions ---------------------------------------------------------------------------


def test_definition_reads_declarations_from_the_schema_annotations(vehicles):
    # given the vehicle schema with x-searchable, x-person, x-personal and primaryKey
    # then the definition declares them, and the person reference counts as personal
    assert vehicles.version == 1
    assert vehicles.id_field == "plate"
    assert vehicles.searchable_fields == ["make", "colour", "year", "owner_national_id"]
    assert vehicles.person_fields == {"owner_national_id": "national_id"}
    assert set(vehicles.personal_fields) == {"owner_name", "owner_national_id"}


def test_a_changed_schema_is_a_new_version_and_the_same_one_is_not(admin, transport, vehicles):
    # when the same schema is saved again, then nothing new is made
    same, created = definitions.registry_definition_save(
        actor=admin, agency=transport, name="vehicles", title="Vehicles", schema=VEHICLE_SCHEMA
    )
    assert (same.pk, created) == (vehicles.pk, False)
    # when a field is added, then version 2 exists beside version 1
    schema = copy.deepcopy(VEHICLE_SCHEMA)
    schema["properties"]["fuel"] = {"type": "string"}
    newer, created = definitions.registry_definition_save(
        actor=admin, agency=transport, name="vehicles", title="Vehicles", schema=schema
    )
    assert created and newer.version == 2
    assert selectors.registry_definition_get(viewer=admin, name="vehicles", version="1.0").pk == (
        vehicles.pk
    )


@pytest.mark.parametrize(
    ("schema", "field", "needle"),
    [
        ({"type": "object", "properties": {"a": {"type": "strng"}}}, "schema", "strng"),
        ({"type": "array"}, "schema", "object"),
        ("not json", "schema", "object"),
        (
            {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {},
            },
            "schema",
            "2020-12",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string", "x-searchable": True}}},
            None,
            None,
        ),
        (
            {"type": "object", "properties": {"a": {"type": "object", "x-searchable": True}}},
            "searchable_fields",
            "text, numbers",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string", "primaryKey": True}}},
            "id_field",
            "required",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string", "x-person": "passport"}}},
            "person_fields",
            "national_id",
        ),
        ({"type": "object", "properties": {"uuid": {"type": "string"}}}, "schema", "reserved"),
    ],
)
def test_bad_definitions_are_refused_with_the_reason(admin, transport, schema, field, needle):
    # when an agency admin defines a registry with this schema
    if field is None:
        definition, _ = definitions.registry_definition_save(
            actor=admin, agency=transport, name="ok", schema=schema
        )
        assert definition.pk  # then a sound one is saved
        return
    with pytest.raises(SchemaInvalid) as caught:
        definitions.registry_definition_save(
            actor=admin, agency=transport, name="bad", schema=schema
        )
    # then it is refused, naming the part at fault, and nothing is saved
    assert needle in " ".join(caught.value.errors[field])
    assert not RegistryRecord.objects.exists()


def test_a_registry_name_belongs_to_one_agency(vehicles):
    revenue = AgencyFactory(code="revenue")
    other_admin = verified(staff(Role.AGENCY_ADMIN, revenue))
    with pytest.raises(RegistryNameTaken):
        definitions.registry_definition_save(
            actor=other_admin, agency=revenue, name="vehicles", schema=VEHICLE_SCHEMA
        )


def test_caseworkers_cannot_define_registries(transport):
    caseworker = verified(staff(Role.CASEWORKER, transport))
    with pytest.raises(PermissionDenied):
        definitions.registry_definition_save(
            actor=caseworker, agency=transport, name="x", schema=VEHICLE_SCHEMA
        )


# --- records -------------------------------------------------------------------------------


def test_create_resolves_the_owner_and_keeps_personal_fields_encrypted(steward, vehicles, owner):
    # when a vehicle is registered with its owner's national ID, written differently
    record = _create(steward, vehicles, owner_national_id="ab 123 456", owner_name="Maria Garcia")
    # then the owner is linked to the master person
    assert list(record.persons.values_list("person_id", flat=True)) == [owner.pk]
    # and neither the name nor the national ID is in clear in the database
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data, personal FROM registries_registryrecord WHERE id = %s", [record.pk]
        )
        stored = " ".join(str(v) for v in cursor.fetchone())
    assert "Maria" not in stored and "123 456" not in stored
    assert "Toyota" in stored
    # and the change is in the owner's audit trail, without the values
    entry = AuditEntry.objects.get(action="registry_record.create")
    assert entry.subject_person == owner.pk
    assert "Maria" not in json.dumps(entry.data)


def test_a_person_id_reference_must_exist(admin, transport, steward):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "director": {"type": "string"}},
    }
    definition, _ = definitions.registry_definition_save(
        actor=admin,
        agency=transport,
        name="firms",
        schema=schema,
        person_fields={"director": "person_id"},
    )
    with pytest.raises(RecordInvalid) as caught:
        records.record_create(
            actor=steward, definition=definition, content={"name": "X", "director": "PNOPE"}
        )
    assert "no person" in caught.value.errors["director"][0]
    assert not RegistryRecord.objects.exists()


@pytest.mark.parametrize(
    ("content", "path"),
    [
        ({"plate": "AB12CDE", "make": "Toyota"}, "year"),
        (_car(year="2019"), "year"),
        (_car(year=1800), "year"),
        (_car(registered="31/12/2020"), "registered"),
        (_car(wheels=4), "record"),
        ("a string", "record"),
    ],
)
def test_schema_violations_are_refused_and_nothing_is_written(steward, vehicles, content, path):
    # when a record breaking the schema is sent
    with pytest.raises(RecordInvalid) as caught:
        records.record_create(actor=steward, definition=vehicles, content=content)
    # then the error names the field, and no record, index row or audit entry is left
    assert path in caught.value.errors
    assert not RegistryRecord.objects.exists()
    assert not RegistryFieldValue.objects.exists()
    assert not AuditEntry.objects.filter(action__startswith="registry_record").exists()


def test_oversized_records_are_refused(steward, vehicles):
    with pytest.raises(RecordTooLarge) as caught:
        _create(steward, vehicles, owner_name="x" * 70_000)
    assert caught.value.status == 413
    assert not RegistryRecord.objects.exists()


def test_the_key_field_is_unique(steward, vehicles):
    _create(steward, vehicles)
    with pytest.raises(RecordInvalid) as caught:
        _create(steward, vehicles, make="Ford")
    assert "plate" in caught.value.errors
    assert RegistryRecord.objects.count() == 1


def test_update_merges_keeps_history_and_reindexes(steward, vehicles):
    # given a red Toyota
    record = _create(steward, vehicles, colour="Red")
    # when its colour changes
    records.record_update(
        actor=steward, definition=vehicles, query={"plate": "AB12CDE"}, write={"colour": "Blue"}
    )
    record.refresh_from_db()
    # then the new colour is found, the old one is not, and revision 1 is kept
    assert record.revision == 2
    assert record.data["colour"] == "Blue" and record.data["make"] == "Toyota"
    assert record.versions.get().data["colour"] == "Red"
    page = selectors.record_search(viewer=steward, definition=vehicles, filters={"colour": "red"})
    assert page.count == 0
    page = selectors.record_search(viewer=steward, definition=vehicles, filters={"colour": "BLUE"})
    assert page.count == 1


def test_update_to_an_invalid_record_changes_nothing(steward, vehicles):
    record = _create(steward, vehicles)
    with pytest.raises(RecordInvalid):
        records.record_update(
            actor=steward, definition=vehicles, query={"plate": "AB12CDE"}, write={"year": "old"}
        )
    record.refresh_from_db()
    assert record.revision == 1 and record.data["year"] == 2019


def test_update_entries_is_all_or_nothing(steward, vehicles):
    # given two Toyotas, one of which cannot take the change (year would be out of range)
    _create(steward, vehicles, plate="A1", year=2019)
    _create(steward, vehicles, plate="A2", year=2020)
    # when both get a colour and one a bad field... a write valid for both succeeds
    count = records.records_update_matching(
        actor=steward, definition=vehicles, query={"make": "toyota"}, write={"colour": "Green"}
    )
    assert count == 2
    # when a change makes them invalid, then neither changes and both are named
    with pytest.raises(RecordInvalid) as caught:
        records.records_update_matching(
            actor=steward, definition=vehicles, query={"make": "Toyota"}, write={"year": 1}
        )
    assert len(caught.value.errors) == 2
    assert set(RegistryRecord.objects.values_list("data__year", flat=True)) == {2019, 2020}


def test_update_of_one_record_refuses_an_ambiguous_query(steward, vehicles):
    _create(steward, vehicles, plate="A1")
    _create(steward, vehicles, plate="A2")
    with pytest.raises(AmbiguousQuery):
        records.record_update(
            actor=steward, definition=vehicles, query={"make": "Toyota"}, write={"colour": "x"}
        )


def test_update_or_create_creates_from_query_and_write(steward, vehicles):
    record, created = records.record_update_or_create(
        actor=steward,
        definition=vehicles,
        query={"plate": "NEW1"},
        write={"make": "Kia", "year": 2022},
    )
    assert created and record.key == "NEW1"
    again, created = records.record_update_or_create(
        actor=steward, definition=vehicles, query={"plate": "NEW1"}, write={"colour": "Red"}
    )
    assert not created and again.pk == record.pk and again.data["colour"] == "Red"


def test_delete_by_key_or_uuid(steward, vehicles):
    first = _create(steward, vehicles, plate="A1")
    _create(steward, vehicles, plate="A2")
    records.record_delete(actor=steward, definition=vehicles, reference="A2")
    records.record_delete(actor=steward, definition=vehicles, reference=str(first.uuid))
    assert not RegistryRecord.objects.exists()
    with pytest.raises(RecordNotFound):
        records.record_delete(actor=steward, definition=vehicles, reference="A1")


def test_staff_of_another_agency_cannot_write(vehicles):
    outsider = verified(staff(Role.DATA_STEWARD, AgencyFactory(code="revenue")))
    with pytest.raises(PermissionDenied):
        records.record_create(actor=outsider, definition=vehicles, content=_car())


# --- reads ---------------------------------------------------------------------------------


def test_search_filters_on_declared_fields_pages_and_audits_each_owner(steward, vehicles, owner):
    # given 12 Toyotas owned by the owner and 3 Fords
    for n in range(12):
        _create(steward, vehicles, plate=f"T{n:02d}", owner_national_id="AB123456")
    for n in range(3):
        _create(steward, vehicles, plate=f"F{n}", make="Ford")
    before = AuditEntry.objects.filter(action="registry_record.search").count()
    # when the second page of Toyotas is asked for
    page = selectors.record_search(
        viewer=steward,
        definition=vehicles,
        filters={"make": "TOYOTA"},
        page=2,
        page_size=5,
        purpose="fleet check",
    )
    # then 12 match, 5 come back, and each is audited with the owner as subject
    assert page.count == 12 and len(page.contents) == 5 and page.has_next
    assert [c["plate"] for c in page.contents] == ["T05", "T06", "T07", "T08", "T09"]
    reads = AuditEntry.objects.filter(action="registry_record.search")
    assert reads.count() - before == 5
    assert {r.subject_person for r in reads} == {owner.pk}
    assert {r.purpose for r in reads} == {"fleet check"}


def test_search_by_a_personal_field_uses_its_blind_index(steward, vehicles, owner):
    _create(steward, vehicles, plate="A1", owner_national_id="AB123456")
    _create(steward, vehicles, plate="A2")
    page = selectors.record_search(
        viewer=steward, definition=vehicles, filters={"owner_national_id": "ab123456"}
    )
    assert [c["plate"] for c in page.contents] == ["A1"]
    stored = set(RegistryFieldValue.objects.values_list("value", flat=True))
    assert "ab123456" not in stored


def test_typed_filters_and_text_search(steward, vehicles):
    _create(steward, vehicles, plate="A1", year=2019, colour="Dark Blue")
    _create(steward, vehicles, plate="A2", year=2020, colour="Red")
    by_year = selectors.record_search(viewer=steward, definition=vehicles, filters={"year": "2020"})
    assert [c["plate"] for c in by_year.contents] == ["A2"]
    found = selectors.record_search(
        viewer=steward, definition=vehicles, search="blue", search_field="colour"
    )
    assert [c["plate"] for c in found.contents] == ["A1"]


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"filters": {"owner_name": "x"}}, "query.owner_name"),
        ({"filters": {"nope": "x"}}, "query.nope"),
        ({"search_field": "registered", "search": "x"}, "filter"),
        ({"page": 0}, "page"),
        ({"page_size": 1000}, "pageSize"),
        ({"ordering": "sideways"}, "ordering"),
    ],
)
def test_malformed_filters_are_refused(steward, vehicles, kwargs, key):
    with pytest.raises(FilterInvalid) as caught:
        selectors.record_search(viewer=steward, definition=vehicles, **kwargs)
    assert key in caught.value.errors


def test_unknown_registry_or_version_is_not_found(steward, vehicles):
    for name, version in [("boats", "1"), ("vehicles", "9"), ("vehicles", "one")]:
        with pytest.raises(RegistryNotFound):
            selectors.registry_definition_get(viewer=steward, name=name, version=version)


def test_reads_of_a_registry_without_personal_data_are_not_audited(admin, transport, steward):
    schema = {"type": "object", "properties": {"name": {"type": "string", "x-searchable": True}}}
    schools, _ = definitions.registry_definition_save(
        actor=admin, agency=transport, name="schools", schema=schema
    )
    records.record_create(actor=steward, definition=schools, content={"name": "North"})
    selectors.record_read(viewer=steward, definition=schools, query={"name": "north"})
    assert not AuditEntry.objects.filter(action="registry_record.read").exists()


def test_read_value_is_audited_and_person_links_follow_merges(steward, vehicles):
    # given an owner who was merged into another person
    kept = person_with_national_id("YY111")
    old = person_with_national_id("ZZ999")
    old.merged_into = kept
    old.save()
    # when a vehicle names the merged person's national ID
    record = _create(steward, vehicles, owner_national_id="ZZ999")
    # then it is linked to the surviving person
    assert RegistryRecordPerson.objects.get(record=record).person_id == kept.pk
    # and reading one value is audited with that person as subject
    value = selectors.record_value(
        viewer=steward, definition=vehicles, reference="AB12CDE", field="owner_national_id"
    )
    assert value == "ZZ999"
    entry = AuditEntry.objects.filter(action="registry_record.read_value").get()
    assert entry.subject_person == kept.pk and entry.data["field"] == "owner_national_id"
