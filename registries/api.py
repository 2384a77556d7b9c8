"""The GovStack Digital Registries data and database APIs (mounted by registries.govstack).

Both the specification's camelCase action paths (``updateEntries``, ``updateOrCreate``,
``readValue``, ``myPersonalDataUsage``) and the hyphenated ones of earlier published
clients answer; the aliases are left out of the OpenAPI document. Calling systems name
themselves in ``Information-Mediator-Client`` (see identity.govstack); the name goes with
every audited access.
"""

import json
from typing import Any
from urllib.parse import urlencode

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from core.errors import ValidationFailed
from identity import policy
from identity import selectors as identity_selectors
from identity.models import Agency, User
from registries import selectors
from registries.models import RegistryDefinition, RegistryRecord
from registries.schemas import (
    ContentOut,
    DatabaseInfoOut,
    DatabaseModifyIn,
    DatabasesOut,
    ExistsOut,
    ListOut,
    PersonalDataUsageOut,
    QueryIn,
    QueryWriteIn,
    UpdatedOut,
    ValueOut,
    WriteIn,
)
from registries.services import definitions as definition_services
from registries.services import records as record_services

data_router = Router(tags=["Registry data query API"])
database_router = Router(tags=["Database API"])

BASE = "/data/{registryName}/{versionNumber}"
QUERY_PREFIX = "query."
OPERATIONS = [
    "list",
    "create",
    "exists",
    "read",
    "update",
    "updateEntries",
    "updateOrCreate",
    "delete",
    "readValue",
]


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _client(request: HttpRequest) -> str:
    client = getattr(request, "im_client", None)
    return client.identifier if client is not None else ""


def _purpose(operation: str) -> str:
    return f"GovStack Digital Registries API: {operation}"


def _definition(request: HttpRequest, name: str, version: str, action: str) -> RegistryDefinition:
    return selectors.registry_definition_get(
        viewer=_user(request), name=name, version=version, action=action
    )


def _context(request: HttpRequest, operation: str) -> dict[str, Any]:
    return {"purpose": _purpose(operation), "client": _client(request)}


# --- data API --------------------------------------------------------------------------------


def _page_url(request: HttpRequest, page: int) -> str:
    params = request.GET.copy()
    params["page"] = str(page)
    return request.build_absolute_uri(
        f"{request.path}?{urlencode(list(params.lists()), doseq=True)}"
    )


@data_router.get(
    BASE,
    response=ListOut,
    operation_id="list",
    summary="list",
    description="Records matching `query.<field>=value` filters (exact, on searchable fields) "
    "and `search` (text contained in a searchable field, or in the field named by `filter`); "
    "`ordering` ascending or descending; `page` and `pageSize` (at most 100).",
)
@policy.requires("registry_record.view")
def data_list(
    request: HttpRequest,
    registryName: str,
    versionNumber: str,
    search: str = "",
    filter: str = "",
    ordering: str = "",
    page: int = 1,
    pageSize: int = 10,
) -> dict[str, Any]:
    definition = _definition(request, registryName, versionNumber, "registry_record.view")
    filters: dict[str, str] = {}
    for key, values in request.GET.lists():
        if key.startswith(QUERY_PREFIX):
            if len(values) != 1:
                raise ValidationFailed(errors={key: ["give one value"]})
            filters[key[len(QUERY_PREFIX) :]] = values[0]
    result = selectors.record_search(
        viewer=_user(request),
        definition=definition,
        filters=filters,
        search=search,
        search_field=filter,
        ordering=ordering,
        page=page,
        page_size=pageSize,
        **_context(request, "list"),
    )
    return {
        "count": result.count,
        "next": _page_url(request, page + 1) if result.has_next else None,
        "previous": _page_url(request, page - 1) if page > 1 else None,
        "results": result.contents,
    }


@data_router.post(f"{BASE}/create", response=ContentOut, operation_id="create", summary="create")
@policy.requires("registry_record.manage")
def data_create(
    request: HttpRequest,
    registryName: str,
    versionNumber: str,
    body: WriteIn,
) -> dict[str, Any]:
    definition = _definition(request, registryName, versionNumber, "registry_record.manage")
    record = record_services.record_create(
        actor=_user(request),
        definition=definition,
        content=body.write.content,
        **_context(request, "create"),
    )
    return {"content": _content(record)}


