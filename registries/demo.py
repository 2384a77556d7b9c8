"""The demo's registries: vehicles at Transport and businesses at Revenue, owned by demo people.

Records point at people already in the demo's source systems (their national IDs), so each
owner resolves to a master person and their reads appear in "who accessed my data".
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from core.errors import ApplicationError
from identity.models import Agency, User
from registries.access import record_content
from registries.models import RegistryDefinition, RegistryRecord
from registries.services.definitions import registry_definition_save
from registries.services.records import record_create, record_update
from registry.models import SourceRecord

VEHICLE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Vehicle",
    "type": "object",
    "properties": {
        "plate": {"type": "string", "pattern": "^[A-Z0-9]{2,10}$", "primaryKey": True},
        "vin": {"type": "string", "minLength": 17, "maxLength": 17, "x-searchable": True},
        "make": {"type": "string", "x-searchable": True},
        "model": {"type": "string"},
        "colour": {"type": "string", "x-searchable": True},
        "year": {"type": "integer", "minimum": 1950, "maximum": 2100, "x-searchable": True},
        "fuel": {"enum": ["petrol", "diesel", "electric", "hybrid"]},
        "registered_on": {"type": "string", "format": "date"},
        "owner_national_id": {"type": "string", "x-person": "national_id", "x-searchable": True},
        "owner_name": {"type": "string", "x-personal": True},
    },
    "required": ["plate", "vin", "make", "year", "owner_national_id"],
    "additionalProperties": False,
}

BUSINESS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Business",
    "type": "object",
    "properties": {
        "registration_number": {"type": "string", "pattern": "^B[0-9]{7}$", "primaryKey": True},
        "name": {"type": "string", "minLength": 2, "x-searchable": True},
        "legal_form": {"enum": ["sole trader", "partnership", "limited company", "cooperative"]},
        "sector": {"type": "string", "x-searchable": True},
        "town": {"type": "string", "x-searchable": True},
        "vat_registered": {"type": "boolean", "x-searchable": True},
        "employees": {"type": "integer", "minimum": 0},
        "incorporated_on": {"type": "string", "format": "date"},
        "director_national_id": {
            "type": "string",
            "x-person": "national_id",
            "x-searchable": True,
        },
        "director_name": {"type": "string", "x-personal": True},
    },
    "required": ["registration_number", "name", "legal_form", "director_national_id"],
    "additionalProperties": False,
}

MAKES = {
    "Toyota": ["Corolla", "Yaris", "RAV4"],
    "Ford": ["Fiesta", "Focus", "Transit"],
    "Volkswagen": ["Golf", "Polo"],
    "Kia": ["Picanto", "Sportage"],
    "Renault": ["Clio", "Zoe"],
}
COLOURS = ["black", "white", "silver", "blue", "red", "grey", "green"]
SECTORS = ["retail", "construction", "hospitality", "agriculture", "software", "transport"]
WORDS = ["North", "Oak", "Bright", "River", "Summit", "Harbour", "Meadow", "Stone", "Crown"]
KINDS = ["Bakery", "Builders", "Cafe", "Farm", "Digital", "Haulage", "Garage", "Studio"]
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


@dataclass(frozen=True)
class SeedResult:
    registry: str
    created: int
    updated: int
    skipped: bool


def _people(agency_code: str, limit: int) -> list[SourceRecord]:
    """Linked source records with a national ID, in a stable order."""
    return list(
        SourceRecord.objects.filter(agency__code=agency_code, person__isnull=False)
        .exclude(national_id_index="")
        .exclude(national_id_index__isnull=True)
        .order_by("agency_record_id")[:limit]
    )


def _vehicle(rng: random.Random, n: int, owner: SourceRecord) -> dict[str, Any]:
    make = rng.choice(sorted(MAKES))
    year = rng.randint(2005, 2025)
    return {
        "plate": f"{chr(65 + n % 26)}{chr(65 + (n // 26) % 26)}{n:04d}",
        "vin": "".join(rng.choice(VIN_CHARS) for _ in range(17)),
        "make": make,
        "model": rng.choice(MAKES[make]),
        "colour": rng.choice(COLOURS),
        "year": year,
        "fuel": rng.choice(["petrol", "diesel", "electric", "hybrid"]),
        "registered_on": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "owner_national_id": owner.national_id,
        "owner_name": owner.full_name,
    }


def _business(rng: random.Random, n: int, director: SourceRecord) -> dict[str, Any]:
    return {
        "registration_number": f"B{1000000 + n:07d}",
        "name": f"{rng.choice(WORDS)} {rng.choice(KINDS)} {n}",
        "legal_form": rng.choice(["sole trader", "partnership", "limited company", "cooperative"]),
        "sector": rng.choice(SECTORS),
        "town": director.locality or "Northtown",
        "vat_registered": rng.random() < 0.4,
        "employees": rng.randint(0, 250),
        "incorporated_on": f"{rng.randint(1990, 2024)}-{rng.randint(1, 12):02d}-01",
        "director_national_id": director.national_id,
        "director_name": director.full_name,
    }


def _seed_one(
    *,
    actor: User,
    agency: Agency,
    name: str,
    title: str,
    description: str,
    schema: dict[str, Any],
    people: list[SourceRecord],
    make: Any,
    rng: random.Random,
    if_empty: bool,
) -> SeedResult:
    definition, _ = registry_definition_save(
        actor=actor, agency=agency, name=name, title=title, description=description, schema=schema
    )
    if if_empty and RegistryRecord.objects.filter(definition__name=name).exists():
        return SeedResult(name, 0, 0, True)
    created = updated = 0
    for n, person in enumerate(people):
        content = make(rng, n, person)
        key = content[definition.id_field]
        existing = RegistryRecord.objects.filter(definition=definition, key=key).first()
        try:
            if existing is None:
                record_create(
                    actor=actor, definition=definition, content=content, purpose="demo seed"
                )
                created += 1
            elif record_content(existing) | {"uuid": ""} != {"uuid": "", **content}:
                record_update(
                    actor=actor,
                    definition=definition,
                    query={definition.id_field: key},
                    write=content,
                    purpose="demo seed",
                )
                updated += 1
        except ApplicationError:
            continue  # a demo person whose source values the schema refuses is left out
    return SeedResult(name, created, updated, False)


@transaction.atomic
def demo_registries_seed(
    *,
    actor: User,
    vehicles: int = 150,
    businesses: int = 80,
    seed: int = 42,
    if_empty: bool = False,
) -> list[SeedResult]:
    results = []
    transport = Agency.objects.get(code="transport")
    revenue = Agency.objects.get(code="revenue")
    results.append(
        _seed_one(
            actor=actor,
            agency=transport,
            name="vehicles",
            title="Vehicle register",
            description="Registered road vehicles and their keepers.",
            schema=VEHICLE_SCHEMA,
            people=_people("transport", vehicles),
            make=_vehicle,
            rng=random.Random(f"{seed}:vehicles"),  # noqa: S311 - synthetic data
            if_empty=if_empty,
        )
    )
    results.append(
        _seed_one(
            actor=actor,
            agency=revenue,
            name="businesses",
            title="Business register",
            description="Businesses registered for tax, with their directors.",
            schema=BUSINESS_SCHEMA,
            people=_people("revenue", businesses),
            make=_business,
            rng=random.Random(f"{seed}:businesses"),  # noqa: S311 - synthetic data
            if_empty=if_empty,
        )
    )
    return results


def definitions_of_demo() -> list[RegistryDefinition]:
    return list(RegistryDefinition.objects.filter(name__in=["vehicles", "businesses"]))
