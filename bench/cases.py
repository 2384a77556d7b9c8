"""Benchmark: the case engine end to end, and re-evaluating past cases (issue 7, "Benchmarks").

Claims: "end-to-end cases per second (submit -> automated decision -> notification,
persisted) for 10,000 cases on SQLite and on PostgreSQL, beside plain SpiffWorkflow running
the same BPMN and an equivalent decision in memory, in the same run [...] Target >= 150
cases/s on SQLite" and "bulk re-evaluation of eligibility for 100,000 existing cases under a
new rule version: target <= 2 minutes". `make bench-cases` runs it:

1. **End to end.** A child process pinned to one core migrates a fresh database (SQLite: a
   file in a temporary directory, WAL, as `make demo` uses it; PostgreSQL: a database created
   for the run on the server of `--postgres-url`, dropped after), deploys the service in
   `bench/fixtures/cases-benefit/` (BPMN: decide eligibility with a DMN table, a gateway, a
   cooling-off timer, notify the applicant), then submits N applications through
   `cases.services.engine.case_submit`, each run to completion and committed (the case,
   the decision's evaluation, its explanation and audit entries, the notification, the event
   log, the saved workflow state). Inputs avoid the table's human-review band, so every case
   is decided automatically. The queries and commits of one case are counted too.
2. **Plain SpiffWorkflow**, in the same invocation and on the same core: the same process in
   SpiffWorkflow's own dialect (`bench/fixtures/cases-benefit-spiff/`: Python conditions and
   scripts, the same decision table with Python entries, the notification written into the
   workflow data), N instances in memory; and the same with one save and reload of every
   instance (SpiffWorkflow's own JSON serializer, process spec included) where it waits at
   the cooling-off timer. All three must give the same outcomes for the same inputs.
3. **Re-evaluation.** A fresh SQLite database holds M decided cases of the service (loaded in
   bulk: cases, recorded evaluations with their inputs, case decisions; the outcomes those
   of the deployed table), then a candidate version of the table moves the approval
   threshold, and `cases.services.simulation.case_decisions_reevaluate` replays every case's
   recorded inputs on it. Its count of changed outcomes must equal the count computed
   directly from the inputs.

    python -m bench.cases --cases 10000 --reevaluate 100000 --seed 1
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import random
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.common import (
    ROOT,
    machine_line,
    markdown_table,
    measure_and_publish,
    run_child,
    say,
)

NAME = "cases"
TARGET_PER_SECOND = 150
TARGET_REEVALUATE_SECONDS = 120
PY = sys.executable
FIXTURES = ROOT / "bench" / "fixtures"
SERVICE_DIR = FIXTURES / "cases-benefit"
SPIFF_DIR = FIXTURES / "cases-benefit-spiff"
WARMUP = 50  # cases run before the clock starts (imports, caches, the first parse)
CANDIDATE_THRESHOLD = 22_000  # the candidate approves incomes below this (was 20,000)

Inputs = dict[str, int]


# --- inputs and the reference decision ---------------------------------------------------


def application(rng: random.Random) -> Inputs:
    """An applicant decided automatically: outside the review band [20,000..30,000)."""
    age = rng.randint(14, 17) if rng.random() < 0.05 else rng.randint(18, 90)
    income = rng.randrange(0, 20_000) if rng.random() < 0.6 else rng.randrange(30_000, 90_000)
    return {"age": age, "income": income}


def past_application(rng: random.Random) -> Inputs:
    """A past applicant: any income, the review band included."""
    age = rng.randint(14, 17) if rng.random() < 0.05 else rng.randint(18, 90)
    return {"age": age, "income": rng.randrange(0, 60_000)}


def applications(count: int, seed: int, *, past: bool = False) -> list[Inputs]:
    rng = random.Random(seed)  # noqa: S311 (reproducible inputs, not secrets)
    make = past_application if past else application
    return [make(rng) for _ in range(count)]


def reference_outcome(inputs: Inputs, *, low_below: int = 20_000) -> str:
    """The table of `cases-benefit/eligibility.dmn`, in Python."""
    if inputs["age"] < 18:
        return "reject"
    if inputs["income"] < low_below:
        return "approve"
    if inputs["income"] < 30_000:
        return "review"
    return "reject"


def digest(outcomes: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(outcomes).encode()).hexdigest()[:16]


def pin(core: int) -> bool:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {core})
        return True
    return False


# --- children ----------------------------------------------------------------------------


def _django(env_url: str) -> None:
    os.environ["DATABASE_URL"] = env_url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _setup_service() -> tuple[Any, Any]:
    from cases.services import definitions
    from identity.models import Agency
    from identity.services import system_actor

    system = system_actor()
    Agency.objects.get_or_create(code="health", defaults={"name": "Health"})
    version = definitions.service_deploy(actor=system, directory=SERVICE_DIR)
    return version, system


def _citizens(count: int) -> list[Any]:
    from identity.choices import UserKind
    from identity.models import User

    users = [
        User(username=f"bench-citizen-{n}", kind=UserKind.CITIZEN, password="!")
        for n in range(count)
    ]
    User.objects.bulk_create(users, batch_size=500)
    return list(User.objects.filter(username__startswith="bench-citizen-").order_by("id"))


def _keyword(sql: str) -> str:
    """A logged statement's first keyword (an executemany is logged as "N times: SQL")."""
    words = sql.split(None, 3)
    if len(words) > 2 and words[0].isdigit() and words[1] == "times:":
        return words[2].upper()
    return words[0].upper()


