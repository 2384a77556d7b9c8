"""Benchmark: seeding the demo government (issue 2, point 8).

Claim: "Deterministic for a seed; 10,000 people in under a minute; 1,000,000 people in
bounded memory (streamed) for benchmarks." Determinism is covered by the tests; this
measures the rest, each run in its own child process (`make bench-seed`):

1. `manage.py seed_demo --people N` into a freshly migrated SQLite database in a temporary
   directory: wall time against the 60 s target. Baseline: the same population loaded with
   one `SourceRecord.save()` per row instead of `source_records_load`'s `bulk_create`,
   both on a smaller population in one transaction, compared per record.
2. Streaming the generator for growing populations without keeping anything: peak RSS
   should not grow. Baseline: the records of a population materialised in a list.
3. Opt-in (`--full-load N`): `seed_demo --people N` for a large N, its peak RSS against
   that of the seed_demo runs in step 1.

    python -m bench.seed --people 10000 --repeat 3 --stream 10000,100000,1000000
"""

import argparse
import contextlib
import functools
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.common import (
    ChildRun,
    machine_line,
    markdown_table,
    measure_and_publish,
    median,
    run_child,
    say,
)

NAME = "seed"
TARGET_SECONDS = 60.0
# "Flat": the largest streamed population may peak at most this much above the smallest.
FLAT_TOLERANCE = 1.10
PY = sys.executable
SEEDED = re.compile(r"people and ([\d,]+) source records .* in ([\d.]+)s\.")


# --- children: what runs inside each measured process -----------------------------------


def child_stream(*, people: int, seed: int, materialise: bool) -> dict[str, Any]:
    """Generate `people` people's records, keeping none (or, as the baseline, all)."""
    from demo.synth import Population

    population = Population(people=people, seed=seed)
    started = time.perf_counter()
    if materialise:
        held = list(population.records())
        records = len(held)
    else:
        records = sum(1 for _ in population.records())
    return {"records": records, "seconds": time.perf_counter() - started}


def child_load(*, people: int, seed: int, naive: bool) -> dict[str, Any]:
    """Load `people` people's records into a migrated database, in one transaction.

    Bulk is the seed's own loader (`bulk_create` in batches); naive saves row by row, the
    same rows (`services._source_record`), which is what the bulk loader replaces.
    """
    import django

    django.setup()
    from django.db import transaction
    from django.utils import timezone

    from demo import services
    from demo.synth import Population
    from identity.services import system_actor

    actor = system_actor()
    agencies = services.demo_agencies_ensure(actor=actor)
    ids = {code: agency.pk for code, agency in agencies.items()}
    population = Population(people=people, seed=seed)
    started = time.perf_counter()
    with transaction.atomic():
        if naive:
            loaded_at = timezone.now()
            for record in population.records():
                services._source_record(
                    record, agency_id=ids[record.agency], loaded_at=loaded_at
                ).save()
        else:
            services.source_records_load(actor=actor, population=population, agencies=agencies)
    records = population.stats.record_total
    return {"records": records, "seconds": time.perf_counter() - started}


# --- the parent: fresh databases, runs, figures -----------------------------------------


@contextlib.contextmanager
def fresh_database() -> Iterator[dict[str, str]]:
    """A migrated SQLite database and key file in a temporary directory (not var/)."""
    with tempfile.TemporaryDirectory(prefix="civicstack-bench-") as tmp:
        var = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k != "CIVICSTACK_KEYS"}
        env |= {
            "DJANGO_SETTINGS_MODULE": "config.settings.dev",
            "CIVICSTACK_VAR_DIR": str(var),
            "DATABASE_URL": f"sqlite:///{var / 'bench.sqlite3'}",
            "CIVICSTACK_KEY_FILE": str(var / "keys.json"),
            "LOG_LEVEL": "WARNING",
        }
        run_child([PY, "manage.py", "migrate", "--noinput"], env=env)
        yield env


