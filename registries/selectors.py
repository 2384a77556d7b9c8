"""Reads of the registries. Each authorises the viewer; each read of personal data is audited
once per record and person, with the purpose and the calling system."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from core import audit
from core.crypto import normalise_identifier
from core.errors import NotFound
from core.models import AuditEntry
from identity import policy
from identity.choices import Role
from identity.models import User
from registries.access import audit_access, definition_get, find, index_value, record_content
from registries.errors import FilterInvalid, NotYourData, RecordNotFound
from registries.models import (
    ImportBatch,
    RegistryDefinition,
    RegistryFieldValue,
    RegistryRecord,
)
from registries.services.records import record_by_reference
from registries.values import normalise_text, properties
from registry.services.citizens import citizen_person

MAX_PAGE_SIZE = 100
ORDERINGS = {"": "pk", "ascending": "pk", "asc": "pk", "descending": "-pk", "desc": "-pk"}
VIEW_ROLES = (
    Role.AGENCY_ADMIN,
    Role.DATA_STEWARD,
    Role.CASEWORKER,
    Role.SUPERVISOR,
    Role.POLICY_ANALYST,
)


@dataclass(frozen=True)
class RecordPage:
    count: int
    page: int
    page_size: int
    records: list[RegistryRecord]
    contents: list[dict[str, Any]]

    @property
    def has_next(self) -> bool:
        return self.page * self.page_size < self.count


# --- definitions -----------------------------------------------------------------------------


def registry_definition_list(
    *, viewer: User, include_archived: bool = False
) -> QuerySet[RegistryDefinition]:
    """The registry versions the viewer may see: every one for platform admins."""
    policy.authorize(viewer, "registry_definition.view", policy.ANY_OBJECT)
    qs = RegistryDefinition.objects.select_related("agency", "created_by")
    if not include_archived:
        qs = qs.filter(active=True)
    if not (policy.is_platform_admin(viewer) or policy.is_platform_system(viewer)):
        qs = qs.filter(agency_id__in=policy.agencies_where(viewer, *VIEW_ROLES))
    return qs.order_by("agency__name", "name", "version")


def registry_definition_by_id(*, viewer: User, definition_id: int) -> RegistryDefinition:
    definition = (
        RegistryDefinition.objects.select_related("agency", "created_by")
        .filter(pk=definition_id)
        .first()
    )
    if definition is None:
        raise NotFound(f"No registry definition {definition_id}.")
    policy.authorize(viewer, "registry_definition.view", definition)
    return definition


def registry_definition_get(
    *, viewer: User, name: str, version: str | int, action: str = "registry_record.view"
) -> RegistryDefinition:
    """An active registry version by name, for the viewer's ``action`` on its records."""
    definition = definition_get(name=name, version=version)
    policy.authorize(viewer, action, definition)
    return definition


def registry_latest(*, viewer: User, name: str) -> RegistryDefinition:
    definition = (
        RegistryDefinition.objects.select_related("agency")
        .filter(name=name, active=True)
        .order_by("-version")
        .first()
    )
    if definition is None:
        raise NotFound(f"No registry {name!r}.")
    policy.authorize(viewer, "registry_definition.view", definition)
    return definition


# --- records ---------------------------------------------------------------------------------


def _page_numbers(page: int, page_size: int) -> None:
    errors = {}
    if page < 1:
        errors["page"] = ["must be 1 or more"]
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        errors["pageSize"] = [f"must be between 1 and {MAX_PAGE_SIZE}"]
    if errors:
        raise FilterInvalid("The paging parameters are not valid.", errors=errors)