def child_e2e(*, cases: int, seed: int, core: int) -> dict[str, Any]:
    pinned = pin(core)
    _django(os.environ["DATABASE_URL"])
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from cases.choices import CaseStatus
    from cases.models import Case, CaseDecision, Notification
    from cases.services import engine

    version, _ = _setup_service()
    service = version.service
    people = _citizens(200)
    inputs = applications(cases, seed)

    def submit(n: int, data: Inputs) -> Any:
        citizen = people[n % len(people)]
        return engine.case_submit(service=service, data=data, applicant=citizen, actor=citizen)

    warm = applications(WARMUP, seed + 1)
    for n, data in enumerate(warm):
        submit(n, data)
    with CaptureQueriesContext(connection) as queries:
        submit(0, warm[0])
    statements = [_keyword(q["sql"]) for q in queries.captured_queries]
    before = Case.objects.count()
    started = time.perf_counter()
    for n, data in enumerate(inputs):
        submit(n, data)
    seconds = time.perf_counter() - started
    timed = Case.objects.order_by("id")[before:]
    rows = list(timed.values_list("id", "status", "result"))
    ids = [r[0] for r in rows]
    outcomes = [r[2].get("outcome", "") for r in rows]
    with connection.cursor() as cursor:
        cursor.execute(
            "SHOW server_version"
            if connection.vendor == "postgresql"
            else "SELECT sqlite_version()"
        )
        server = f"{connection.display_name} {cursor.fetchone()[0]}"
    return {
        "vendor": connection.vendor,
        "server": server,
        "pinned_core": core if pinned else None,
        "cases": len(rows),
        "seconds": round(seconds, 3),
        "per_second": round(len(rows) / seconds, 1),
        "completed": sum(1 for r in rows if r[1] == CaseStatus.COMPLETED),
        "decisions": CaseDecision.objects.filter(case_id__gte=ids[0]).count(),
        "notifications": Notification.objects.filter(case_id__gte=ids[0]).count(),
        "queries_per_case": len(statements),
        "commits_per_case": statements.count("COMMIT"),
        "statements": dict(Counter(statements)),
        "digest": digest(outcomes),
    }


