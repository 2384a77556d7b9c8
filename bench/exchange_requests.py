"""Mediated requests per second (issue 5, "Benchmarks", first half).

Claim: "mediated requests per second with agreement and consent checks, signing and
logging, with p95 latency; target >= 1,000/s on this 2-core machine with SQLite".

A child process migrates a fresh SQLite database (WAL, as `make demo` uses it) and builds a
small government: Revenue holding `--people` persons' records with their income, Social
Services as consumer, a data service ("income for a tax year", internal resolver), a data
agreement resting on consent, and every person's consent given through
`consent.services.consent_give`. Then `--workers` processes (one per core by default)
each call `exchange.services.exchange_request` `--requests` times, one after another, for
random persons, each request fully checked (consumer's rights, service, parameters against
its JSON Schema, person, agreement for the purpose, consent read afresh), logged as a
signed, hash-chained request and response with the body encrypted, audited under the
person, and committed. Every request's latency is recorded; throughput is all requests
over the wall time from the first start to the last finish. Afterwards the whole message
log is verified (`message_log_verify`) and the counts checked: 2 messages and 1 audit
entry per request, none denied.

Baseline, in the same invocation and database: the same provider read without the
exchange (`exchange.providers.source_record` called directly, no checks, no log): what the
mediation costs on top of reading the data.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench.cases import _env, pin
from bench.common import run_child, say

PY = sys.executable


def _django() -> None:
    import django

    django.setup()


def child_setup(*, people: int, seed: int) -> dict[str, Any]:
    _django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from consent import services as consent_services
    from consent.choices import LawfulBasis
    from exchange import services
    from identity.choices import Role, UserKind
    from identity.models import Agency, RoleAssignment, User
    from identity.services import system_actor
    from registry.models import Person, SourceRecord
    from registry.services.citizens import PORTAL_AGENCY_CODE

    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    system = system_actor()
    revenue = Agency.objects.create(code="revenue", name="Revenue")
    social = Agency.objects.create(code="social-services", name="Social Services")
    portal = Agency.objects.create(code=PORTAL_AGENCY_CODE, name="Citizen portal")
    worker = User.objects.create(
        username="bench-caseworker", kind=UserKind.STAFF, agency=social, password="!"
    )
    RoleAssignment.objects.create(user=worker, role=Role.CASEWORKER, agency=social)
    persons = [Person(given_name=f"Given{n}", family_name=f"Family{n}") for n in range(people)]
    Person.objects.bulk_create(persons, batch_size=1000)
    citizens = [
        User(username=f"bench-citizen-{n}", kind=UserKind.CITIZEN, password="!")
        for n in range(people)
    ]
    User.objects.bulk_create(citizens, batch_size=1000)
    citizens = list(User.objects.filter(kind=UserKind.CITIZEN).order_by("id"))
    records = []
    for n, (person, citizen) in enumerate(zip(persons, citizens, strict=True)):
        records.append(
            SourceRecord(
                agency=revenue,
                agency_record_id=f"RV{n:07d}",
                person=person,
                given_name=person.given_name,
                family_name=person.family_name,
                extra={
                    "income_band": rng.choice("ABCDE"),
                    "employment_status": rng.choice(["employed", "self-employed", "retired"]),
                    "tax_reference": f"{n:010d}",
                },
            )
        )
        records.append(
            SourceRecord(agency=portal, agency_record_id=f"user-{citizen.pk}", person=person)
        )
    SourceRecord.objects.bulk_create(records, batch_size=1000)
    services.data_service_publish(
        actor=system,
        provider=revenue,
        code="income-for-tax-year",
        name="Income for a tax year",
        attributes=["income_band", "employment_status", "tax_year", "tax_reference"],
        input_schema={
            "type": "object",
            "properties": {"tax_year": {"type": "integer", "minimum": 2000, "maximum": 2100}},
            "required": ["tax_year"],
        },
        resolver="source_record",
    )
    consent_services.purpose_create(
        actor=system, code="child-benefit-eligibility", name="Child benefit eligibility"
    )
    version = consent_services.agreement_create(
        actor=system,
        code="revenue-income-for-benefits",
        provider=revenue,
        consumer=social,
        purpose="child-benefit-eligibility",
        purpose_text="To decide child benefit from your household income.",
        attributes=["income_band", "tax_year"],
        lawful_basis=LawfulBasis.CONSENT,
        retention_days=365,
    )
    for person, citizen in zip(persons, citizens, strict=True):
        consent_services.consent_give(actor=citizen, person=person, agreement=version.agreement)
    return {"people": people}


def child_requests(*, requests: int, seed: int, core: int, baseline: bool) -> dict[str, Any]:
    pinned = pin(core)
    _django()
    from django.db import connection

    from exchange import services
    from exchange.models import DataService
    from exchange.providers import ProviderCall, source_record
    from identity.models import Agency, User
    from registry.models import Person

    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    worker = User.objects.get(username="bench-caseworker")
    # an agency system, calling with its API token
    worker.civic_via_token = True  # type: ignore[attr-defined]
    social = Agency.objects.get(code="social-services")
    people = list(Person.objects.values_list("id", flat=True))
    service = DataService.objects.get(code="income-for-tax-year")

    def mediated(person: str) -> Any:
        return services.exchange_request(
            actor=worker,
            consumer=social,
            provider_code="revenue",
            service_code="income-for-tax-year",
            person_id=person,
            purpose="child-benefit-eligibility",
            case_ref="CB-BENCH",
            params={"tax_year": 2025},
        )

    def direct(person: str) -> Any:
        return source_record(
            ProviderCall(
                service=service,
                person_id=person,
                national_id="",
                params={"tax_year": 2025},
                purpose="child-benefit-eligibility",
                exchange_id="",
            )
        )

    call = direct if baseline else mediated
    for _ in range(50):  # warm-up: imports, caches, the first statements
        call(rng.choice(people))
    latencies: list[float] = []
    started = time.perf_counter()
    for _ in range(requests):
        person = rng.choice(people)
        t0 = time.perf_counter()
        call(person)
        latencies.append(time.perf_counter() - t0)
    finished = time.perf_counter()
    connection.close()
    return {
        "pinned_core": core if pinned else None,
        "requests": requests,
        "started": started,
        "finished": finished,
        "wall_clock_start": time.time() - (time.perf_counter() - started),
        "latencies_ms": [round(x * 1000, 3) for x in latencies],
    }


def child_check(*, expected: int) -> dict[str, Any]:
    _django()
    from core.models import AuditEntry
    from exchange.messages import message_log_verify
    from exchange.models import Message

    check = message_log_verify()
    return {
        "log_ok": check.ok,
        "log_checked": check.checked,
        "log_reason": check.reason,
        "requests_logged": Message.objects.filter(kind="request").count(),
        "responses_logged": Message.objects.filter(kind="response").count(),
        "denied": Message.objects.exclude(kind__in=["request", "response"]).count(),
        "audited": AuditEntry.objects.filter(action="exchange.request").count(),
        "expected": expected,
    }


def _child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    run = run_child([PY, "-m", "bench.exchange_requests", *args], env=env)
    out: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return out


def _worker(args: tuple[list[str], dict[str, str]]) -> dict[str, Any]:
    return _child(*args)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(outs: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [x for out in outs for x in out["latencies_ms"]]
    start = min(out["wall_clock_start"] for out in outs)
    end = max(out["wall_clock_start"] + (out["finished"] - out["started"]) for out in outs)
    total = sum(out["requests"] for out in outs)
    return {
        "workers": len(outs),
        "requests": total,
        "seconds": round(end - start, 3),
        "per_second": round(total / (end - start), 1),
        "p50_ms": round(statistics.median(latencies), 3),
        "p95_ms": round(_percentile(latencies, 0.95), 3),
        "p99_ms": round(_percentile(latencies, 0.99), 3),
    }


def measure(*, people: int, requests: int, workers: int, seed: int, var: Path) -> dict[str, Any]:
    """Set up one database, run the baseline, then `workers` mediating processes at once."""
    env = _env(var, f"sqlite:///{var / 'bench.sqlite3'}")
    say(f"exchange: setting up {people:,} people with consent")
    _child(["child-setup", "--people", str(people), "--seed", str(seed)], env)
    say("exchange: baseline, the provider read alone (one process)")
    base = _child(
        [
            "child-requests",
            "--requests",
            str(requests),
            "--seed",
            str(seed),
            "--core",
            "0",
            "--baseline",
        ],
        env,
    )
    baseline = _summary([base])
    say(f"  {baseline['per_second']:,}/s")
    say(f"exchange: {workers} processes x {requests:,} mediated requests")
    jobs = [
        (
            [
                "child-requests",
                "--requests",
                str(requests),
                "--seed",
                str(seed + 1 + n),
                "--core",
                str(n % max(1, os.cpu_count() or 1)),
            ],
            env,
        )
        for n in range(workers)
    ]
    with get_context("spawn").Pool(workers) as pool:
        outs = pool.map(_worker, jobs)
    mediated = _summary(outs)
    say(f"  {mediated['per_second']:,}/s, p95 {mediated['p95_ms']} ms")
    check = _child(["child-check", "--expected", str(workers * requests)], env)
    if not check["log_ok"] or check["requests_logged"] < workers * requests:
        raise AssertionError(f"the message log does not hold every request: {check}")
    return {"baseline": baseline, "mediated": mediated, "check": check}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["child-setup", "child-requests", "child-check"])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--core", type=int, default=0)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--expected", type=int, default=0)
    options = parser.parse_args(argv)
    if options.mode == "child-setup":
        out = child_setup(people=options.people, seed=options.seed)
    elif options.mode == "child-requests":
        out = child_requests(
            requests=options.requests,
            seed=options.seed,
            core=options.core,
            baseline=options.baseline,
        )
    else:
        out = child_check(expected=options.expected)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