def _content(record: RegistryRecord) -> dict[str, Any]:
    from registries.access import record_content

    return record_content(record)


@data_router.post(f"{BASE}/exists", response=ExistsOut, operation_id="exists", summary="exists")
@policy.requires("registry_record.view")
def data_exists(
    request: HttpRequest,
    registryName: str,
    versionNumber: str,
    body: QueryIn,
) -> dict[str, Any]:
    definition = _definition(request, registryName, versionNumber, "registry_record.view")
    found = selectors.record_exists(
        viewer=_user(request),
        definition=definition,
        query=body.query.content,
        **_context(request, "exists"),
    )
    message = "Object found from database" if found else "Object not found from database"
    return {"answer": {"status": found, "message": message}}


@data_router.post(f"{BASE}/read", response=ContentOut, operation_id="read", summary="read")
@policy.requires("registry_record.view")
def data_read(
    request: HttpRequest,
    registryName: str,
    versionNumber: str,
    body: QueryIn,
) -> dict[str, Any]:
    definition = _definition(request, registryName, versionNumber, "registry_record.view")
    _, content = selectors.record_read(
        viewer=_user(request),
        definition=definition,
        query=body.query.content,
        **_context(request, "read"),
    )
    return {"content": content}


@data_router.put(f"{BASE}/update", response=ContentOut, operation_id="update", summary="update")
@policy.requires("registry_record.manage")
def data_update(
    request: HttpRequest,
    registryName: str,
    versionNumber: str,
    body: QueryWriteIn,
) -> dict[str, Any]:
    definition = _definition(request, registryName, versionNumber, "registry_record.manage")
    if body.query is None:
        raise ValidationFailed(errors={"query": ["name the record to update"]})
    record = record_services.record_update(
        actor=_user(request),
        definition=definition,
        query=body.query.content,
        write=body.write.content,
        **_context(request, "update"),
    )
    return {"content": _content(record)}


@data_router.put(
    f"{BASE}/updateEntries",
    response=UpdatedOut,
    operation_id="updateEntries",
    summary="updateEntries",
)
@data_router.put(
    f"{BASE}/update-entries",
    response=UpdatedOut,
    operation_id="updateEntriesHyphenated",
    include_in_schema=False,
)
@policy.requires("registry_record.manage")
def data_update_entries(
    request: HttpRequest,
    registryName: str,
    versionNumber: str,
    body: QueryWriteIn,
) -> dict[str, Any]:
    definition = _definition(request, registryName, versionNumber, "registry_record.manage")
    if body.query is None:
        raise ValidationFailed(errors={"query": ["name the records to update"]})
    count = record_services.records_update_matching(
        actor=_user(request),
        definition=definition,
        query=body.query.content,
        write=body.write.content,
        **_context(request, "updateEntries"),
    )
    return {"count": count}


@data_router.post(
    f"{BASE}/updateOrCreate",
    response=ContentOut,
    operation_id="updateOrCreate",
    summary="updateOrCreate",
)
@data_router.post(
    f"{BASE}/update-or-create",
    response=ContentOut,
    operation_id="updateOrCreateHyphenated",
    include_in_schema=False,
)
@policy.requires("registry_record.manage")
def data_update_or_create(
    request: HttpRequest,
    registryName: str,
    versionNumber: str,
    body: QueryWriteIn,
) -> dict[str, Any]:
    definition = _definition(request, registryName, versionNumber, "registry_record.manage")
    record, _ = record_services.record_update_or_create(
        actor=_user(request),
        definition=definition,
        query=body.query.content if body.query else None,
        write=body.write.content,
        **_context(request, "updateOrCreate"),
    )
    return {"content": _content(record)}