def _spiff() -> tuple[Any, Any, Any]:
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
    from SpiffWorkflow.camunda.parser import CamundaParser
    from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG

    parser = CamundaParser()
    parser.add_bpmn_file(str(SPIFF_DIR / "process.bpmn"))
    parser.add_dmn_file(str(SPIFF_DIR / "eligibility.dmn"))
    spec = parser.get_spec("test_benefit")
    subprocesses = parser.get_subprocess_specs("test_benefit")
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(CAMUNDA_CONFIG))
    return spec, subprocesses, serializer


def child_spiff(*, cases: int, seed: int, core: int, persist: bool) -> dict[str, Any]:
    pinned = pin(core)
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    spec, subprocesses, serializer = _spiff()

    def run(n: int, data: Inputs) -> str:
        workflow = BpmnWorkflow(spec, subprocesses)
        start = workflow.get_tasks(state=TaskState.READY)[0]
        start.data.update({**data, "case_reference": f"BENCH-{n}"})
        workflow.do_engine_steps()  # runs to the cooling-off timer
        if persist:
            workflow = serializer.deserialize_json(serializer.serialize_json(workflow))
        workflow.refresh_waiting_tasks()
        workflow.do_engine_steps()
        if not workflow.is_completed():
            raise AssertionError(f"instance {n} did not complete")
        notice = workflow.last_task.data["notice"]
        return str(notice["body"]).removeprefix("The outcome: ").removesuffix(".")

    for n, data in enumerate(applications(WARMUP, seed + 1)):
        run(n, data)
    inputs = applications(cases, seed)
    started = time.perf_counter()
    outcomes = [run(n, data) for n, data in enumerate(inputs)]
    seconds = time.perf_counter() - started
    return {
        "pinned_core": core if pinned else None,
        "cases": cases,
        "seconds": round(seconds, 3),
        "per_second": round(cases / seconds, 1),
        "digest": digest(outcomes),
    }


def _load_past_cases(*, version: Any, system: Any, count: int, seed: int) -> list[Inputs]:
    """M decided cases as the engine leaves them, written in bulk (not what is timed)."""
    from django.db import transaction
    from django.utils import timezone

    from cases.choices import CaseStatus
    from cases.models import Case, CaseDecision
    from decisions import values
    from decisions.models import DecisionEvaluation, DecisionModelVersion

    ref = next(iter(version.decisions.values()))
    model_version = DecisionModelVersion.objects.get(pk=ref["version_id"])
    people = _citizens(200)
    inputs = applications(count, seed, past=True)
    now = timezone.now()
    batch = 2000
    for start in range(0, count, batch):
        chunk = inputs[start : start + batch]
        with transaction.atomic():
            cases = Case.objects.bulk_create(
                [
                    Case(
                        reference=f"PAST-{start + n:08d}",
                        service=version.service,
                        service_version=version,
                        agency_id=version.service.agency_id,
                        applicant=people[n % len(people)],
                        submitted_by=people[n % len(people)],
                        status=CaseStatus.COMPLETED,
                        data=data,
                        result={"outcome": reference_outcome(data)},
                        submitted_at=now,
                        updated_at=now,
                        completed_at=now,
                    )
                    for n, data in enumerate(chunk)
                ]
            )
            evaluations = DecisionEvaluation.objects.bulk_create(
                [
                    DecisionEvaluation(
                        version=model_version,
                        decision=ref["decision"],
                        inputs=values.encode_inputs(data),
                        outputs=reference_outcome(data),
                        evaluated_at=now,
                        actor_id=system.pk,
                        actor_label=system.username,
                        purpose=f"case {case.reference}",
                        case_ref=case.reference,
                    )
                    for case, data in zip(cases, chunk, strict=True)
                ]
            )
            CaseDecision.objects.bulk_create(
                [
                    CaseDecision(
                        case=case,
                        element_id="decide",
                        evaluation=evaluation,
                        model_version=model_version,
                        decision=ref["decision"],
                        outputs=evaluation.outputs,
                        decided_at=now,
                    )
                    for case, evaluation in zip(cases, evaluations, strict=True)
                ]
            )
    return inputs