def seed_command(*, people: int, seed: int) -> dict[str, Any]:
    with fresh_database() as env:
        run = run_child(
            [PY, "manage.py", "seed_demo", "--people", str(people), "--seed", str(seed)], env=env
        )
    found = SEEDED.search(run.stdout)
    if found is None:
        raise RuntimeError(f"unexpected seed_demo output: {run.stdout!r}")
    records = int(found.group(1).replace(",", ""))
    return {
        "seconds": round(run.seconds, 2),
        "command_seconds": float(found.group(2)),
        "records": records,
        "records_per_second": round(records / run.seconds),
        "peak_rss_mb": round(run.peak_rss_mb, 1),
    }


def child(
    args: Sequence[str], env: dict[str, str] | None = None
) -> tuple[ChildRun, dict[str, Any]]:
    run = run_child([PY, "-m", "bench.seed", *args], env=env)
    return run, json.loads(run.stdout.strip().splitlines()[-1])


def load(*, people: int, seed: int, naive: bool) -> dict[str, Any]:
    with fresh_database() as env:
        args = ["child-load", "--people", str(people), "--seed", str(seed)]
        _, out = child([*args, "--naive"] if naive else args, env)
    return {
        "seconds": round(out["seconds"], 2),
        "records": out["records"],
        "records_per_second": round(out["records"] / out["seconds"]),
    }


def stream(*, people: int, seed: int, materialise: bool) -> dict[str, Any]:
    args = ["child-stream", "--people", str(people), "--seed", str(seed)]
    run, out = child([*args, "--materialise"] if materialise else args)
    return {
        "seconds": round(out["seconds"], 2),
        "records": out["records"],
        "people_per_second": round(people / out["seconds"]) if out["seconds"] else None,
        "peak_rss_mb": round(run.peak_rss_mb, 1),
    }


