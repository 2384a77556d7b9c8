"""Write registry records: validated against their version's schema, all or nothing.

Every write validates the whole record (JSON Schema 2020-12), resolves its person fields
to master person ids, splits the personal fields off into their encrypted column,
rewrites the record's search index rows and is audited once per person it names. A bulk
change (`records_update_matching`) validates every record before writing any.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ValidationFailed
from core.fields import lookup_value
from identity import policy
from identity.models import User
from registries.access import audit_access, find, index_value, record_content
from registries.choices import ChangeKind, PersonRef
from registries.errors import AmbiguousQuery, RecordInvalid, RecordNotFound, RecordTooLarge
from registries.models import (
    RegistryDefinition,
    RegistryFieldValue,
    RegistryRecord,
    RegistryRecordPerson,
    RegistryRecordVersion,
)
from registries.values import RECORD_MAX_BYTES, index_values, json_size, record_errors
from registry.models import Person, SourceRecord

MAX_BULK = 10_000  # records one updateEntries may change


@dataclass
class Prepared:
    """A record's content, checked and taken apart for storage."""

    content: dict[str, Any]
    data: dict[str, Any]
    personal: str
    key: str | None
    persons: list[tuple[str, str]] = field(default_factory=list)  # (field, person id)
    index: list[tuple[str, str]] = field(default_factory=list)  # (field, value)


def _live_person(person: Person | None) -> Person | None:
    seen: set[str] = set()
    while person is not None and person.merged_into_id and person.pk not in seen:
        seen.add(person.pk)
        person = person.merged_into
    return person


def _resolve(kind: str, value: Any) -> tuple[list[str], str | None]:
    """Master person ids for one reference value, or an error message."""
    if not isinstance(value, str) or not value.strip():
        return [], "must be text naming a person"
    if kind == PersonRef.PERSON_ID:
        person = _live_person(Person.objects.filter(pk=value.strip()).first())
        if person is None:
            return [], "no person with this id in the master person index"
        return [person.pk], None
    try:
        index = lookup_value(SourceRecord, "national_id", value)
    except Exception:
        return [], "is not a national ID"
    people = Person.objects.filter(
        pk__in=SourceRecord.objects.filter(national_id_index=index, person__isnull=False).values(
            "person_id"
        )
    )
    # A national ID the index does not know yet is kept; the link follows when it does.
    ids = {p.pk for p in (_live_person(p) for p in people) if p is not None}
    return sorted(ids), None


def prepare(definition: RegistryDefinition, content: Any) -> Prepared:
    """Check a record against its definition and take it apart; raise with every problem."""
    if not isinstance(content, Mapping):
        raise RecordInvalid("A record is a JSON object.", errors={"record": ["must be an object"]})
    content = {k: v for k, v in content.items() if k != "uuid"}
    size = json_size(content)
    if size > RECORD_MAX_BYTES:
        raise RecordTooLarge(
            f"The record is {size} bytes; the largest accepted is {RECORD_MAX_BYTES}.",
            errors={"record": [f"larger than {RECORD_MAX_BYTES} bytes"]},
        )
    errors = record_errors(definition.schema, content)
    persons: list[tuple[str, str]] = []
    for name, kind in definition.person_fields.items():
        value = content.get(name)
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            ids, problem = _resolve(kind, item)
            if problem:
                errors.setdefault(name, []).append(problem)
            persons += [(name, pid) for pid in ids]
    if errors:
        raise RecordInvalid("The record does not match the registry schema.", errors=errors)
    personal_names = set(definition.personal_fields)
    personal = {k: v for k, v in content.items() if k in personal_names}
    index: list[tuple[str, str]] = []
    for name in definition.searchable_fields:
        for text in index_values(content.get(name)):
            value = index_value(definition, name, text) if name in personal_names else text
            index.append((name, value))
    key = None
    if definition.id_field:
        key = str(content[definition.id_field])[:200]
    return Prepared(
        content=content,
        data={k: v for k, v in content.items() if k not in personal_names},
        personal=json.dumps(personal, ensure_ascii=False, sort_keys=True) if personal else "",
        key=key,
        persons=sorted(set(persons)),
        index=sorted(set(index)),
    )


