"""CivicStack's synthetic-government run from ingest to golden records (bench/linkage.py).

The clock covers what an operator runs to build the master person index from the four
agencies' exports, through the production code only:

1. **load**: `manage.py ingest --agency CODE FILE --mapping FILE` for each agency's CSV
   export (the command's own code: decoding, CSV parsing, the feed mapping, validation,
   standardisation with `registry.standardise`, encryption and blind indexes of the
   national ID, the upsert in chunks, rejected rows kept with their reasons, the batch's
   audit entry and the real-time matching task queued per chunk, which a worker would run
   later: with no model trained yet it only counts the records as waiting), in the
   command's own process (no `REGISTRY_INGEST_WORKERS`, the default);
2. `manage.py link` (`registry.services.linkage.link_run`), reporting its stages:
   **link** (reading the records from the database, training the model without labels,
   predicting and clustering), **persist** (stable person ids, persons, the records'
   persons, membership events, review pairs) and **golden** (the golden record of every
   person, by the survivorship rules).

Outside the clock: generating the records, writing the CSV files, migrating the empty
database and creating the agencies; afterwards, reading every record's person for scoring.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

# link_run's stages, in the order it runs them (registry.services.linkage)
LINK_STAGES = ("read", "train", "link", "persist", "golden")

# The export the benchmark writes for each agency: the common person schema's names, the
# agency's own attributes as further columns (kept as the record's extra attributes), an
# unreadable date of birth kept as it was sent, as the demo's legacy systems send them.
MAPPING = """\
description: Synthetic government export (benchmark)
record_id: agency_record_id
format: csv
encoding: utf-8
unknown_columns: extra
fields:
  given_name: given_name
  middle_name: middle_name
  family_name: family_name
  previous_family_name: previous_family_name
  date_of_birth:
    column: date_of_birth
    formats: ["%Y-%m-%d"]
    on_error: keep_raw
  sex: sex
  address_line: address_line
  locality: locality
  postcode: postcode
  phone: phone
  email: email
  national_id: national_id
  household_ref: household_ref
  source_updated_at: source_updated_at
"""
COLUMNS = (
    "given_name",
    "middle_name",
    "family_name",
    "previous_family_name",
    "date_of_birth",
    "sex",
    "address_line",
    "locality",
    "postcode",
    "phone",
    "email",
    "national_id",
    "household_ref",
    "source_updated_at",
)


def feed_files_write(*, raw: Path, directory: Path) -> dict[str, Path]:
    """One CSV export per agency from the benchmark's raw records (raw.parquet)."""
    import pandas as pd

    frame = pd.read_parquet(raw)
    dob = frame["date_of_birth"].where(frame["date_of_birth"] != "", frame["date_of_birth_raw"])
    frame = frame.assign(date_of_birth=dob).rename(columns={"record_id": "agency_record_id"})
    files = {}
    for agency, part in frame.groupby("source", sort=True):
        extra = pd.DataFrame([json.loads(e) for e in part["extra"]], index=part.index)
        out = pd.concat([part[["agency_record_id", *COLUMNS]], extra], axis=1).fillna("")
        path = directory / f"{agency}.csv"
        out.to_csv(path, index=False)
        files[str(agency)] = path
    (directory / "mapping.yaml").write_text(MAPPING, encoding="utf-8")
    return files


class _MemorySampler:
    """The process's resident memory, sampled every `every` seconds on a thread, so each
    stage's peak can be told apart afterwards (VmHWM gives only the whole run's)."""

    def __init__(self, every: float = 0.2) -> None:
        import threading

        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._every = every
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss_mb(self) -> float:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self._rss_mb()))
            self._stop.wait(self._every)

    def __enter__(self) -> _MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peaks(self, started: float, stages: list[tuple[str, float]]) -> dict[str, float]:
        """The highest sample within each of the consecutive stages (name, seconds)."""
        out: dict[str, float] = {}
        start = started
        for name, seconds in stages:
            end = start + seconds
            inside = [mb for t, mb in self.samples if start <= t <= end]
            out[name] = round(max(inside, default=0.0), 1)
            start = end
        return out


def child_pipeline(*, feeds: Path, out: Path) -> dict[str, Any]:
    """Ingest every agency's file, link, persist, golden records; the seconds of each stage.

    Runs in a child process on a freshly migrated database (bench.seed.fresh_database).
    """
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    import django

    django.setup()
    import pandas as pd
    from django.core.management import call_command
    from django.db.models import Q

    from demo import services as demo_services
    from identity.services import system_actor
    from registry.models import IngestBatch, Person, SourceRecord
    from registry.services import linkage as linkage_services

    actor = system_actor()
    demo_services.demo_agencies_ensure(actor=actor)
    files = sorted(feeds.glob("*.csv"))
    mapping = feeds / "mapping.yaml"
    import registry.linkage.pipeline  # noqa: F401  - imported before the clock

    with _MemorySampler() as memory:
        started = time.perf_counter()
        for path in files:
            call_command(
                "ingest", str(path), agency=path.stem, mapping=str(mapping), no_progress=True
            )
        load = time.perf_counter() - started
        stages: dict[str, float] = {}
        linkage_services.link_run(actor=actor, timings=stages)
        seconds = time.perf_counter() - started
    order = [("load", load), *((name, stages.get(name, 0.0)) for name in LINK_STAGES)]

    rows = SourceRecord.objects.values_list("agency__code", "agency_record_id", "person_id")
    pd.DataFrame(
        list(rows.iterator(chunk_size=20_000)), columns=["source", "record_id", "person"]
    ).to_parquet(out, index=False)
    batches = IngestBatch.objects.values_list("rejected_count", "created_count")
    return {
        "seconds": seconds,
        "load_seconds": load,
        "link_seconds": stages["read"] + stages["train"] + stages["link"],
        "train_seconds": stages["train"],
        "persist_seconds": stages["persist"],
        "golden_seconds": stages["golden"],
        "peak_mb_by_stage": memory.peaks(started, order),
        # the deployment's cap on DuckDB's memory (empty: DuckDB's default, 80% of memory)
        "duckdb_memory_limit": os.environ.get("REGISTRY_LINKAGE_DUCKDB_MEMORY", ""),
        "loaded": sum(created for _, created in batches),
        "rejected": sum(rejected for rejected, _ in batches),
        "persons": Person.objects.filter(retired_at__isnull=True).count(),
        # every record has a given or a family name, so every golden record has one
        "golden_records": Person.objects.filter(retired_at__isnull=True)
        .filter(~Q(given_name="") | ~Q(family_name=""))
        .count(),
    }
