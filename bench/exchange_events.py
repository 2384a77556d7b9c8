"""Event fan-out through the outbox, with the worker killed once (issue 5, "Benchmarks").

Claim: "event fan-out to 10 local webhook receivers, with the worker killed once in the
middle: deliveries per second (target >= 500/s) and the count of lost events (must be 0)
and of duplicates not caught by idempotency keys (must be 0)."

One run:

1. **Receivers**: a child process serves 10 webhook receivers on 127.0.0.1 (Python's
   `http.server`, keep-alive, one thread per connection). Each checks every request's
   HMAC-SHA256 signature with its subscription's secret and processes each idempotency key
   once: a key seen again is answered 200 and counted as a *duplicate caught*; an event
   processed a second time under another key would be a *duplicate not caught*.
2. **Setup** (a child): a fresh SQLite database (WAL, as `make demo` uses it) migrated,
   10 subscriber agencies each with a data agreement (public task) and a webhook
   subscription to its receiver for address changes, `--persons` persons, then `--events`
   address changes published through `exchange.events.services.event_publish` (event +
   10 deliveries + audit entry per transaction; the delivery task queued in the database
   as in production). Publishing is timed too.
3. **Baseline**, same receivers, same sender: the same number of signed POSTs sent
   straight from memory by `WebhookSender` (no database, no outbox): what the HTTP and the
   receivers alone allow.
4. **Delivery**: `manage.py deliver_events --until-done` in a child process. When half of
   the deliveries are recorded, it is killed with SIGKILL (its claimed batch in flight) and
   started again at once; the restarted worker finishes the rest, the killed batch when its
   lease ends. Deliveries per second = all deliveries / wall time from the first worker's
   start to the last delivery recorded (both start-ups and the lease wait included).
5. **Checks**: lost = events some receiver never processed, counted per receiver against
   the database's events; duplicates caught and not caught from the receivers; every
   delivery delivered in the database and logged as a signed message-log entry.

    python -m bench.exchange_events --events 2000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.cases import _env
from bench.common import ROOT, machine, machine_line, results_write, run_child, say

NAME = "exchange_events"
TARGET_PER_SECOND = 500
PY = sys.executable
SUBSCRIBERS = 10


def _django() -> None:
    import django

    django.setup()


# --- children ------------------------------------------------------------------------------


def child_receivers(*, secrets_file: Path) -> None:
    """Serve one receiver per secret; print their ports; run until terminated."""
    _django()
    from exchange.events.testing import Receiver

    keys = json.loads(secrets_file.read_text())
    receivers = [Receiver(secret, keep_bodies=False).start() for secret in keys]
    print(json.dumps([r.server.server_address[1] for r in receivers]), flush=True)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    while not stop["now"]:
        time.sleep(0.2)
    for receiver in receivers:
        receiver.stop()


def child_setup(*, events: int, persons: int, hooks_file: Path) -> dict[str, Any]:
    _django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from consent import services as consent_services
    from consent.choices import LawfulBasis
    from exchange.events import services
    from identity.models import Agency
    from identity.services import system_actor
    from registry.models import Person

    hooks = json.loads(hooks_file.read_text())
    system = system_actor()
    portal = Agency.objects.create(code="citizen-portal", name="Citizen portal")
    consent_services.purpose_create(
        actor=system, code="keep-address-current", name="Keep addresses current"
    )
    for n, hook in enumerate(hooks, start=1):
        agency = Agency.objects.create(code=f"agency-{n:02d}", name=f"Agency {n}")
        version = consent_services.agreement_create(
            actor=system,
            code=f"address-to-agency-{n:02d}",
            provider=portal,
            consumer=agency,
            purpose="keep-address-current",
            purpose_text="To keep the address you gave us current in every agency.",
            attributes=["address_line", "locality", "postcode"],
            lawful_basis=LawfulBasis.PUBLIC_TASK,
            retention_days=365,
        )
        services.subscription_create(
            actor=system,
            agency=agency,
            event_type="address",
            agreement=version.agreement,
            url=hook["url"],
            secret=hook["secret"],
        )
    people = Person.objects.bulk_create(
        [Person(given_name=f"P{n}", family_name="Bench") for n in range(persons)]
    )
    started = time.perf_counter()
    for n in range(events):
        services.event_publish(
            actor=system,
            person=people[n % len(people)],
            type="address",
            payload={
                "address_line": f"{n} Bench Street",
                "locality": "Benchtown",
                "postcode": f"BT{n % 90 + 10} {n % 9}AA",
            },
        )
    seconds = time.perf_counter() - started
    return {
        "events": events,
        "persons": persons,
        "publish_seconds": round(seconds, 3),
        "publish_per_second": round(events / seconds, 1),
    }


def child_baseline(*, hooks_file: Path, count: int, concurrency: int) -> dict[str, Any]:
    """The same signed POSTs, from memory: no database, no outbox."""
    _django()
    from exchange.events.delivery import WebhookSender
    from exchange.events.webhooks import sign_headers

    hooks = json.loads(hooks_file.read_text())
    items = []
    for n in range(count):
        hook = hooks[n % len(hooks)]
        key = f"baseline-{n}"
        body = json.dumps({"id": key, "event": key, "type": "address"}).encode()
        items.append(
            (hook["url"], sign_headers(secret=hook["secret"], idempotency_key=key, body=body), body)
        )
    sender = WebhookSender(concurrency=concurrency, timeout_seconds=5)
    started = time.perf_counter()
    results = []
    for at in range(0, len(items), 100):
        results += sender.send(items[at : at + 100])
    seconds = time.perf_counter() - started
    sender.close()
    ok = sum(1 for r in results if r.status_code == 200)
    return {
        "sent": count,
        "ok": ok,
        "seconds": round(seconds, 3),
        "per_second": round(count / seconds, 1),
    }


# --- the parent ----------------------------------------------------------------------------


def _child_json(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    run = run_child([PY, "-m", "bench.exchange_events", *args], env=env)
    out: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return out


def _stats(ports: list[int]) -> list[dict[str, Any]]:
    import requests

    return [requests.get(f"http://127.0.0.1:{p}/stats", timeout=10).json() for p in ports]


def _db_count(db: Path, status: str) -> int:
    """Deliveries in one status (read-only, through the status index; WAL lets the worker
    write meanwhile)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM exchange_delivery WHERE status = ?", [status]
        ).fetchone()
    return int(row[0])