def _search_ids(
    definition: RegistryDefinition,
    filters: Mapping[str, str],
    search: str,
    search_field: str,
) -> QuerySet[Any] | None:
    """Record ids matching, from the index table alone; None when nothing filters."""
    errors: dict[str, list[str]] = {}
    searchable = list(definition.searchable_fields)
    for field in filters:
        if field not in searchable:
            errors[f"query.{field}"] = [
                "not a searchable field; searchable: " + (", ".join(searchable) or "none")
            ]
    if search_field and search_field not in searchable:
        errors["filter"] = [
            "not a searchable field; searchable: " + (", ".join(searchable) or "none")
        ]
    if search_field and not search.strip():
        errors["search"] = ["give the text to search for in the filter field"]
    if errors:
        raise FilterInvalid("The search or filter is not valid.", errors=errors)
    base = RegistryFieldValue.objects.filter(definition=definition)
    ids: QuerySet[Any] | None = None
    for field, value in filters.items():
        matching = base.filter(field=field, value=index_value(definition, field, value))
        ids = (
            matching.values("record_id")
            if ids is None
            else ids.filter(record_id__in=matching.values("record_id"))
        )
    if search.strip():
        fields = [search_field] if search_field else searchable
        text = normalise_text(search)
        where = Q()
        for field in fields:
            if field in definition.personal_fields:
                # personal values are kept as blind indexes: found only when equal
                where |= Q(field=field, value=index_value(definition, field, search))
            else:
                where |= Q(field=field, value__contains=text)
        matching = base.filter(where) if fields else base.none()
        ids = (
            matching.values("record_id")
            if ids is None
            else ids.filter(record_id__in=matching.values("record_id"))
        )
    if ids is not None and search.strip():
        # one record may match the text in several fields or array elements
        ids = ids.distinct()
    return ids


def record_search(
    *,
    viewer: User,
    definition: RegistryDefinition,
    purpose: str = "",
    client: str = "",
    filters: Mapping[str, str] | None = None,
    search: str = "",
    search_field: str = "",
    ordering: str = "",
    page: int = 1,
    page_size: int = 10,
) -> RecordPage:
    """A page of records matching every filter (exact, on searchable fields) and the search
    text (contained in a searchable field); reading the page is audited per record."""
    policy.authorize(viewer, "registry_record.view", definition)
    _page_numbers(page, page_size)
    order = ORDERINGS.get((ordering or "").strip().lower())
    if order is None:
        raise FilterInvalid("Unknown ordering.", errors={"ordering": ["ascending or descending"]})
    ids = _search_ids(definition, filters or {}, search or "", search_field or "")
    start = (page - 1) * page_size
    if ids is None:
        everything = RegistryRecord.objects.filter(definition=definition)
        count = everything.count()
        page_ids = list(
            everything.order_by(order).values_list("pk", flat=True)[start : start + page_size]
        )
    else:
        count = ids.count()
        id_order = "record_id" if order == "pk" else "-record_id"
        page_ids = [row["record_id"] for row in ids.order_by(id_order)[start : start + page_size]]
    by_id = RegistryRecord.objects.select_related("definition", "definition__agency").in_bulk(
        page_ids
    )
    records = [by_id[pk] for pk in page_ids if pk in by_id]
    audit_access(
        actor=viewer,
        action="registry_record.search",
        definition=definition,
        records=records,
        purpose=purpose,
        client=client,
    )
    return RecordPage(count, page, page_size, records, [record_content(r) for r in records])


def record_read(
    *,
    viewer: User,
    definition: RegistryDefinition,
    query: Any,
    purpose: str = "",
    client: str = "",
) -> tuple[RegistryRecord, dict[str, Any]]:
    """The first record (oldest) the query finds."""
    policy.authorize(viewer, "registry_record.view", definition)
    found = find(definition, query, limit=1)
    if not found:
        raise RecordNotFound("no record found")
    record = found[0]
    audit_access(
        actor=viewer,
        action="registry_record.read",
        definition=definition,
        records=[record],
        purpose=purpose,
        client=client,
    )
    return record, record_content(record)