def child_reevaluate(*, cases: int, seed: int, core: int) -> dict[str, Any]:
    pinned = pin(core)
    _django(os.environ["DATABASE_URL"])
    from cases.services import simulation
    from decisions import services as decision_services
    from decisions.models import DecisionModel
    from identity.choices import Role
    from identity.models import RoleAssignment, User

    version, system = _setup_service()
    started = time.perf_counter()
    inputs = _load_past_cases(version=version, system=system, count=cases, seed=seed)
    load_seconds = time.perf_counter() - started
    analyst = User.objects.create(username="bench-analyst", kind="staff", password="!")
    RoleAssignment.objects.create(
        user=analyst, role=Role.POLICY_ANALYST, agency=version.service.agency
    )
    analyst.is_verified = lambda: True  # type: ignore[attr-defined]  # MFA passed
    model = DecisionModel.objects.get(pk=next(iter(version.decisions.values()))["model_id"])
    xml = (SERVICE_DIR / "eligibility.dmn").read_text()
    xml = xml.replace("&lt; 20000", f"&lt; {CANDIDATE_THRESHOLD}")
    xml = xml.replace("[20000..30000)", f"[{CANDIDATE_THRESHOLD}..30000)")
    candidate = decision_services.decision_model_version_upload(
        actor=analyst, model=model, dmn_xml=xml, notes="benchmark candidate"
    )
    started = time.perf_counter()
    report = simulation.case_decisions_reevaluate(
        service=version.service, candidate_version=candidate, actor=analyst
    )
    seconds = time.perf_counter() - started
    expected = sum(
        1
        for data in inputs
        if reference_outcome(data) != reference_outcome(data, low_below=CANDIDATE_THRESHOLD)
    )
    if report.changed != expected or report.total != cases or report.errors:
        raise AssertionError(
            f"re-evaluation found {report.changed} changes of {report.total} "
            f"({report.errors} errors); the inputs say {expected} of {cases}"
        )
    return {
        "pinned_core": core if pinned else None,
        "cases": report.total,
        "load_seconds": round(load_seconds, 1),
        "seconds": round(seconds, 2),
        "per_second": round(report.total / seconds),
        "changed": report.changed,
        "transitions": report.transitions,
        "listed": len(report.changes),
    }


# --- the parent: databases, children, figures --------------------------------------------


