"""Benchmark: the exchange (issue 5, "Benchmarks").

Claims:
- "mediated requests per second with agreement and consent checks, signing and logging,
  with p95 latency; target >= 1,000/s on this 2-core machine with SQLite"
  (`bench.exchange_requests`: how it is measured, and its baseline);
- "event fan-out to 10 local webhook receivers, with the worker killed once in the middle:
  deliveries per second (target >= 500/s) and the count of lost events (must be 0) and of
  duplicates not caught by idempotency keys (must be 0)" (`bench.exchange_events`).

    python -m bench.exchange [--only requests,events] [--runs 3] [--requests 5000]

Each part runs `--runs` times on a fresh database; the figures quoted are medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from bench import exchange_events, exchange_requests
from bench.common import machine_line, markdown_table, measure_and_publish, say

NAME = "exchange"
TARGET_REQUESTS_PER_SECOND = 1000


def measure(options: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"load_before": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    if "requests" in options.only:
        runs = []
        for n in range(options.runs):
            say(f"mediated requests, run {n + 1} of {options.runs}")
            with tempfile.TemporaryDirectory(prefix="civicstack-bench-") as tmp:
                runs.append(
                    exchange_requests.measure(
                        people=options.people,
                        requests=options.requests,
                        workers=options.workers,
                        seed=options.seed + n,
                        var=Path(tmp),
                    )
                )
        rates = [r["mediated"]["per_second"] for r in runs]
        out["requests"] = {
            "runs": runs,
            "per_second_runs": rates,
            "per_second_median": statistics.median(rates),
            "p50_ms_median": statistics.median(r["mediated"]["p50_ms"] for r in runs),
            "p95_ms_median": statistics.median(r["mediated"]["p95_ms"] for r in runs),
            "baseline_per_second_median": statistics.median(
                r["baseline"]["per_second"] for r in runs
            ),
            "target_per_second": TARGET_REQUESTS_PER_SECOND,
            "met": statistics.median(rates) >= TARGET_REQUESTS_PER_SECOND,
        }
    if "events" in options.only:
        out["events"] = exchange_events.run(events=options.events, runs=options.runs)
    out["load_after"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return out


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def doc_body(result: dict[str, Any]) -> str:
    m, opts = result["measurements"], result["options"]
    rows = []
    if "requests" in m:
        r = m["requests"]
        rows.append(
            [
                f"mediated requests, {opts['workers']} processes x {opts['requests']:,}",
                f"{r['per_second_median']:,.0f}/s (p50 {r['p50_ms_median']:.1f} ms, "
                f"p95 {r['p95_ms_median']:.1f} ms)",
                f"≥ {TARGET_REQUESTS_PER_SECOND:,}/s",
                _yes(r["met"]),
            ]
        )
        rows.append(
            [
                "baseline: the provider's read alone, one process",
                f"{r['baseline_per_second_median']:,.0f}/s",
                "",
                "",
            ]
        )
    if "events" in m:
        e = m["events"]
        o = e["options"]
        rows.append(
            [
                f"event fan-out, {o['events']:,} events x {o['subscribers']} webhooks, "
                "worker killed once",
                f"{e['per_second_median']:,.0f} deliveries/s",
                f"≥ {exchange_events.TARGET_PER_SECOND}/s",
                _yes(e["met_per_second"]),
            ]
        )
        rows.append(
            [
                "lost events / duplicates not caught",
                f"{e['lost_events']} / {e['duplicates_not_caught']}",
                "0 / 0",
                _yes(e["met_no_loss"]),
            ]
        )
        rows.append(
            [
                "baseline: the same signed POSTs without the outbox",
                f"{e['baseline_per_second_median']:,.0f}/s",
                "",
                "",
            ]
        )
    table = markdown_table(["measurement", "median", "target", "met?"], rows)
    how = textwrap.fill(
        f"Medians of {opts['runs']} run(s), each on a fresh SQLite database (WAL). Requests: "
        "every request checks the consumer's rights, the service, its parameters, the person, "
        "the agreement for the purpose and the person's consent (read afresh), then logs a "
        "signed, hash-chained request and response (bodies encrypted), writes an audit entry "
        "under the person and commits; the log is verified afterwards. Events: see "
        "bench/exchange_events.py. Load average before/after: "
        f"{m['load_before']} / {m['load_after']}.",
        width=92,
    )
    return (
        "## Exchange (`make bench-exchange`)\n\n"
        f"{table}\n\n{how}\n\nMachine: {machine_line(result['machine'])}.\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The exchange benchmark (issue 5).")
    parser.add_argument("--only", default="requests,events")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args(argv)
    options.only = sorted(set(options.only.split(",")))
    measure_and_publish(NAME, options, measure, doc_body)


if __name__ == "__main__":
    main()
