"""Benchmark the digital registries: read by id and filtered search at 1,000,000 records.

One registry (vehicles, with an owner resolved to a master person and personal fields
encrypted) is loaded with ``--records`` records in a fresh SQLite database, and, with
``--postgres-url`` (or a PostgreSQL ``DATABASE_URL``), in a database made for the run on
that server. Each database is measured in its own child process, through the selectors
the API calls (authorisation and the audit entries for every personal-data read
included, HTTP excluded):

- read by id: `record_get` by uuid;
- filtered search on declared fields: `record_search` with one exact filter, a page of
  10 with the total count — a broad filter (``make``, ~1 in 10 records match) and a
  selective one (the owner's national ID, through its blind index);
- baseline, same run: the broad filter answered by scanning the JSON column
  (``data->make``), the way a registry without declared search fields would have to.

Targets: p95 <= 20 ms for a read by id, <= 100 ms for a filtered search on a declared
field. Figures go to bench/results/registries.json and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from bench.common import markdown_table, measure_and_publish, run_child, say

NAME = "registries"
TARGET_READ_P95_MS = 20.0
TARGET_SEARCH_P95_MS = 100.0
PY = sys.executable
BATCH = 5000
PERSONS = 20_000
MAKES = ["Toyota", "Ford", "Volkswagen", "Kia", "Renault", "Nissan", "Skoda", "Fiat", "BMW", "Audi"]
COLOURS = ["black", "white", "silver", "blue", "red", "grey", "green"]


# --- the child: load, then measure ---------------------------------------------------------


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(p95 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def _timed(fn: Callable[[int], Any], count: int, warmup: int = 5) -> dict[str, float]:
    for n in range(warmup):
        fn(n)
    samples = []
    for n in range(count):
        started = time.perf_counter()
        fn(n)
        samples.append(time.perf_counter() - started)
    return _percentiles(samples)


def _national_id(n: int) -> str:
    return f"BN{n:08d}"


def _load(records: int, seed: int) -> tuple[Any, Any, list[str]]:
    """Define the registry and bulk-load it; returns (definition, actor, sample uuids)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from identity.models import Agency
    from identity.services import agency_create, system_actor
    from registries.access import index_value
    from registries.demo import VEHICLE_SCHEMA
    from registries.models import RegistryFieldValue, RegistryRecord, RegistryRecordPerson
    from registries.services.definitions import registry_definition_save
    from registries.values import index_values
    from registry.models import Person

    actor = system_actor()
    agency = Agency.objects.filter(code="transport").first() or agency_create(
        actor=actor, code="transport", name="Transport"
    )
    definition, _ = registry_definition_save(
        actor=actor, agency=agency, name="vehicles", schema=VEHICLE_SCHEMA, title="Vehicles"
    )
    now = timezone.now()
    persons = [f"PB{n:010d}" for n in range(PERSONS)]
    Person.objects.bulk_create(
        (Person(id=pid, given_name="Bench", family_name=f"P{n}") for n, pid in enumerate(persons)),
        batch_size=BATCH,
    )
    rng = random.Random(seed)  # noqa: S311 - synthetic data
    fields = {f.attname: f for f in RegistryRecord._meta.concrete_fields}
    columns = [
        "id",
        "definition_id",
        "uuid",
        "key",
        "data",
        "personal",
        "revision",
        "created_by_id",
        "updated_by_id",
        "created_at",
        "updated_at",
    ]
    quote = connection.ops.quote_name

    def insert_sql(model: Any, cols: list[str]) -> str:
        names = ", ".join(quote(fields_of(model)[c].column) for c in cols)
        marks = ", ".join(["%s"] * len(cols))
        return f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES ({marks})"  # noqa: S608

    def fields_of(model: Any) -> dict[str, Any]:
        return {f.attname: f for f in model._meta.concrete_fields}

    record_sql = insert_sql(RegistryRecord, columns)
    value_sql = insert_sql(RegistryFieldValue, ["definition_id", "field", "value", "record_id"])
    person_sql = insert_sql(RegistryRecordPerson, ["record_id", "field", "person_id"])
    prep = {c: fields[c] for c in ("uuid", "data", "personal", "created_at", "updated_at")}
    samples: list[str] = []
    started = time.perf_counter()
    for first in range(0, records, BATCH):
        rows, values, links = [], [], []
        for pk in range(first + 1, min(records, first + BATCH) + 1):
            owner = rng.randrange(PERSONS)
            content: dict[str, Any] = {
                "plate": f"BP{pk:08d}",
                "vin": f"VIN{pk:014d}",
                "make": rng.choice(MAKES),
                "model": "Model",
                "colour": rng.choice(COLOURS),
                "year": rng.randint(1990, 2025),
                "owner_national_id": _national_id(owner),
                "owner_name": f"Bench P{owner}",
            }
            personal = {k: content[k] for k in definition.personal_fields}
            data = {k: v for k, v in content.items() if k not in personal}
            record_uuid = uuid.UUID(int=rng.getrandbits(128), version=4)
            if pk % max(1, records // 2000) == 0:
                samples.append(str(record_uuid))
            raw = {
                "uuid": record_uuid,
                "data": data,
                "personal": json.dumps(personal, sort_keys=True),
                "created_at": now,
                "updated_at": now,
            }
            prepared = {c: prep[c].get_db_prep_save(raw[c], connection) for c in prep}
            rows.append(
                (
                    pk,
                    definition.pk,
                    prepared["uuid"],
                    content["plate"],
                    prepared["data"],
                    prepared["personal"],
                    1,
                    actor.pk,
                    actor.pk,
                    prepared["created_at"],
                    prepared["updated_at"],
                )
            )
            for field in definition.searchable_fields:
                for text in index_values(content.get(field)):
                    value = (
                        index_value(definition, field, text)
                        if field in definition.personal_fields
                        else text
                    )
                    values.append((definition.pk, field, value, pk))
            links.append((pk, "owner_national_id", persons[owner]))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(record_sql, rows)
            cursor.executemany(value_sql, values)
            cursor.executemany(person_sql, links)
        if first and first % (BATCH * 40) == 0:
            say(f"    {first:,} records loaded ({time.perf_counter() - started:.0f} s)")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            table = RegistryRecord._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", [records])
            # as autovacuum would: statistics, and the visibility map index-only scans need
            for name in (table, RegistryFieldValue._meta.db_table):
                cursor.execute(f"VACUUM ANALYZE {quote(name)}")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return definition, actor, samples


def child_run(*, records: int, seed: int, queries: int, baseline: int) -> dict[str, Any]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    from bench.cases import _django

    _django(os.environ["DATABASE_URL"])
    from django.db import connection

    from registries import selectors
    from registries.models import RegistryRecord

    started = time.perf_counter()
    definition, actor, samples = _load(records, seed)
    load_seconds = time.perf_counter() - started
    say(f"  loaded {records:,} records in {load_seconds:.0f} s; measuring")
    rng = random.Random(seed + 1)  # noqa: S311
    ids = [rng.choice(samples) for _ in range(queries + 5)]
    makes = [rng.choice(MAKES) for _ in range(queries + 5)]
    owners = [_national_id(rng.randrange(PERSONS)) for _ in range(queries + 5)]
    out: dict[str, Any] = {"records": records, "load_seconds": round(load_seconds, 1)}
    out["vendor"] = connection.vendor

    def read(n: int) -> None:
        selectors.record_get(viewer=actor, definition=definition, reference=ids[n], purpose="bench")

    def search(filters: dict[str, str]) -> Any:
        return selectors.record_search(
            viewer=actor, definition=definition, filters=filters, page_size=10, purpose="bench"
        )

    counts: list[int] = []

    def broad(n: int) -> None:
        counts.append(search({"make": makes[n]}).count)

    def selective(n: int) -> None:
        search({"owner_national_id": owners[n]})

    def scan(n: int) -> None:
        qs = RegistryRecord.objects.filter(definition=definition, data__make=makes[n])
        qs.count()
        list(qs.order_by("pk")[:10])

    out["read_by_id"] = _timed(read, queries)
    out["search_broad"] = _timed(broad, queries)
    out["search_broad"]["mean_matches"] = round(statistics.mean(counts))
    out["search_selective"] = _timed(selective, queries)
    out["baseline_json_scan"] = _timed(scan, baseline, warmup=1)
    return out


# --- the parent ----------------------------------------------------------------------------


def child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    run = run_child([PY, "-m", "bench.registries", *args], env=env)
    out: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    out["peak_rss_mb"] = round(run.peak_rss_mb, 1)
    return out


def measure(options: argparse.Namespace, *, postgres_url: str = "") -> dict[str, Any]:
    from bench.cases import postgres_env, sqlite_env

    args = [
        "child",
        "--records",
        str(options.records),
        "--seed",
        str(options.seed),
        "--queries",
        str(options.queries),
        "--baseline",
        str(options.baseline),
    ]
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    runs: dict[str, Any] = {}
    say(f"SQLite: {options.records:,} records")
    with sqlite_env() as env:
        runs["sqlite"] = child(args, env)
    if postgres_url:
        say(f"PostgreSQL: {options.records:,} records")
        with postgres_env(postgres_url) as env:
            runs["postgresql"] = child(args, env)
    else:
        runs["postgresql"] = {"not_run": "no --postgres-url (or postgres DATABASE_URL) given"}
    met = {}
    for db, out in runs.items():
        if "read_by_id" not in out:
            continue
        met[db] = {
            "read": out["read_by_id"]["p95_ms"] <= TARGET_READ_P95_MS,
            "search": max(out["search_broad"]["p95_ms"], out["search_selective"]["p95_ms"])
            <= TARGET_SEARCH_P95_MS,
        }
    return {
        "load_before": load_before,
        "load_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "target_read_p95_ms": TARGET_READ_P95_MS,
        "target_search_p95_ms": TARGET_SEARCH_P95_MS,
        "met": met,
        "runs": runs,
    }


def doc_body(result: dict[str, Any]) -> str:
    from bench.common import machine_line

    m = result["measurements"]
    rows = []
    for db, out in m["runs"].items():
        if "read_by_id" not in out:
            rows.append([db, "not run", "", "", "", ""])
            continue

        def fig(key: str, out: dict[str, Any] = out) -> str:
            return f"{out[key]['p50_ms']} / {out[key]['p95_ms']}"

        rows.append(
            [
                db,
                f"{out['records']:,} (loaded in {out['load_seconds']:.0f} s)",
                fig("read_by_id"),
                fig("search_broad"),
                fig("search_selective"),
                fig("baseline_json_scan"),
            ]
        )
    table = markdown_table(
        [
            "database",
            "records",
            "read by id p50 / p95 (ms)",
            "search `make` (~10% match) p50 / p95",
            "search owner (blind index) p50 / p95",
            "baseline: JSON scan for `make`",
        ],
        rows,
    )
    note = result["options"].get("note") or ""
    return f"""## Digital registries: read by id and filtered search (`make bench-registries`)

Targets: p95 ≤ {m["target_read_p95_ms"]:.0f} ms for a read by id, ≤
{m["target_search_p95_ms"]:.0f} ms for a filtered search on a declared field. Measured
through the selectors the GovStack API calls (authorisation and one audit entry per
record and person read included; HTTP excluded). A search returns a page of 10 and the
total count. The baseline answers the same broad filter by scanning the JSON column.
Met: {json.dumps(m["met"])}.

{table}

{machine_line(result["machine"])}; load average {m["load_before"]} before, {m["load_after"]} after.
{note}
"""


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="mode")
    kid = sub.add_parser("child")
    for p in (parser, kid):
        p.add_argument("--records", type=int, default=1_000_000)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--queries", type=int, default=300, help="timed queries of each kind")
        p.add_argument("--baseline", type=int, default=5, help="timed JSON-scan queries")
    parser.add_argument("--postgres-url", default="")
    parser.add_argument("--note", default="", help="a sentence for the docs section")
    parser.add_argument("--no-write", action="store_true", help="print JSON, write nothing")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    options = parse(sys.argv[1:] if argv is None else argv)
    if options.mode == "child":
        out = child_run(
            records=options.records,
            seed=options.seed,
            queries=options.queries,
            baseline=options.baseline,
        )
        print(json.dumps(out))
        return
    postgres_url = options.postgres_url or os.environ.get("DATABASE_URL", "")
    if not postgres_url.startswith(("postgres://", "postgresql://")):
        postgres_url = ""
    options.postgres_url = bool(postgres_url)  # the URL may hold a password: not written
    import functools

    measure_and_publish(
        NAME, options, functools.partial(measure, postgres_url=postgres_url), doc_body
    )


if __name__ == "__main__":
    main()