def _env(var: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CIVICSTACK_KEYS"}
    env |= {
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "DEBUG": "0",  # as deployed: no query log kept in memory
        "CIVICSTACK_VAR_DIR": str(var),
        "DATABASE_URL": database_url,
        "CIVICSTACK_KEY_FILE": str(var / "keys.json"),
        "LOG_LEVEL": "WARNING",
    }
    return env


@contextlib.contextmanager
def sqlite_env() -> Iterator[dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="civicstack-bench-") as tmp:
        var = Path(tmp)
        yield _env(var, f"sqlite:///{var / 'bench.sqlite3'}")


@contextlib.contextmanager
def postgres_env(url: str) -> Iterator[dict[str, str]]:
    """A database made for this run on the server of `url`, dropped afterwards."""
    import psycopg

    name = f"civicstack_bench_{os.getpid()}"
    parts = urlsplit(url)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory(prefix="civicstack-bench-") as tmp:
            yield _env(Path(tmp), urlunsplit(parts._replace(path=f"/{name}")))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def child(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    run = run_child([PY, "-m", "bench.cases", *args], env=env)
    out: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    out["peak_rss_mb"] = round(run.peak_rss_mb, 1)
    return out


def _e2e_round(
    options: argparse.Namespace, common: list[str], n: str, postgres_url: str
) -> dict[str, dict[str, Any]]:
    """One run of every system, one after another on the same core."""
    out: dict[str, dict[str, Any]] = {}
    say(f"plain SpiffWorkflow, {options.cases:,} instances in memory, core {options.core}")
    out["spiff_memory"] = child(["child-spiff", "--cases", n, *common])
    say(f"  {out['spiff_memory']['per_second']}/s")
    say("plain SpiffWorkflow with one save and reload per instance")
    out["spiff_persisted"] = child(["child-spiff", "--persist", "--cases", n, *common])
    say(f"  {out['spiff_persisted']['per_second']}/s")
    say(f"CivicStack on SQLite: {options.cases:,} cases submitted end to end")
    with sqlite_env() as env:
        out["sqlite"] = child(["child-e2e", "--cases", n, *common], env)
    say(f"  {out['sqlite']['per_second']}/s, {out['sqlite']['queries_per_case']} queries")
    if postgres_url:
        say("CivicStack on PostgreSQL")
        with postgres_env(postgres_url) as env:
            out["postgresql"] = child(["child-e2e", "--cases", n, *common], env)
        say(f"  {out['postgresql']['per_second']}/s")
    return out


def _median_run(outs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median rate (the lower middle of an even count), with every rate."""
    ordered = sorted(outs, key=lambda o: o["per_second"])
    return {
        **ordered[(len(ordered) - 1) // 2],
        "per_second_runs": [o["per_second"] for o in outs],
    }


def measure(options: argparse.Namespace, *, postgres_url: str = "") -> dict[str, Any]:
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    common = ["--seed", str(options.seed), "--core", str(options.core)]
    n = str(options.cases)
    expected = digest([reference_outcome(a) for a in applications(options.cases, options.seed)])
    runs: dict[str, Any] = {}
    if "e2e" in options.only:
        rounds: dict[str, list[dict[str, Any]]] = {}
        for r in range(1, options.runs + 1):
            say(f"round {r} of {options.runs}")
            for key, out in _e2e_round(options, common, n, postgres_url).items():
                rounds.setdefault(key, []).append(out)
        runs |= {key: _median_run(outs) for key, outs in rounds.items()}
        if not postgres_url:
            runs["postgresql"] = {"not_run": "no --postgres-url (or postgres DATABASE_URL) given"}
        for key, outs in rounds.items():
            for out in outs:
                if "digest" in out and out["digest"] != expected:
                    raise AssertionError(f"{key}: the outcomes differ from the reference table")
                if key in ("sqlite", "postgresql"):
                    done = (out["completed"], out["decisions"], out["notifications"])
                    if done != (out["cases"],) * 3:
                        raise AssertionError(f"{key}: not every case completed: {done}")
    if "reevaluate" in options.only:
        say(f"re-evaluation of {options.reevaluate:,} past cases under a candidate version")
        with sqlite_env() as env:
            args = ["child-reevaluate", "--cases", str(options.reevaluate), *common]
            runs["reevaluate"] = child(args, env)
        say(f"  {runs['reevaluate']['seconds']} s, {runs['reevaluate']['changed']:,} changed")
    sqlite = runs.get("sqlite", {}).get("per_second")
    reevaluate = runs.get("reevaluate", {}).get("seconds")
    return {
        # other work on the machine slows every figure: quote the load with them
        "load_before": load_before,
        "load_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "reference_digest": expected,
        "runs": runs,
        "target_per_second": TARGET_PER_SECOND,
        "met_per_second": sqlite is not None and sqlite >= TARGET_PER_SECOND,
        "target_reevaluate_seconds": TARGET_REEVALUATE_SECONDS,
        "met_reevaluate": reevaluate is not None and reevaluate <= TARGET_REEVALUATE_SECONDS,
    }


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def _wrap(text: str, *, bullet: bool = False) -> str:
    return textwrap.fill(
        " ".join(text.split()),
        width=92,
        initial_indent="- " if bullet else "",
        subsequent_indent="  " if bullet else "",
        break_long_words=False,
        break_on_hyphens=False,
    )


def _rate(out: dict[str, Any] | None) -> str:
    if not out:
        return "not measured"
    if "not_run" in out:
        return f"not run ({out['not_run']})"
    every = out.get("per_second_runs", [])
    runs = f" (runs: {', '.join(f'{r:,.0f}' for r in every)})" if len(every) > 1 else ""
    return f"{out['per_second']:,.0f}/s{runs}"


def doc_body(result: dict[str, Any]) -> str:
    m, opts = result["measurements"], result["options"]
    runs = m["runs"]
    sqlite, pg = runs.get("sqlite"), runs.get("postgresql")
    memory, persisted = runs.get("spiff_memory"), runs.get("spiff_persisted")
    re_run = runs.get("reevaluate")
    rows = [
        [
            f"CivicStack on SQLite, {opts['cases']:,} cases end to end",
            _rate(sqlite),
            f"≥ {TARGET_PER_SECOND}/s",
            _yes(m["met_per_second"]) if sqlite else "",
        ],
        [
            f"CivicStack on PostgreSQL, {opts['cases']:,} cases"
            + (f" ({pg['server']}, same machine)" if pg and "server" in pg else ""),
            _rate(pg),
            "",
            "",
        ],
        ["plain SpiffWorkflow, in memory (baseline)", _rate(memory), "", ""],
        [
            "plain SpiffWorkflow, one save and reload per instance (baseline)",
            _rate(persisted),
            "",
            "",
        ],
    ]
    if re_run:
        rows.append(
            [
                f"re-evaluate {re_run['cases']:,} past cases under a candidate version",
                f"{re_run['seconds']:.1f} s ({re_run['per_second']:,}/s; "
                f"{re_run['changed']:,} outcomes change)",
                f"≤ {TARGET_REEVALUATE_SECONDS} s",
                _yes(m["met_reevaluate"]),
            ]
        )
    table = markdown_table(["measurement (one core)", "median", "target", "met?"], rows)
    per_case = ""
    if sqlite:
        per_case = f"""
            **Per case** (one case counted after the warm-up, SQLite):
            {sqlite["queries_per_case"]} SQL statements and {sqlite["commits_per_case"]}
            commit: {", ".join(f"{k} {v}" for k, v in sorted(sqlite["statements"].items()))}."""
    e2e = f"""
        **End to end**: `case_submit` for each of {opts["cases"]:,} applications (seed
        {opts["seed"]}, outside the human-review band), each run to completion and committed:
        the case row, the decision's recorded evaluation with its inputs, trace and
        explanation, the case decision, two audit entries (the submission and the evaluation),
        the notification, the event log and the compressed workflow state; {WARMUP} cases
        first, untimed. One child process per database, pinned to core {opts["core"]}; the
        database is migrated in it. {opts.get("runs", 1)} rounds, each running every system
        once in turn, so that the machine's noise falls on all of them alike; the table gives
        each system's median round. Every case must end completed with one decision and one
        notification, and the outcomes must equal the reference table's."""
    spiff = """
        **Plain SpiffWorkflow**: the same process in SpiffWorkflow's own dialect
        (`bench/fixtures/cases-benefit-spiff/`), through its public API (`CamundaParser`,
        `BpmnWorkflow.do_engine_steps`, `refresh_waiting_tasks`), no database; "one save and
        reload" serialises every instance with `BpmnWorkflowSerializer` (the process spec
        included, SpiffWorkflow's default) and reads it back where it waits at the cooling-off
        timer. Same inputs, same outcomes (checked), same core."""
    reevaluate = ""
    if re_run:
        reevaluate = f"""
            **Re-evaluation**: {re_run["cases"]:,} decided cases loaded in bulk (not timed:
            {re_run["load_seconds"]:.0f} s), then
            `cases.services.simulation.case_decisions_reevaluate` replays each case's recorded
            inputs on a candidate version that approves incomes below
            {CANDIDATE_THRESHOLD:,} instead of 20,000, reading in keyset pages; the count of
            changed outcomes must equal the count computed from the inputs
            ({", ".join(f"{k}: {v:,}" for k, v in re_run["transitions"].items())})."""
    bullets = "\n".join(
        _wrap(t, bullet=True) for t in (e2e, per_case, spiff, reevaluate) if t.strip()
    )
    note = f"\n{_wrap(opts['note'])}\n" if opts.get("note") else ""
    load = f"{m['load_before']:.2f} / {m['load_after']:.2f}" if m.get("load_before") else "?"
    intro = f"""
        Machine: {machine_line(result["machine"])}; load average (1 min) {load} at the start
        / end.
        The whole benchmark took {result["seconds"]:.0f} s."""
    return f"""\
## Cases end to end (`make bench-cases`)

Issue 7, "Benchmarks": "end-to-end cases per second (submit → automated decision →
notification, persisted) for 10,000 cases on SQLite and on PostgreSQL, beside plain
SpiffWorkflow running the same BPMN and an equivalent decision in memory, in the same run
[...] Target ≥ 150 cases/s on SQLite" and "bulk re-evaluation of eligibility for 100,000
existing cases under a new rule version: target ≤ 2 minutes."

{_wrap(intro)}
{note}
`make bench-cases` runs it; `BENCH_CASES` (default 10000), `BENCH_RUNS` (3),
`BENCH_REEVALUATE` (100000), `SEED`, `BENCH_POSTGRES_URL` (a server where the run may create
and drop a database) and `BENCH_NOTE` change it.

{table}

What was measured:

{bullets}

All runs: [bench/results/cases.json](../bench/results/cases.json).
"""


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="mode")
    children = [sub.add_parser(n) for n in ("child-e2e", "child-spiff", "child-reevaluate")]
    children[1].add_argument("--persist", action="store_true")
    for p in (parser, *children):
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--core", type=int, default=0, help="the CPU the children run on")
    for p in children:
        p.add_argument("--cases", type=int, required=True)
    parser.add_argument("--cases", type=int, default=10_000, help="cases end to end")
    parser.add_argument("--reevaluate", type=int, default=100_000, help="past cases replayed")
    parser.add_argument(
        "--postgres-url",
        default="",
        help="a PostgreSQL server URL where the run may create a database "
        "(default: DATABASE_URL if it is a PostgreSQL one)",
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="rounds of the end-to-end runs; medians reported"
    )
    parser.add_argument("--only", default="e2e,reevaluate", help="e2e and/or reevaluate")
    parser.add_argument("--note", default="", help="a sentence for the docs section")
    parser.add_argument("--no-write", action="store_true", help="print JSON, write nothing")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    options = parse(sys.argv[1:] if argv is None else argv)
    if options.mode == "child-e2e":
        out = child_e2e(cases=options.cases, seed=options.seed, core=options.core)
    elif options.mode == "child-spiff":
        out = child_spiff(
            cases=options.cases, seed=options.seed, core=options.core, persist=options.persist
        )
    elif options.mode == "child-reevaluate":
        out = child_reevaluate(cases=options.cases, seed=options.seed, core=options.core)
    else:
        options.only = [part.strip() for part in options.only.split(",") if part.strip()]
        postgres_url = options.postgres_url or os.environ.get("DATABASE_URL", "")
        if not postgres_url.startswith(("postgres://", "postgresql://")):
            postgres_url = ""
        options.postgres_url = bool(postgres_url)  # the URL may hold a password: not written
        measure_and_publish(
            NAME, options, functools.partial(measure, postgres_url=postgres_url), doc_body
        )
        return
    print(json.dumps(out))


if __name__ == "__main__":
    main()
