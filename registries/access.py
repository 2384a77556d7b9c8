"""What services and selectors share: a record's content, finding records, auditing access.

Unauthorised helpers: the callers (services.records, selectors) authorise first.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.db.models import QuerySet

from core import audit
from core.crypto import blind_index
from registries.errors import FilterInvalid, QueryNeedsIndex, RegistryNotFound
from registries.models import (
    RegistryDefinition,
    RegistryFieldValue,
    RegistryRecord,
    RegistryRecordPerson,
)
from registries.values import matches, normalise_text, properties, query_value

# A query on fields without an index reads at most this many records.
SCAN_LIMIT = 5000
WRITES = frozenset({"create", "update", "delete"})
_VERSION = re.compile(r"^v?(\d{1,6})(?:\.0+){0,2}$", re.IGNORECASE)


def parse_version(text: str | int) -> int:
    """A version as given in a path: 2, "2", "2.0", "v2"; other shapes find nothing."""
    found = _VERSION.match(str(text).strip())
    if found is None or int(found.group(1)) < 1:
        raise RegistryNotFound(f"No version {text!r}: give a whole number such as 1 or 1.0.")
    return int(found.group(1))


def definition_get(*, name: str, version: str | int) -> RegistryDefinition:
    number = parse_version(version)
    definition = (
        RegistryDefinition.objects.select_related("agency")
        .filter(name=name, version=number, active=True)
        .first()
    )
    if definition is None:
        raise RegistryNotFound(f"No registry {name!r} version {number}.")
    return definition


def blind_context(definition: RegistryDefinition, field: str) -> str:
    return f"registries:{definition.name}:{field}"


def personal_index(definition: RegistryDefinition, field: str, text: str) -> str:
    return blind_index(text, context=blind_context(definition, field), normaliser=normalise_text)


def index_value(definition: RegistryDefinition, field: str, value: Any) -> str:
    """What the index holds for a (normalised) value: itself, or its blind index."""
    text = query_value(value, properties(definition.schema).get(field))
    if field in definition.personal_fields:
        return personal_index(definition, field, text)
    return text


def record_content(record: RegistryRecord) -> dict[str, Any]:
    """The record as its clients wrote it, with its ``uuid`` first."""
    merged: dict[str, Any] = dict(record.data or {})
    if record.personal:
        merged.update(json.loads(record.personal))
    order = list(properties(record.definition.schema))
    ordered = {k: merged[k] for k in order if k in merged}
    ordered.update({k: v for k, v in merged.items() if k not in ordered})
    return {"uuid": str(record.uuid), **ordered}


def persons_of(records: Iterable[RegistryRecord]) -> dict[int, list[str]]:
    ids = [r.pk for r in records]
    linked: dict[int, list[str]] = {pk: [] for pk in ids}
    rows = RegistryRecordPerson.objects.filter(record_id__in=ids).values_list(
        "record_id", "person_id"
    )
    for record_id, person_id in rows:
        if person_id not in linked[record_id]:
            linked[record_id].append(person_id)
    return linked


def audit_access(
    *,
    actor: Any,
    action: str,
    definition: RegistryDefinition,
    records: list[RegistryRecord],
    purpose: str,
    client: str,
    persons: Mapping[int, list[str]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """One entry per record and person it names, so each person sees the access.

    Reads of a registry without personal data are not personal-data processing and are
    not recorded; changes always are.
    """
    if action.rsplit(".", 1)[-1] not in WRITES and not definition.has_personal_data:
        return
    linked = persons if persons is not None else persons_of(records)
    data = {"registry": definition.name, "version": definition.version, **(extra or {})}
    if client:
        data["client"] = client
    for record in records:
        subjects: list[str | None] = list(linked.get(record.pk, [])) or [None]
        for person_id in subjects:
            audit.record(
                actor=actor,
                action=action,
                subject_person=person_id,
                target=record,
                purpose=purpose,
                agency=definition.agency.code,
                data={**data, "record": str(record.uuid)},
            )


# --- finding records -----------------------------------------------------------------------


def _ids_where(definition: RegistryDefinition, field: str, values: list[str]) -> Any:
    return RegistryFieldValue.objects.filter(
        definition=definition, field=field, value__in=values
    ).values("record_id")


def narrow(
    definition: RegistryDefinition, wanted: Mapping[str, Any]
) -> tuple[QuerySet[RegistryRecord], bool]:
    """Records of the definition narrowed by the fields that have an index; and whether any
    did (uuid, the key field, searchable fields)."""
    qs = RegistryRecord.objects.filter(definition=definition).select_related(
        "definition", "definition__agency"
    )
    narrowed = False
    for field, value in wanted.items():
        if isinstance(value, Mapping):
            continue
        if field == "uuid":
            qs = qs.filter(uuid=str(value)) if _is_uuid(value) else qs.none()
            narrowed = True
        elif field == definition.id_field and not isinstance(value, list):
            qs = qs.filter(key=str(value))
            narrowed = True
        elif field in definition.searchable_fields:
            items = value if isinstance(value, list) else [value]
            if not items:
                continue
            # an array query matches records holding all its elements
            for item in items:
                qs = qs.filter(
                    pk__in=_ids_where(definition, field, [index_value(definition, field, item)])
                )
            narrowed = True
    return qs, narrowed


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def find(
    definition: RegistryDefinition,
    wanted: Any,
    *,
    limit: int | None = None,
    lock: bool = False,
) -> list[RegistryRecord]:
    """Records whose fields equal every field of ``wanted`` (normalised, case-insensitive).

    Indexed fields narrow in the database, the rest are compared on the candidates; a
    query on no indexed field may read at most SCAN_LIMIT records.
    """
    if not isinstance(wanted, Mapping) or not wanted:
        raise FilterInvalid(
            "Give the query as a non-empty object of field values.",
            errors={"query.content": ["must be a non-empty object"]},
        )
    props = properties(definition.schema)
    unknown = [f for f in wanted if f not in props and f != "uuid"]
    if unknown:
        raise FilterInvalid(
            "The query names fields the registry does not have.",
            errors={f"query.content.{f}": ["not a field of this registry"] for f in unknown},
        )
    qs, narrowed = narrow(definition, wanted)
    if lock:
        qs = qs.select_for_update()
    qs = qs.order_by("pk")
    if not narrowed:
        candidates = list(qs[: SCAN_LIMIT + 1])
        if len(candidates) > SCAN_LIMIT:
            raise QueryNeedsIndex(
                "This registry is too large to search on fields without an index.",
                errors={
                    "query.content": [
                        "include uuid, the key field or a searchable field: "
                        + ", ".join(
                            ([definition.id_field] if definition.id_field else [])
                            + list(definition.searchable_fields)
                        )
                    ]
                },
            )
    else:
        candidates = list(qs)
    found = []
    for record in candidates:
        content = record_content(record)
        if all(
            field in content and matches(content[field], value, props.get(field))
            for field, value in wanted.items()
        ):
            found.append(record)
            if limit is not None and len(found) >= limit:
                break
    return found