def _worker_cmd(options: argparse.Namespace) -> list[str]:
    return [
        PY,
        "manage.py",
        "deliver_events",
        "--until-done",
        "--json",
        "--batch",
        str(options.batch),
        "--concurrency",
        str(options.concurrency),
        "--timeout",
        str(options.timeout),
        "--lease",
        str(options.lease),
        "--poll",
        "0.2",
        "--max-seconds",
        "600",
    ]


def one_run(options: argparse.Namespace, var: Path) -> dict[str, Any]:
    env = _env(var, f"sqlite:///{var / 'bench.sqlite3'}")
    db = var / "bench.sqlite3"
    keys = [secrets.token_urlsafe(32) for _ in range(options.subscribers)]
    secrets_file = var / "receiver-secrets.json"
    secrets_file.write_text(json.dumps(keys))
    receivers = subprocess.Popen(  # noqa: S603
        [PY, "-m", "bench.exchange_events", "child-receivers", "--secrets", str(secrets_file)],
        stdout=subprocess.PIPE,
        env=env,
        cwd=ROOT,
        text=True,
    )
    try:
        assert receivers.stdout is not None
        ports: list[int] = json.loads(receivers.stdout.readline())
        hooks_file = var / "hooks.json"
        hooks = [
            {"url": f"http://127.0.0.1:{port}/hook", "secret": key}
            for port, key in zip(ports, keys, strict=True)
        ]
        hooks_file.write_text(json.dumps(hooks))
        total = options.events * options.subscribers
        say(f"  setup: {options.events:,} events x {options.subscribers} subscribers")
        setup = _child_json(
            [
                "child-setup",
                "--events",
                str(options.events),
                "--persons",
                str(options.persons),
                "--hooks",
                str(hooks_file),
            ],
            env,
        )
        say(f"  published {setup['publish_per_second']:,}/s")
        baseline = _child_json(
            [
                "child-baseline",
                "--hooks",
                str(hooks_file),
                "--count",
                str(total),
                "--concurrency",
                str(options.concurrency),
            ],
            env,
        )
        say(f"  baseline (no outbox): {baseline['per_second']:,}/s")
        before = _stats(ports)
        delivery = _deliver_with_kill(options, env, db, total)
        after = _stats(ports)
        return {
            "setup": setup,
            "baseline": baseline,
            "delivery": delivery,
            "check": _check(db, before, after, options),
        }
    finally:
        receivers.terminate()
        receivers.wait(timeout=30)