@data_router.delete(
    f"{BASE}/{{ID}}/delete", response={204: None}, operation_id="delete", summary="delete"
)
@policy.requires("registry_record.manage")
def data_delete(
    request: HttpRequest,
    registryName: str,
    versionNumber: str,
    ID: str,
) -> Status:
    definition = _definition(request, registryName, versionNumber, "registry_record.manage")
    record_services.record_delete(
        actor=_user(request), definition=definition, reference=ID, **_context(request, "delete")
    )
    return Status(204, None)


@data_router.get(
    f"{BASE}/{{uuid}}/readValue/{{field}}.{{ext}}",
    response=ValueOut,
    operation_id="readValue",
    summary="readValue",
    description='One field of one record: `.json` answers {"value": ...}, `.txt` the text.',
)
@data_router.get(
    f"{BASE}/{{uuid}}/read-value/{{field}}.{{ext}}",
    response=ValueOut,
    operation_id="readValueHyphenated",
    include_in_schema=False,
)
@policy.requires("registry_record.view")
def data_read_value(
    request: HttpRequest,
    registryName: str,
    versionNumber: str,
    uuid: str,
    field: str,
    ext: str,
) -> Any:
    if ext.lower() not in ("json", "txt"):
        raise ValidationFailed(errors={"ext": ["json or txt"]})
    definition = _definition(request, registryName, versionNumber, "registry_record.view")
    value = selectors.record_value(
        viewer=_user(request),
        definition=definition,
        reference=uuid,
        field=field,
        **_context(request, "readValue"),
    )
    if ext.lower() == "txt":
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return HttpResponse(text, content_type="text/plain; charset=utf-8")
    return {"value": value}


def _usage(entry: Any) -> dict[str, Any]:
    data = entry.data or {}
    label = entry.actor or ""
    return {
        "id": str(entry.seq),
        "readerId": label,
        "readerInitials": "".join(part[:1].upper() for part in label.replace(".", " ").split())[:3],
        "readerInstitutionId": entry.agency or "",
        "readerInstitutionName": _agency_name(entry.agency),
        "readerApplicationName": data.get("client", ""),
        "searchDateTime": entry.created_at.isoformat(),
        "action": entry.action.rsplit(".", 1)[-1],
        "refrences": [{"ReferenceID": data["record"]}] if data.get("record") else [],
    }


def _agency_name(code: str | None) -> str:
    if not code:
        return ""
    agency = Agency.objects.filter(code=code).first()
    return agency.name if agency else code


@data_router.get(
    "/data/myPersonalDataUsage",
    response=list[PersonalDataUsageOut],
    operation_id="DPU",
    summary="myPersonalDataUsage",
    tags=["MyPersonalDataUsage API"],
    description="Who read or changed the signed-in citizen's data in the registries. "
    "`userId` is the citizen's own national ID or person id; `databaseId` a registry name "
    "(empty for all).",
)
@data_router.get(
    "/data/MyPersonalDataUsage",
    response=list[PersonalDataUsageOut],
    operation_id="DPUHyphenated",
    include_in_schema=False,
)
@policy.requires("personal_data_usage.view_own")
def data_personal_usage(
    request: HttpRequest,
    userId: str,
    databaseId: str = "",
) -> list[dict[str, Any]]:
    entries = selectors.personal_data_usage(
        viewer=_user(request), user_id=userId, database=databaseId
    )
    return [_usage(e) for e in entries]


# --- database (schema) API ---------------------------------------------------------------------


def _database_info(definition: RegistryDefinition, records: int) -> dict[str, Any]:
    schema = definition.schema
    required = schema.get("required") or []
    flags = [{"name": "mandatory", "path": f"/{f}"} for f in required]
    flags += [{"name": "personal", "path": f"/{f}"} for f in definition.personal_fields]
    flags += [
        {"name": f"person:{kind}", "path": f"/{f}"} for f, kind in definition.person_fields.items()
    ]
    if definition.id_field:
        flags.append({"name": "primaryKey", "path": f"/{definition.id_field}"})
    return {
        "id": definition.pk,
        "version": str(definition.version),
        "name": definition.name,
        "description": definition.description or definition.title,
        "institution": definition.agency.name,
        "numberFormat": "",
        "schema": schema,
        "schemaTags": [
            {"name": f, "path": f"/{f}", "isFulltext": True} for f in definition.searchable_fields
        ],
        "schemaFlags": flags,
        "fieldsUniques": [[definition.id_field]] if definition.id_field else [],
        "isDraft": False,
        "isDisabled": not definition.active,
        "isArchived": not definition.active,
        "modifiedAt": definition.updated_at.isoformat(),
        "byUserName": definition.created_by.username if definition.created_by else "",
        "byUserAuthId": definition.created_by_id,
        "genericServices": [
            {"serviceId": n, "name": name, "isVisible": True, "usedCount": 0}
            for n, name in enumerate(OPERATIONS, start=1)
        ],
        "dataIndexIncrement": records,
        "hasLogo": False,
    }