def record_exists(
    *,
    viewer: User,
    definition: RegistryDefinition,
    query: Any,
    purpose: str = "",
    client: str = "",
) -> bool:
    policy.authorize(viewer, "registry_record.view", definition)
    found = find(definition, query, limit=1)
    audit_access(
        actor=viewer,
        action="registry_record.exists",
        definition=definition,
        records=found,
        purpose=purpose,
        client=client,
    )
    return bool(found)


def record_get(
    *,
    viewer: User,
    definition: RegistryDefinition,
    reference: str,
    purpose: str = "",
    client: str = "",
) -> tuple[RegistryRecord, dict[str, Any]]:
    """A record by its uuid (or its key field's value); audited."""
    policy.authorize(viewer, "registry_record.view", definition)
    record = record_by_reference(definition, reference)
    if record is None:
        raise RecordNotFound("no record found")
    audit_access(
        actor=viewer,
        action="registry_record.read",
        definition=definition,
        records=[record],
        purpose=purpose,
        client=client,
    )
    return record, record_content(record)


def record_value(
    *,
    viewer: User,
    definition: RegistryDefinition,
    reference: str,
    field: str,
    purpose: str = "",
    client: str = "",
) -> Any:
    """One field of one record (readValue)."""
    policy.authorize(viewer, "registry_record.view", definition)
    if field not in properties(definition.schema) and field != "uuid":
        raise NotFound(f"The registry has no field {field!r}.")
    record = record_by_reference(definition, reference)
    if record is None:
        raise RecordNotFound("no record found")
    content = record_content(record)
    if field not in content:
        raise NotFound(f"The record has no value for {field!r}.")
    audit_access(
        actor=viewer,
        action="registry_record.read_value",
        definition=definition,
        records=[record],
        purpose=purpose,
        client=client,
        extra={"field": field},
    )
    return content[field]


# --- the citizen's own: who used my data -------------------------------------------------------


def personal_data_usage(
    *, viewer: User, user_id: str, database: str = "", limit: int = 500
) -> list[AuditEntry]:
    """Who read or changed registry records about the signed-in citizen, newest first.

    ``user_id`` must be the citizen's own national ID or master person id: nobody learns
    about another person's data here.
    """
    policy.authorize(viewer, "personal_data_usage.view_own", viewer)
    person = citizen_person(user=viewer)
    own = normalise_identifier(viewer.national_id) if viewer.national_id else None
    wanted = (user_id or "").strip()
    if (
        person is None
        or not wanted
        or (wanted != person.pk and normalise_identifier(wanted) != own)
    ):
        raise NotYourData(
            "userId must be your own national ID or person id.",
            errors={"userId": ["not yours"]},
        )
    entries = audit.entries(subject_person=person.pk).filter(action__startswith="registry_record.")
    found = []
    for entry in entries[: limit * 4]:
        if database and (entry.data or {}).get("registry") != database:
            continue
        found.append(entry)
        if len(found) >= limit:
            break
    return found


# --- imports ---------------------------------------------------------------------------------


def import_batch_get(*, viewer: User, batch_id: int) -> ImportBatch:
    batch = ImportBatch.objects.select_related("definition__agency").filter(pk=batch_id).first()
    if batch is None:
        raise NotFound(f"No import {batch_id}.")
    policy.authorize(viewer, "registry_record.manage", batch.definition)
    return batch


def import_rejected_rows(*, viewer: User, batch: ImportBatch, limit: int = 200) -> list[Any]:
    """The batch's rejected rows (as sent, so personal data): reading them is audited."""
    policy.authorize(viewer, "registry_record.manage", batch.definition)
    rows = list(batch.rejected_rows.all()[:limit])
    if rows:
        audit.record(
            actor=viewer,
            action="registry_import.rejected_read",
            target=batch,
            agency=batch.definition.agency.code,
            data={"rows": len(rows)},
        )
    return rows


def import_batch_list(*, viewer: User, definition: RegistryDefinition) -> QuerySet[ImportBatch]:
    policy.authorize(viewer, "registry_record.manage", definition)
    return ImportBatch.objects.filter(definition=definition).select_related("created_by")