def _deliver_with_kill(
    options: argparse.Namespace, env: dict[str, str], db: Path, total: int
) -> dict[str, Any]:
    cmd = _worker_cmd(options)
    started = time.perf_counter()
    first = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)  # noqa: S603
    kill_at = int(total * options.kill_at)
    delivered = 0
    first_delivery: float | None = None
    while delivered < kill_at:
        time.sleep(0.1)
        delivered = _db_count(db, "delivered")
        if delivered and first_delivery is None:
            first_delivery = time.perf_counter()
        if first.poll() is not None:
            raise RuntimeError("the worker stopped before it was killed")
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    killed = time.perf_counter()
    at_kill = {"delivered": _db_count(db, "delivered")}
    say(f"  killed the worker at {at_kill.get('delivered', 0):,} delivered")
    second = subprocess.Popen(  # noqa: S603
        cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    done_at = None
    while True:
        if done_at is None and _db_count(db, "pending") == 0:
            done_at = time.perf_counter()
        if second.poll() is not None:
            break
        time.sleep(0.1)
    out, _ = second.communicate()
    if second.returncode != 0:
        raise RuntimeError(f"the restarted worker failed ({second.returncode})")
    finished = done_at or time.perf_counter()
    seconds = finished - started
    steady = (at_kill.get("delivered", 0) / (killed - first_delivery)) if first_delivery else None
    return {
        "deliveries": total,
        "seconds": round(seconds, 3),
        "per_second": round(total / seconds, 1),
        "steady_per_second_before_kill": round(steady, 1) if steady else None,
        "delivered_at_kill": at_kill.get("delivered", 0),
        "killed_after_seconds": round(killed - started, 3),
        "restarted_worker": json.loads(out.strip().splitlines()[-1]) if out.strip() else {},
    }


def _check(
    db: Path,
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    options: argparse.Namespace,
) -> dict[str, Any]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        events = {row[0].replace("-", "") for row in conn.execute("SELECT id FROM exchange_event")}
        statuses = dict(
            conn.execute("SELECT status, COUNT(*) FROM exchange_delivery GROUP BY status")
        )
        logged = conn.execute(
            "SELECT COUNT(*) FROM exchange_message WHERE service = 'event:address' "
            "AND status = 'delivered'"
        ).fetchone()[0]
        audited = conn.execute(
            "SELECT COUNT(*) FROM core_auditentry WHERE action = 'event.deliver'"
        ).fetchone()[0]
    lost = 0
    for stats in after:
        received = {e.replace("-", "") for e in stats["events"] if not e.startswith("baseline")}
        lost += len(events - received)
    return {
        "events": len(events),
        "deliveries_by_status": statuses,
        "lost_events": lost,
        "requests": sum(a["requests"] - b["requests"] for a, b in zip(after, before, strict=True)),
        "duplicates_caught": sum(
            a["duplicates_caught"] - b["duplicates_caught"]
            for a, b in zip(after, before, strict=True)
        ),
        "duplicates_not_caught": sum(a["duplicates_not_caught"] for a in after),
        "signatures_refused": sum(a["refused"] for a in after),
        "message_log_delivered": logged,
        "audited_deliveries": audited,
    }


def run(
    *,
    events: int = 2000,
    subscribers: int = SUBSCRIBERS,
    persons: int = 500,
    runs: int = 1,
    batch: int = 100,
    concurrency: int = 20,
    timeout: float = 1.0,
    lease: float = 15.0,
    kill_at: float = 0.5,
) -> dict[str, Any]:
    """Measure the fan-out ``runs`` times (a fresh database each); the median run's figures."""
    options = argparse.Namespace(
        events=events,
        subscribers=subscribers,
        persons=persons,
        batch=batch,
        concurrency=concurrency,
        timeout=timeout,
        lease=lease,
        kill_at=kill_at,
    )
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    results = []
    for n in range(runs):
        say(f"event fan-out, run {n + 1} of {runs}")
        with tempfile.TemporaryDirectory(prefix="civicstack-bench-") as tmp:
            results.append(one_run(options, Path(tmp)))
        d, c = results[-1]["delivery"], results[-1]["check"]
        say(
            f"  {d['per_second']:,}/s ({d['seconds']} s); lost {c['lost_events']}, "
            f"duplicates caught {c['duplicates_caught']}, not caught {c['duplicates_not_caught']}"
        )
    rates = [r["delivery"]["per_second"] for r in results]
    median_rate = statistics.median(rates)
    lost = max(r["check"]["lost_events"] for r in results)
    not_caught = max(r["check"]["duplicates_not_caught"] for r in results)
    return {
        "options": vars(options),
        "load_before": load_before,
        "load_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "runs": results,
        "per_second_runs": rates,
        "per_second_median": median_rate,
        "baseline_per_second_median": statistics.median(
            r["baseline"]["per_second"] for r in results
        ),
        "lost_events": lost,
        "duplicates_not_caught": not_caught,
        "target_per_second": TARGET_PER_SECOND,
        "met_per_second": median_rate >= TARGET_PER_SECOND,
        "met_no_loss": lost == 0 and not_caught == 0,
    }


def doc_lines(result: dict[str, Any]) -> str:
    """A short summary for docs/benchmarks.md (the section is written by its owner)."""
    m = result["measurements"]
    o = m["options"]
    return (
        f"Event fan-out: {o['events']:,} events x {o['subscribers']} webhook receivers = "
        f"{o['events'] * o['subscribers']:,} deliveries, worker killed (SIGKILL) at "
        f"{o['kill_at']:.0%} and restarted: median {m['per_second_median']:,.0f} deliveries/s "
        f"over {len(m['runs'])} run(s) (target >= {TARGET_PER_SECOND}/s; baseline, the same "
        f"signed POSTs without the outbox: {m['baseline_per_second_median']:,.0f}/s); "
        f"lost events {m['lost_events']}, duplicates not caught {m['duplicates_not_caught']}. "
        f"Machine: {machine_line(result['machine'])}."
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("mode", nargs="?", default="measure")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--persons", type=int, default=500)
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--lease", type=float, default=15.0)
    parser.add_argument("--kill-at", type=float, default=0.5)
    parser.add_argument("--secrets", type=Path)
    parser.add_argument("--hooks", type=Path)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print JSON, write nothing")
    options = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if options.mode == "child-receivers":
        child_receivers(secrets_file=options.secrets)
        return
    if options.mode == "child-setup":
        out = child_setup(events=options.events, persons=options.persons, hooks_file=options.hooks)
    elif options.mode == "child-baseline":
        out = child_baseline(
            hooks_file=options.hooks, count=options.count, concurrency=options.concurrency
        )
    else:
        started = time.perf_counter()
        info = machine()
        measurements = run(
            events=options.events,
            subscribers=options.subscribers,
            persons=options.persons,
            runs=options.runs,
            batch=options.batch,
            concurrency=options.concurrency,
            timeout=options.timeout,
            lease=options.lease,
            kill_at=options.kill_at,
        )
        result = {
            "benchmark": NAME,
            "machine": info,
            "seconds": round(time.perf_counter() - started, 1),
            "measurements": measurements,
        }
        if options.no_write:
            print(json.dumps(result, indent=2))
        else:
            say(f"wrote {results_write(NAME, result)}")
            print(doc_lines(result))
        return
    print(json.dumps(out))


if __name__ == "__main__":
    main()