def _check_key_free(
    definition: RegistryDefinition, key: str | None, record: RegistryRecord | None
) -> None:
    if key is None:
        return
    taken = RegistryRecord.objects.filter(definition=definition, key=key)
    if record is not None:
        taken = taken.exclude(pk=record.pk)
    if taken.exists():
        raise RecordInvalid(
            f"A record with {definition.id_field} {key!r} already exists.",
            errors={definition.id_field: ["already used by another record"]},
        )


def _store_links(record: RegistryRecord, prepared: Prepared, *, replace: bool) -> None:
    if replace:
        RegistryFieldValue.objects.filter(record=record).delete()
        RegistryRecordPerson.objects.filter(record=record).delete()
    RegistryFieldValue.objects.bulk_create(
        RegistryFieldValue(definition_id=record.definition_id, field=f, value=v, record=record)
        for f, v in prepared.index
    )
    RegistryRecordPerson.objects.bulk_create(
        RegistryRecordPerson(record=record, field=f, person_id=p) for f, p in prepared.persons
    )


def _persons_map(
    record: RegistryRecord, prepared: Prepared, before: list[str]
) -> dict[int, list[str]]:
    ids = list(dict.fromkeys(before + [p for _, p in prepared.persons]))
    return {record.pk: ids}


def _insert(definition: RegistryDefinition, prepared: Prepared, actor: User) -> RegistryRecord:
    _check_key_free(definition, prepared.key, None)
    now = timezone.now()
    try:
        with transaction.atomic():
            record = RegistryRecord.objects.create(
                definition=definition,
                key=prepared.key,
                data=prepared.data,
                personal=prepared.personal,
                created_by=actor,
                updated_by=actor,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError:
        # a concurrent writer took the key between the check and the insert
        raise RecordInvalid(
            "A record with this key already exists.",
            errors={definition.id_field or "record": ["already used by another record"]},
        ) from None
    record.definition = definition
    _store_links(record, prepared, replace=False)
    return record


def _apply(
    record: RegistryRecord, prepared: Prepared, actor: User
) -> tuple[RegistryRecord, list[str]]:
    """Replace a record's contents, keeping the previous ones; returns the persons it named."""
    before = list(
        RegistryRecordPerson.objects.filter(record=record).values_list("person_id", flat=True)
    )
    _check_key_free(record.definition, prepared.key, record)
    RegistryRecordVersion.objects.create(
        record=record,
        revision=record.revision,
        data=record.data,
        personal=record.personal,
        change=ChangeKind.CREATE if record.revision == 1 else ChangeKind.UPDATE,
        changed_by=record.updated_by,
        changed_at=record.updated_at,
    )
    record.data = prepared.data
    record.personal = prepared.personal
    record.key = prepared.key
    record.revision += 1
    record.updated_by = actor
    record.updated_at = timezone.now()
    record.save(update_fields=["data", "personal", "key", "revision", "updated_by", "updated_at"])
    _store_links(record, prepared, replace=True)
    return record, before


def _authorize_write(actor: User, definition: RegistryDefinition) -> None:
    policy.authorize(actor, "registry_record.manage", definition)


def _changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k != "uuid")


@transaction.atomic
def record_create(
    *,
    actor: User,
    definition: RegistryDefinition,
    content: Any,
    purpose: str = "",
    client: str = "",
) -> RegistryRecord:
    _authorize_write(actor, definition)
    prepared = prepare(definition, content)
    record = _insert(definition, prepared, actor)
    audit_access(
        actor=actor,
        action="registry_record.create",
        definition=definition,
        records=[record],
        purpose=purpose,
        client=client,
        persons={record.pk: [p for _, p in prepared.persons]},
        extra={"fields": sorted(prepared.content)},
    )
    return record


def _merge(current: Mapping[str, Any], write: Mapping[str, Any]) -> dict[str, Any]:
    """The written fields replace the record's; a field written as null is removed."""
    merged = {k: v for k, v in current.items() if k != "uuid"}
    for name, value in write.items():
        if name == "uuid":
            continue
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def _check_write(write: Any) -> Mapping[str, Any]:
    if not isinstance(write, Mapping) or not write:
        raise ValidationFailed(
            "Give the data to write as a non-empty object.",
            errors={"write.content": ["must be a non-empty object"]},
        )
    return write