def _record_counts(definitions: list[RegistryDefinition]) -> dict[int, int]:
    rows = (
        RegistryRecord.objects.filter(definition__in=definitions)
        .values("definition_id")
        .annotate(n=Count("pk"))
    )
    return {row["definition_id"]: row["n"] for row in rows}


@database_router.get(
    "/databases",
    response=list[DatabasesOut],
    by_alias=True,
    operation_id="databases",
    summary="All registries (databases) and their schema versions, by agency",
    tags=["Databases"],
)
@policy.requires("registry_definition.view")
def databases(request: HttpRequest) -> list[dict[str, Any]]:
    definitions = list(selectors.registry_definition_list(viewer=_user(request)))
    counts = _record_counts(definitions)
    groups: dict[int, dict[str, Any]] = {}
    for definition in definitions:
        agency = definition.agency
        group = groups.setdefault(
            agency.pk,
            {
                "id": agency.pk,
                "name": agency.name,
                "code": agency.code,
                "databases": [],
                "groupId": agency.pk,
                "order": len(groups) + 1,
                "dataIndexIncrement": 0,
            },
        )
        n = counts.get(definition.pk, 0)
        group["databases"].append(_database_info(definition, n))
        group["dataIndexIncrement"] += n
    return list(groups.values())


@database_router.post(
    "/database/modify",
    response=dict[str, Any],
    operation_id="database_modify",
    summary="Create a registry, or a new version of it when the schema changes",
    description="`code` is the registry's name; `groupName` the owning agency's code "
    "(default: the caller's agency); `schema` a JSON Schema 2020-12 whose properties may "
    "carry `x-searchable`, `x-personal`, `x-person` (national_id or person_id) and "
    "`primaryKey`. The answer is the schema saved, with `id` and `version` headers.",
)
@policy.requires("registry_definition.manage")
def database_modify(request: HttpRequest, body: DatabaseModifyIn, response: HttpResponse) -> Any:
    user = _user(request)
    code = body.groupName.strip()
    if code:
        agency = identity_selectors.agency_get(code=code)
    elif user.agency_id is not None:
        agency = user.agency  # type: ignore[assignment]
    else:
        raise ValidationFailed(errors={"groupName": ["name the agency that owns the registry"]})
    definition, _ = definition_services.registry_definition_save(
        actor=user,
        agency=agency,
        name=body.code,
        schema=body.schema_,
        title=body.catalogName,
        description=body.description,
    )
    response["X-Registry-Id"] = str(definition.pk)
    response["X-Registry-Version"] = str(definition.version)
    return definition.schema


@database_router.get(
    "/database/{id}",
    response=DatabaseInfoOut,
    by_alias=True,
    operation_id="database_get",
    summary="One registry version (database) with its schema",
)
@policy.requires("registry_definition.view")
def database_get(request: HttpRequest, id: int) -> dict[str, Any]:
    definition = selectors.registry_definition_by_id(viewer=_user(request), definition_id=id)
    return _database_info(definition, _record_counts([definition]).get(definition.pk, 0))


@database_router.delete(
    "/database/{id}",
    response=str,
    operation_id="database_delete",
    summary="Archive a registry version: no longer served; its records are kept",
)
@policy.requires("registry_definition.manage")
def database_delete(request: HttpRequest, id: int) -> str:
    definition = selectors.registry_definition_by_id(viewer=_user(request), definition_id=id)
    definition_services.registry_definition_archive(actor=_user(request), definition=definition)
    return "Success"