def repeated(label: str, times: int, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `measure()` `times` times; all runs plus the median of each numeric field."""
    runs = []
    for number in range(1, times + 1):
        runs.append(measure())
        say(f"  {label}, run {number}/{times}: {runs[-1]}")
    fields = [k for k, v in runs[0].items() if isinstance(v, int | float)]
    medians = {f"median_{k}": median([r[k] for r in runs]) for k in fields}
    return {"runs": runs, **medians}


def measure(options: argparse.Namespace) -> dict[str, Any]:
    seed = options.seed
    say(f"seed_demo --people {options.people} on a fresh database, {options.repeat} runs")
    seeding = repeated(
        "seed_demo",
        options.repeat,
        lambda: seed_command(people=options.people, seed=seed),
    )
    seeding |= {"people": options.people, "target_seconds": TARGET_SECONDS}
    seeding["met"] = seeding["median_seconds"] < TARGET_SECONDS

    say(f"loaders on {options.loader_people} people: bulk_create vs one save() per row")
    bulk = repeated(
        "bulk",
        options.repeat,
        lambda: load(people=options.loader_people, seed=seed, naive=False),
    )
    naive = repeated(
        "naive",
        options.repeat,
        lambda: load(people=options.loader_people, seed=seed, naive=True),
    )
    loaders = {
        "people": options.loader_people,
        "bulk": bulk,
        "naive": naive,
        "ratio": round(bulk["median_records_per_second"] / naive["median_records_per_second"], 2),
    }

    say(f"streaming {options.stream} people, {options.memory_repeat} run(s) each")
    streamed = {
        str(n): repeated(
            f"stream {n:,}",
            options.memory_repeat,
            functools.partial(stream, people=n, seed=seed, materialise=False),
        )
        for n in options.stream
    }
    say(f"materialising {options.list_people} people's records in a list")
    listed = repeated(
        f"list {options.list_people:,}",
        options.memory_repeat,
        lambda: stream(people=options.list_people, seed=seed, materialise=True),
    )
    smallest, largest = streamed[str(min(options.stream))], streamed[str(max(options.stream))]
    growth = largest["median_peak_rss_mb"] / smallest["median_peak_rss_mb"]
    memory = {
        "streamed": streamed,
        "materialised": listed | {"people": options.list_people},
        "growth": round(growth, 3),
        "target_growth": FLAT_TOLERANCE,
        "met": growth <= FLAT_TOLERANCE,
    }

    full_load = None
    if options.full_load:
        say(f"seed_demo --people {options.full_load} (opt-in full load), 1 run")
        full = repeated(
            f"seed_demo {options.full_load:,}",
            1,
            lambda: seed_command(people=options.full_load, seed=seed),
        )
        growth = full["median_peak_rss_mb"] / seeding["median_peak_rss_mb"]
        full_load = full | {
            "people": options.full_load,
            "growth": round(growth, 3),
            "target_growth": FLAT_TOLERANCE,
            "met": growth <= FLAT_TOLERANCE,
        }
    return {
        "seed_demo": seeding,
        "loaders": loaders,
        "memory": memory,
        "full_load": full_load,
    }


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def doc_body(result: dict[str, Any]) -> str:
    m, opts = result["measurements"], result["options"]
    seeding, loaders, memory = m["seed_demo"], m["loaders"], m["memory"]
    bulk, naive = loaders["bulk"], loaders["naive"]
    streamed = memory["streamed"]
    sizes = sorted(int(n) for n in streamed)
    small = streamed[str(sizes[0])]
    listed = memory["materialised"]
    at_list = streamed.get(str(listed["people"]))
    rows = [
        [
            f"`seed_demo --people {seeding['people']:,}`, fresh database: wall time "
            f"({seeding['runs'][0]['records']:,} records)",
            f"{seeding['median_seconds']:.1f} s ({seeding['median_records_per_second']:,.0f} "
            "records/s)",
            "",
            "",
            f"< {TARGET_SECONDS:.0f} s",
            _yes(seeding["met"]),
        ],
        [
            f"loading {loaders['people']:,} people ({bulk['runs'][0]['records']:,} records) "
            "in one transaction: records/s",
            f"{bulk['median_records_per_second']:,.0f}/s (bulk_create)",
            f"{naive['median_records_per_second']:,.0f}/s (a `save()` per row)",
            f"{loaders['ratio']:.1f}x",
            "faster than the baseline",
            _yes(loaders["ratio"] > 1),
        ],
    ]
    for n in sizes:
        run = streamed[str(n)]
        peak = run["median_peak_rss_mb"]
        first, last = n == sizes[0], n == sizes[-1]
        rows.append(
            [
                f"generating {n:,} people streamed ({run['runs'][0]['records']:,} records, "
                f"{run['median_people_per_second']:,.0f} people/s): peak RSS",
                f"{peak:.0f} MB",
                "" if first else f"{small['median_peak_rss_mb']:.0f} MB ({sizes[0]:,} people)",
                "" if first else f"{peak / small['median_peak_rss_mb']:.2f}x",
                f"≤ {FLAT_TOLERANCE:.2f}x the {sizes[0]:,}-people peak" if last else "",
                _yes(memory["met"]) if last else "",
            ]
        )
    if at_list is not None:
        rows.append(
            [
                f"baseline: the records of {listed['people']:,} people kept in a list: peak RSS",
                f"{listed['median_peak_rss_mb']:,.0f} MB",
                f"{at_list['median_peak_rss_mb']:.0f} MB (streamed)",
                f"{listed['median_peak_rss_mb'] / at_list['median_peak_rss_mb']:.1f}x",
                "",
                "",
            ]
        )
    full = m["full_load"]
    if full:
        rows.append(
            [
                f"`seed_demo --people {full['people']:,}`, fresh database: peak RSS "
                f"({full['median_seconds'] / 60:.1f} min, "
                f"{full['median_records_per_second']:,.0f} records/s)",
                f"{full['median_peak_rss_mb']:.0f} MB",
                f"{seeding['median_peak_rss_mb']:.0f} MB ({seeding['people']:,} people)",
                f"{full['growth']:.2f}x",
                f"≤ {FLAT_TOLERANCE:.2f}x",
                _yes(full["met"]),
            ]
        )
    table = markdown_table(["measurement", "median", "baseline", "ratio", "target", "met?"], rows)
    runs = f"Median of {opts['repeat']} runs" if opts["repeat"] != 1 else "One run"
    memory_runs = (
        f"Median of {opts['memory_repeat']} runs" if opts["memory_repeat"] != 1 else "One run"
    )
    full_note = (
        f"- **full load** (opt-in): `seed_demo --people {full['people']:,}` the same way, one\n"
        "  run; its peak RSS against the median of the seed_demo runs above.\n"
        if full
        else "\nThe full load of 1,000,000 people is opt-in "
        "(`make bench-seed BENCH_FULL_LOAD=1000000`, about 15 minutes more).\n"
    )
    return f"""\
## Seeding the demo government (`make bench-seed`)

Issue 2, point 8: "10,000 people in under a minute; 1,000,000 people in bounded memory
(streamed) for benchmarks." Determinism for a seed is covered by the tests.

Machine: {machine_line(result["machine"])}.

Seed {opts["seed"]}; the whole benchmark took {result["seconds"] / 60:.1f} min.

`make bench-seed` runs it. Make variables change the sizes for a quicker run:
`BENCH_PEOPLE` (seed_demo population, default 10000), `BENCH_REPEAT` (runs per timing, 3),
`BENCH_LOADER_PEOPLE` (bulk against per-row saves, 2000), `BENCH_STREAM` (populations
streamed, 10000,100000,1000000), `BENCH_LIST_PEOPLE` (the materialised baseline, 100000),
`BENCH_FULL_LOAD` (opt-in seed_demo of that many people, 0 = off), `SEED`.

{table}

What was measured, each run in its own child process:

- **seed_demo**: `manage.py seed_demo --people {seeding["people"]:,}` with
  `config.settings.dev` (DEBUG on, as `make demo`), on SQLite in a temporary directory,
  migrated just before each run (not timed); the wall time of the whole command,
  interpreter start-up, agencies and demo accounts (Argon2 hashing) included. {runs}.
- **loading**: the records of the first {loaders["people"]:,} people, loaded into a migrated
  database in one transaction, timed from the first record to the commit: the seed's own
  loader (`source_records_load`, `bulk_create` in batches of 2,000) against the same rows
  saved one `SourceRecord.save()` at a time. {runs} each; ratio of the medians. Both
  include generating the records, building the rows, encrypting the national ID and its
  blind index; on SQLite an INSERT is an in-process call, so a per-row save costs little
  more than that shared work. Over a network connection (PostgreSQL) each save is also a
  round trip.
- **peak RSS**: the child's maximum resident set size (`os.wait4`), interpreter and imports
  included, while it generates the population and counts the records without keeping
  them; the baseline keeps the records of {listed["people"]:,} people in a list, as a
  non-streaming seed would (before even building the model rows). {memory_runs} each.
{full_note}
All runs: [bench/results/seed.json](../bench/results/seed.json).
"""


def parse(argv: Sequence[str]) -> argparse.Namespace:
    def people_list(text: str) -> list[int]:
        return sorted({int(n) for n in text.split(",") if n.strip()})

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="mode")
    for name in ("child-stream", "child-load"):
        one = sub.add_parser(name)
        one.add_argument("--people", type=int, required=True)
        one.add_argument("--seed", type=int, default=1)
        one.add_argument("--materialise", action="store_true")
        one.add_argument("--naive", action="store_true")
    parser.add_argument("--people", type=int, default=10_000, help="seed_demo population")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing")
    parser.add_argument("--loader-people", type=int, default=2_000, help="bulk vs naive")
    parser.add_argument("--stream", type=people_list, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--list-people", type=int, default=100_000, help="baseline list")
    parser.add_argument("--memory-repeat", type=int, default=1, help="runs of each peak")
    parser.add_argument("--full-load", type=int, default=0, help="opt-in seed_demo size")
    parser.add_argument("--no-write", action="store_true", help="print JSON, write nothing")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    options = parse(sys.argv[1:] if argv is None else argv)
    if options.mode == "child-stream":
        out = child_stream(
            people=options.people, seed=options.seed, materialise=options.materialise
        )
        print(json.dumps(out))
        return
    if options.mode == "child-load":
        print(json.dumps(child_load(people=options.people, seed=options.seed, naive=options.naive)))
        return
    if options.list_people not in options.stream:
        options.stream = sorted({*options.stream, options.list_people})
    measure_and_publish(NAME, options, measure, doc_body)


if __name__ == "__main__":
    main()
