"""What every benchmark needs: the machine, child processes with their peak memory, medians,
and writing bench/results/<name>.json and its own section of docs/benchmarks.md.

Each measurement runs in its own child process, so one run's peak memory or warm caches
cannot leak into the next; `os.wait4` gives that child's own peak RSS.
"""

import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "benchmarks.md"
MB = 1024 * 1024


@dataclass(frozen=True)
class ChildRun:
    seconds: float  # wall time of the whole process, interpreter start-up included
    peak_rss_bytes: int
    stdout: str

    @property
    def peak_rss_mb(self) -> float:
        return self.peak_rss_bytes / MB


def run_child(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path = ROOT
) -> ChildRun:
    """Run `args`, wait for it alone and return its wall time, peak RSS and stdout.

    Raises RuntimeError with the child's stderr when it fails.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=cwd)  # noqa: S603
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{stderr[-4000:]}")
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return ChildRun(seconds=seconds, peak_rss_bytes=usage.ru_maxrss * scale, stdout=stdout)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def machine() -> dict[str, Any]:
    """The machine the figures come from: quote it with them."""
    memory = _memory_bytes()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(memory / 1024**3, 1) if memory else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def machine_line(info: Mapping[str, Any]) -> str:
    return (
        f"{info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; {info['os']};\n"
        f"Python {info['python']}, SQLite {info['sqlite']}; run {info['date']}"
    )


def results_write(name: str, data: Mapping[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def doc_section_write(name: str, body: str, *, doc: Path = DOC) -> None:
    """Replace this benchmark's section of docs/benchmarks.md (between its markers).

    Other benchmarks' sections and the text outside the markers are kept; a section not
    there yet is appended.
    """
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    section = f"{start}\n{body.strip()}\n{end}"
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    doc.write_text(text, encoding="utf-8")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def say(message: str) -> None:
    """Progress for the person running the benchmark (stderr, so stdout stays the result)."""
    print(message, file=sys.stderr, flush=True)


def measure_and_publish(
    name: str,
    options: Any,
    measure: Callable[[Any], Any],
    doc_body: Callable[[dict[str, Any]], str],
    *,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Run a benchmark's measurements, then write its JSON result and its docs section.

    With ``options.no_write`` the result is only printed.
    """
    started = time.perf_counter()
    info = machine()
    measurements = measure(options)
    result = {
        "benchmark": name,
        "machine": info,
        **(extra or {}),
        "options": {k: v for k, v in vars(options).items() if k not in {"mode", "no_write"}},
        "seconds": round(time.perf_counter() - started, 1),
        "measurements": measurements,
    }
    if options.no_write:
        print(json.dumps(result, indent=2))
        return
    say(f"wrote {results_write(name, result)}")
    doc_section_write(name, doc_body(result))
    say("updated docs/benchmarks.md")
    print(doc_body(result))
