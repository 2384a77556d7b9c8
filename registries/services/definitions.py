"""Define registries: each change of schema is a new version; a version can be archived."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models import Max

from core import audit
from identity import policy
from identity.models import Agency, User
from registries.errors import RegistryNameTaken, SchemaInvalid
from registries.models import RegistryDefinition
from registries.values import declarations_from_schema, definition_errors


def _same(definition: RegistryDefinition, fields: Mapping[str, Any]) -> bool:
    return all(getattr(definition, name) == value for name, value in fields.items())


@transaction.atomic
def registry_definition_save(
    *,
    actor: User,
    agency: Agency,
    name: str,
    schema: Any,
    title: str = "",
    description: str = "",
    id_field: str | None = None,
    searchable_fields: list[str] | None = None,
    personal_fields: list[str] | None = None,
    person_fields: Mapping[str, str] | None = None,
) -> tuple[RegistryDefinition, bool]:
    """Define a registry, or give it a new version; returns (definition, created).

    Declarations not given are read from the schema's annotations (``x-searchable``,
    ``x-personal``, ``x-person``, ``primaryKey``). Saving what the latest version already
    says creates nothing. Records stay with the version they were written to.
    """
    policy.authorize(actor, "registry_definition.manage", agency)
    name = (name or "").strip()
    declared = declarations_from_schema(schema) if isinstance(schema, Mapping) else {}
    fields: dict[str, Any] = {
        "schema": schema,
        "title": (title or name).strip()[:200],
        "description": description.strip(),
        "id_field": declared.get("id_field", "") if id_field is None else id_field.strip(),
        "searchable_fields": list(
            declared.get("searchable_fields", [])
            if searchable_fields is None
            else searchable_fields
        ),
        "personal_fields": list(
            declared.get("personal_fields", []) if personal_fields is None else personal_fields
        ),
        "person_fields": dict(
            declared.get("person_fields", {}) if person_fields is None else person_fields
        ),
    }
    errors = definition_errors(
        name=name,
        schema=schema,
        id_field=fields["id_field"],
        searchable_fields=fields["searchable_fields"],
        personal_fields=fields["personal_fields"],
        person_fields=fields["person_fields"],
    )
    if errors:
        raise SchemaInvalid("The registry definition has errors.", errors=errors)
    # a person reference is personal data whether or not it was declared so
    for field in fields["person_fields"]:
        if field not in fields["personal_fields"]:
            fields["personal_fields"].append(field)
    others = RegistryDefinition.objects.select_for_update().filter(name=name)
    if others.exclude(agency=agency).exists():
        raise RegistryNameTaken(
            f"The registry name {name!r} belongs to another agency.", errors={"name": ["taken"]}
        )
    latest = others.order_by("-version").first()
    if latest is not None and latest.active and _same(latest, fields):
        return latest, False
    version = (others.aggregate(v=Max("version"))["v"] or 0) + 1
    definition = RegistryDefinition.objects.create(
        agency=agency, name=name, version=version, created_by=actor, **fields
    )
    audit.record(
        actor=actor,
        action="registry_definition.save",
        target=definition,
        agency=agency.code,
        data={"name": name, "version": version},
    )
    return definition, True


@transaction.atomic
def registry_definition_archive(*, actor: User, definition: RegistryDefinition) -> None:
    """Stop serving a version. Its records are kept (and stay in the audit trail's targets)."""
    policy.authorize(actor, "registry_definition.manage", definition)
    if not definition.active:
        return
    definition.active = False
    definition.save(update_fields=["active", "updated_at"])
    audit.record(
        actor=actor,
        action="registry_definition.archive",
        target=definition,
        agency=definition.agency.code,
        data={"name": definition.name, "version": definition.version},
    )