def _update_one(
    *,
    actor: User,
    record: RegistryRecord,
    write: Mapping[str, Any],
    replace: bool,
    purpose: str,
    client: str,
) -> RegistryRecord:
    old = record_content(record)
    new = dict(write) if replace else _merge(old, write)
    prepared = prepare(record.definition, new)
    record, before = _apply(record, prepared, actor)
    audit_access(
        actor=actor,
        action="registry_record.update",
        definition=record.definition,
        records=[record],
        purpose=purpose,
        client=client,
        persons=_persons_map(record, prepared, before),
        extra={"fields": _changed_fields(old, prepared.content), "revision": record.revision},
    )
    return record


@transaction.atomic
def record_update(
    *,
    actor: User,
    definition: RegistryDefinition,
    query: Any,
    write: Any,
    purpose: str = "",
    client: str = "",
    replace: bool = False,
) -> RegistryRecord:
    """Change the one record the query finds (the written fields replace the record's)."""
    _authorize_write(actor, definition)
    write = _check_write(write)
    found = find(definition, query, limit=2, lock=True)
    if not found:
        raise RecordNotFound("no record found")
    if len(found) > 1:
        raise AmbiguousQuery("The query matches more than one record; use updateEntries.")
    return _update_one(
        actor=actor, record=found[0], write=write, replace=replace, purpose=purpose, client=client
    )


@transaction.atomic
def records_update_matching(
    *,
    actor: User,
    definition: RegistryDefinition,
    query: Any,
    write: Any,
    purpose: str = "",
    client: str = "",
) -> int:
    """Change every record the query finds; if any would become invalid, change none."""
    _authorize_write(actor, definition)
    write = _check_write(write)
    found = find(definition, query, limit=MAX_BULK + 1, lock=True)
    if len(found) > MAX_BULK:
        raise ValidationFailed(
            f"The query matches more than {MAX_BULK} records; narrow it.",
            errors={"query.content": [f"matches more than {MAX_BULK} records"]},
        )
    errors: dict[str, list[str]] = {}
    for record in found:
        try:
            _update_one(
                actor=actor,
                record=record,
                write=write,
                replace=False,
                purpose=purpose,
                client=client,
            )
        except RecordInvalid as exc:
            for path, messages in exc.errors.items():
                errors[f"{record.uuid}/{path}"] = messages
    if errors:
        # the atomic block rolls back the records already changed
        raise RecordInvalid(
            "The change would make some records invalid; nothing was changed.", errors=errors
        )
    return len(found)


@transaction.atomic
def record_update_or_create(
    *,
    actor: User,
    definition: RegistryDefinition,
    query: Any,
    write: Any,
    purpose: str = "",
    client: str = "",
) -> tuple[RegistryRecord, bool]:
    """Update the one record the query finds, or create query + write as a new record."""
    _authorize_write(actor, definition)
    write = _check_write(write)
    found = find(definition, query, limit=2, lock=True) if query else []
    if len(found) > 1:
        raise AmbiguousQuery("The query matches more than one record.")
    if found:
        record = _update_one(
            actor=actor, record=found[0], write=write, replace=False, purpose=purpose, client=client
        )
        return record, False
    content = _merge(dict(query or {}), write)
    return record_create(
        actor=actor, definition=definition, content=content, purpose=purpose, client=client
    ), True


def record_by_reference(definition: RegistryDefinition, reference: str) -> RegistryRecord | None:
    """A record named in a path: its uuid, or the value of the definition's key field."""
    qs = RegistryRecord.objects.filter(definition=definition).select_related(
        "definition", "definition__agency"
    )
    try:
        return qs.filter(uuid=uuid.UUID(reference)).first() or (
            qs.filter(key=reference).first() if definition.id_field else None
        )
    except ValueError:
        return qs.filter(key=reference).first() if definition.id_field else None


@transaction.atomic
def record_delete(
    *,
    actor: User,
    definition: RegistryDefinition,
    reference: str,
    purpose: str = "",
    client: str = "",
) -> None:
    _authorize_write(actor, definition)
    record = record_by_reference(definition, reference)
    if record is None:
        raise RecordNotFound("no record found")
    audit_access(
        actor=actor,
        action="registry_record.delete",
        definition=definition,
        records=[record],
        purpose=purpose,
        client=client,
    )
    record.delete()


@transaction.atomic
def record_save(
    *,
    actor: User,
    record: RegistryRecord,
    content: Any,
    purpose: str = "",
) -> RegistryRecord:
    """Replace a record's whole content (the staff edit page)."""
    _authorize_write(actor, record.definition)
    return _update_one(
        actor=actor, record=record, write=content, replace=True, purpose=purpose, client=""
    )
