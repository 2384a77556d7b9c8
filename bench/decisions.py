"""Benchmark: DMN evaluations per second on one core (issue 4, "Benchmark").

Claim: "evaluations per second on one core for a realistic eligibility table (about 20 rules,
6 inputs) and for a FEEL-heavy model, beside SpiffWorkflow's Python-expression DMN evaluating
an equivalent table in the same run. Target >= 20,000 table evaluations/s, parsing cached."

The models are in bench/fixtures/: `eligibility.dmn` (6 inputs, 20 rules, hit policy FIRST,
2 outputs), `eligibility-spiff.dmn` (the same rules as Python expressions, for SpiffWorkflow)
and `household.dmn` (a boxed context of FEEL literal expressions: for loops, filters,
quantifiers, list, string and date functions, a business knowledge model, a required
decision). `make bench-decisions` runs it:

1. In this process, both engines evaluate every generated input of the eligibility table and
   must give the same outputs; CivicStack's household model must give what a Python reference
   implementation gives. A benchmark comparing different work would be worthless.
2. Each engine and model then runs in its own child process pinned to one core: parse once
   (the one-off parse time is reported), evaluate every input once to warm up (and check the
   outputs' digest against step 1), then count evaluations over repeated timed windows,
   cycling through the inputs; the engines' children are interleaved over a few rounds. The
   table quotes the median of all windows of an engine.

    python -m bench.decisions --inputs 4000 --rounds 3 --windows 3 --seconds 2 --seed 1
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from types import SimpleNamespace
from typing import Any

from bench.common import (
    ROOT,
    machine_line,
    markdown_table,
    measure_and_publish,
    median,
    run_child,
    say,
)

NAME = "decisions"
TARGET_PER_SECOND = 20_000
PY = sys.executable
FIXTURES = ROOT / "bench" / "fixtures"
ELIGIBILITY = FIXTURES / "eligibility.dmn"
ELIGIBILITY_SPIFF = FIXTURES / "eligibility-spiff.dmn"
HOUSEHOLD = FIXTURES / "household.dmn"
TABLE_DECISION = "Benefit Eligibility"
HOUSEHOLD_DECISION = "Household Summary"
SPIFF_DECISION_ID = "benefit_eligibility"

# FEEL input name -> SpiffWorkflow (Python identifier) input name.
TABLE_INPUTS = {
    "Age": "age",
    "Monthly Income": "monthly_income",
    "Household Size": "household_size",
    "Employment Status": "employment_status",
    "Region": "region",
    "Has Disability": "has_disability",
}
EMPLOYMENT = ["employed", "unemployed", "self-employed", "retired", "student"]
REGIONS = ["north", "south", "east", "west", "capital", "islands"]
NAMES = ["ana", "Maria", "JOSE", "li", "Fatima", "oskar", "Ngozi", "pedro", "Yuki", "sam"]
NOTES = ["", "urgent: eviction notice", "ASAP, please", "renewal", "Moved house", "URGENT"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

Inputs = dict[str, Any]


# --- inputs: a few thousand varied cases from a fixed seed -----------------------------------


def _money(rng: random.Random, high: int) -> Decimal:
    return Decimal(rng.randrange(0, high * 100)) / 100


def table_inputs(*, count: int, seed: int) -> list[Inputs]:
    """Applicants spread so that every rule of the table is hit (see `rule_hits`)."""
    rng = random.Random(seed)  # noqa: S311 (reproducible inputs, not secrets)
    cases = []
    for _ in range(count):
        # Incomes: mostly low or middle (the interesting part of the table), some high.
        band = rng.random()
        income = _money(rng, 1500 if band < 0.5 else 3200 if band < 0.9 else 7000)
        # Ages: mostly of working age; some minors and pensioners.
        group = rng.random()
        age = rng.randint(12, 17) if group < 0.06 else rng.randint(67, 95) if group > 0.84 else 0
        cases.append(
            {
                "Age": age or rng.randint(18, 66),
                "Monthly Income": income,
                "Household Size": rng.randint(1, 8),
                "Employment Status": rng.choice(EMPLOYMENT),
                "Region": rng.choice(REGIONS),
                "Has Disability": rng.random() < 0.15,
            }
        )
    return cases


def household_inputs(*, count: int, seed: int) -> list[Inputs]:
    rng = random.Random(seed)  # noqa: S311
    cases = []
    for number in range(count):
        # Day 1-28: month arithmetic and birthdays are then the same in every calendar.
        applied = date(rng.randint(2020, 2026), rng.randint(1, 12), rng.randint(1, 28))
        members: list[dict[str, Any]] = [
            {
                "name": rng.choice(NAMES),
                "birthDate": date(rng.randint(1930, 2025), rng.randint(1, 12), rng.randint(1, 28)),
                "monthlyIncome": _money(rng, 4000) if rng.random() < 0.7 else Decimal(0),
                "disabled": rng.random() < 0.1,
            }
            for _ in range(rng.randint(1, 8))
        ]
        members = [m for m in members if m["birthDate"] <= applied] or [
            {**members[0], "birthDate": applied - timedelta(days=365 * 30)}
        ]
        household = {
            "id": 1000 + number,
            "region": rng.choice(REGIONS),
            "notes": rng.choice(NOTES),
            "members": members,
        }
        cases.append({"Household": household, "Application Date": applied})
    return cases


# --- the engines, behind one shape: parse once, then call and normalise -----------------------


@dataclass
class Engine:
    """A parsed model: `call(case)` is what is timed, `normalise` makes outputs comparable."""

    call: Callable[[Any], Any]
    normalise: Callable[[Any], Any]
    cases: list[Any]  # the inputs in the engine's own form, prepared before any timing


def _number(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def civicstack_table(inputs: list[Inputs]) -> Engine:
    from decisions.dmn import DmnModel

    model = DmnModel.from_xml(ELIGIBILITY.read_bytes(), source=ELIGIBILITY.name)

    def call(case: Inputs) -> Any:
        return model.evaluate(TABLE_DECISION, case).result

    def normalise(result: Any) -> tuple[str, Decimal]:
        return result["Status"], _number(result["Monthly Benefit"])

    return Engine(call, normalise, inputs)


def _spiff_engine() -> Any:
    from lxml import etree
    from SpiffWorkflow.dmn.parser.BpmnDmnParser import BpmnDmnParser

    parser = BpmnDmnParser()
    parser.add_dmn_xml(etree.fromstring(ELIGIBILITY_SPIFF.read_bytes()), ELIGIBILITY_SPIFF.name)
    return parser.get_engine(SPIFF_DECISION_ID, None)


def _spiff_task(case: Inputs, script_engine: Any) -> SimpleNamespace:
    """What `DMNEngine.result(task)` reads: `task.data` and `task.workflow.script_engine`.

    A business rule task in a running BPMN workflow passes its task; here the table is
    evaluated directly, without the workflow around it, as CivicStack's is.
    """
    data = {TABLE_INPUTS[name]: value for name, value in case.items()}
    return SimpleNamespace(data=data, workflow=SimpleNamespace(script_engine=script_engine))


def spiff_table(inputs: list[Inputs]) -> Engine:
    from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

    engine = _spiff_engine()
    script_engine = PythonScriptEngine()

    def normalise(result: Any) -> tuple[str, Decimal]:
        return result["status"], _number(result["monthly_benefit"])

    return Engine(engine.result, normalise, [_spiff_task(c, script_engine) for c in inputs])


def civicstack_household(inputs: list[Inputs]) -> Engine:
    from decisions.dmn import DmnModel

    model = DmnModel.from_xml(HOUSEHOLD.read_bytes(), source=HOUSEHOLD.name)

    def call(case: Inputs) -> Any:
        return model.evaluate(HOUSEHOLD_DECISION, case).result

    def normalise(result: Any) -> dict[str, Any]:
        return {
            key: [_number(v) for v in value]
            if key == "Top Incomes"
            else _number(value)
            if isinstance(value, int | Decimal) and not isinstance(value, bool)
            else value
            for key, value in result.items()
        }

    return Engine(call, normalise, inputs)


def household_reference(case: Inputs) -> dict[str, Any]:
    """household.dmn's Household Summary, written in Python: what CivicStack must give."""
    household, applied = case["Household"], case["Application Date"]
    members = household["members"]
    births = [m["birthDate"] for m in members]
    ages = [
        applied.year - b.year - ((applied.month, applied.day) < (b.month, b.day)) for b in births
    ]
    total = sum((m["monthlyIncome"] for m in members), Decimal(0))
    with localcontext() as ctx:
        ctx.prec = 34
        per_person = (total / len(members)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    incomes = [m["monthlyIncome"] for m in members]
    bands = [("low" if i < 500 else "mid" if i < 2000 else "high") for i in incomes]
    names = sorted(m["name"] for m in members)
    month = applied.month + 6
    review = applied.replace(year=applied.year + (month - 1) // 12, month=(month - 1) % 12 + 1)
    notes = household["notes"]
    return {
        "Total Income": total,
        "Adults": Decimal(sum(1 for a in ages if a >= 18)),
        "Children": Decimal(sum(1 for a in ages if a < 18)),
        "Eldest": Decimal(max(ages)),
        "Income Per Person": per_person,
        "Top Incomes": sorted(incomes, reverse=True)[:3],
        "Income Bands": list(dict.fromkeys(bands)),
        "Names": ", ".join(n[:1].upper() + n[1:].lower() for n in names),
        "Reference": f"{household['region'][:3].upper()}-{household['id']}-{applied.year}",
        "Urgent": "urgent" in notes.lower() or re.match("asap", notes, re.IGNORECASE) is not None,
        "Any Disabled": any(m["disabled"] for m in members),
        "All Working Age": all(18 <= a < 67 for a in ages),
        "Review Date": review,
        "Days To Review": Decimal((review - applied).days),
        "Application Weekday": WEEKDAYS[applied.weekday()],
    }


# (engine, model) -> how to build it, and how to make its inputs.
ENGINES: dict[tuple[str, str], Callable[[list[Inputs]], Engine]] = {
    ("civicstack", "eligibility"): civicstack_table,
    ("spiffworkflow", "eligibility"): spiff_table,
    ("civicstack", "household"): civicstack_household,
}
INPUTS: dict[str, Callable[..., list[Inputs]]] = {
    "eligibility": table_inputs,
    "household": household_inputs,
}


def digest(outputs: Sequence[Any]) -> str:
    return hashlib.sha256(repr(list(outputs)).encode()).hexdigest()[:16]


# --- the child: one engine, one model, one core -------------------------------------------


def pin_to_one_core(core: int) -> bool:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {core})
        return True
    return False


def child_measure(
    *, engine: str, model: str, count: int, seed: int, windows: int, seconds: float, core: int
) -> dict[str, Any]:
    pinned = pin_to_one_core(core)
    inputs = INPUTS[model](count=count, seed=seed)
    # Imports are not parsing: load the engine's modules before the clock starts.
    if engine == "civicstack":
        import decisions.dmn  # noqa: F401
    else:
        import lxml.etree  # noqa: F401
        import SpiffWorkflow.bpmn.script_engine
        import SpiffWorkflow.dmn.parser.BpmnDmnParser  # noqa: F401
    started = time.perf_counter()
    built = ENGINES[(engine, model)](inputs)
    parse_seconds = time.perf_counter() - started

    # Warm-up: every input once, and the outputs' digest for the parent to check.
    call, cases = built.call, built.cases
    started = time.perf_counter()
    outputs = [built.normalise(call(case)) for case in cases]
    warmup_seconds = time.perf_counter() - started

    runs = []
    size = len(cases)
    for _ in range(windows):
        done, index = 0, 0
        started = time.perf_counter()
        deadline = started + seconds
        while True:
            for _ in range(100):  # look at the clock every 100 evaluations
                call(cases[index])
                index = index + 1 if index + 1 < size else 0
            done += 100
            now = time.perf_counter()
            if now >= deadline:
                break
        runs.append({"evaluations": done, "seconds": round(now - started, 4)})
    for run in runs:
        run["per_second"] = round(run["evaluations"] / run["seconds"])
    return {
        "engine": engine,
        "model": model,
        "pinned_core": core if pinned else None,
        "parse_seconds": parse_seconds,
        "warmup_seconds": round(warmup_seconds, 3),
        "digest": digest(outputs),
        "windows": runs,
        "median_per_second": round(median([r["per_second"] for r in runs])),
    }


# --- the parent: verification, children, figures ------------------------------------------


def verify(*, count: int, seed: int) -> dict[str, Any]:
    """Same outputs from both engines on every eligibility input; household = reference."""
    inputs = table_inputs(count=count, seed=seed)
    ours, theirs = civicstack_table(inputs), spiff_table(inputs)
    expected = []
    for case, our_case, their_case in zip(inputs, ours.cases, theirs.cases, strict=True):
        a, b = ours.normalise(ours.call(our_case)), theirs.normalise(theirs.call(their_case))
        if a != b:
            raise AssertionError(f"engines disagree on {case}: CivicStack {a}, SpiffWorkflow {b}")
        expected.append(a)
    # Which rule each input hit (SpiffWorkflow's UNIQUE stops at the first match): the
    # inputs should exercise the whole table, not one rule.
    spiff = _spiff_engine()
    hits = Counter(spiff.decide(task)[0].row_number for task in theirs.cases)
    outcomes = Counter(f"{status} {benefit}" for status, benefit in expected)

    cases = household_inputs(count=count, seed=seed)
    household = civicstack_household(cases)
    household_outputs = []
    for case in cases:
        got = household.normalise(household.call(case))
        want = household_reference(case)
        if got != want:
            raise AssertionError(f"household.dmn on {case}: got {got}, reference {want}")
        household_outputs.append(got)
    return {
        "eligibility_inputs": count,
        "eligibility_digest": digest(expected),
        "rule_hits": {str(rule): hits[rule] for rule in sorted(hits)},
        "outcomes": dict(outcomes.most_common()),
        "household_inputs": count,
        "household_digest": digest(household_outputs),
        "household_members": sum(len(c["Household"]["members"]) for c in cases),
    }


def measure_child(
    *, engine: str, model: str, options: argparse.Namespace, expected_digest: str
) -> dict[str, Any]:
    args = ["child", "--engine", engine, "--model", model, "--inputs", str(options.inputs)]
    args += ["--seed", str(options.seed), "--windows", str(options.windows)]
    args += ["--seconds", str(options.seconds), "--core", str(options.core)]
    run = run_child([PY, "-m", "bench.decisions", *args])
    out: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    if out["digest"] != expected_digest:
        raise AssertionError(f"{engine} on {model}: outputs in the child differ from the check")
    out["parse_seconds"] = round(out["parse_seconds"], 4)
    out["peak_rss_mb"] = round(run.peak_rss_mb, 1)
    return out


def measure(options: argparse.Namespace) -> dict[str, Any]:
    say(f"checking both engines agree on {options.inputs} inputs")
    check = verify(count=options.inputs, seed=options.seed)
    say(f"  same outputs; rules hit: {check['rule_hits']}")
    say(
        f"{options.rounds} rounds of a child per engine, each {options.windows} x "
        f"{options.seconds:g} s on core {options.core}"
    )
    # Rounds interleave the engines, so a slow spell of a shared machine hits them all.
    children: dict[str, list[dict[str, Any]]] = {f"{e}/{m}": [] for e, m in ENGINES}
    for number in range(1, options.rounds + 1):
        for engine, model in ENGINES:
            key = f"{engine}/{model}"
            out = measure_child(
                engine=engine,
                model=model,
                options=options,
                expected_digest=check[f"{model}_digest"],
            )
            children[key].append(out)
            rates = [w["per_second"] for w in out["windows"]]
            say(f"  round {number}/{options.rounds}, {key}: {rates} evaluations/s")
    runs: dict[str, dict[str, Any]] = {}
    for key, outs in children.items():
        rates = [w["per_second"] for out in outs for w in out["windows"]]
        runs[key] = {
            "median_per_second": round(median(rates)),
            "min_per_second": min(rates),
            "max_per_second": max(rates),
            "median_parse_seconds": median([out["parse_seconds"] for out in outs]),
            "children": outs,
        }
    ours = runs["civicstack/eligibility"]["median_per_second"]
    theirs = runs["spiffworkflow/eligibility"]["median_per_second"]
    return {
        "check": check,
        "runs": runs,
        "eligibility_ratio": round(ours / theirs, 2),
        "target_per_second": TARGET_PER_SECOND,
        "met": ours >= TARGET_PER_SECOND,
    }


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def _wrap(text: str, *, bullet: bool = False) -> str:
    """One paragraph (or list item) of the docs, re-wrapped after the figures are filled in."""
    return textwrap.fill(
        " ".join(text.split()),
        width=92,
        initial_indent="- " if bullet else "",
        subsequent_indent="  " if bullet else "",
        break_long_words=False,
        break_on_hyphens=False,
    )


def doc_body(result: dict[str, Any]) -> str:
    m, opts = result["measurements"], result["options"]
    runs, check = m["runs"], m["check"]
    ours, theirs = runs["civicstack/eligibility"], runs["spiffworkflow/eligibility"]
    household = runs["civicstack/household"]
    per_member = check["household_members"] / check["household_inputs"]
    rows = [
        [
            "eligibility table (6 inputs, 20 rules, FIRST, 2 outputs): evaluations/s",
            f"{ours['median_per_second']:,}/s",
            f"{theirs['median_per_second']:,}/s",
            f"{m['eligibility_ratio']:.1f}x",
            f"≥ {TARGET_PER_SECOND:,}/s",
            _yes(m["met"]),
        ],
        [
            f"household model (FEEL-heavy, {per_member:.1f} members on average): evaluations/s",
            f"{household['median_per_second']:,}/s",
            "no equivalent",
            "",
            "",
            "",
        ],
        [
            "eligibility table: one-off parse (cold process)",
            _ms(ours["median_parse_seconds"]),
            _ms(theirs["median_parse_seconds"]),
            "",
            "",
            "",
        ],
        [
            "household model: one-off parse (cold process)",
            _ms(household["median_parse_seconds"]),
            "",
            "",
            "",
            "",
        ],
    ]
    table = markdown_table(
        ["measurement (one core)", "CivicStack", "SpiffWorkflow", "ratio", "target", "met?"], rows
    )
    hits = ", ".join(f"{rule}: {n}" for rule, n in check["rule_hits"].items())
    note = f"\n{_wrap(opts['note'])}\n" if opts.get("note") else ""
    spiff_version = result.get("spiffworkflow_version") or "not installed"
    models = f"""
        **The models** (`bench/fixtures/`): `eligibility.dmn`, a benefit eligibility table with
        inputs Age, Monthly Income, Household Size, Employment Status, Region, Has Disability
        and outputs Status and Monthly Benefit; its 20 rules mix ranges (`[18..67)`,
        `]2200..3000]`), comparisons, string lists, `-` and `not(...)`, with typed input data.
        `eligibility-spiff.dmn` is the same table in SpiffWorkflow's dialect, whose entries are
        Python expressions run with `eval` (`18 <= ? < 67`, `? in ("islands", "north")`,
        `!= "capital"`); SpiffWorkflow knows only the UNIQUE and COLLECT hit policies, and its
        UNIQUE stops at the first matching rule, which is FIRST's semantics, so both engines do
        the same work. `household.dmn` summarises a household (a context holding a list of
        members, {per_member:.1f} on average) in a boxed context of 15 FEEL literal
        expressions: for loops, filters, `some` / `every`, `sort` with a FEEL function,
        `sublist`, `distinct values`, `string join`, `substring`, `upper case`, `matches`,
        date arithmetic (`+ duration("P6M")`, date subtraction, `years and months duration`,
        `day of week`), a business knowledge model called in a loop and a required decision;
        item definitions type the input. SpiffWorkflow's DMN has decision tables only (no
        boxed contexts, literal expressions, business knowledge models or FEEL), so it has no
        equivalent of this model."""
    same = f"""
        **The same answers first**: {check["eligibility_inputs"]:,} applicants generated with
        seed {opts["seed"]} are evaluated by both engines in the parent process, which fails
        unless every output is equal; the rules they hit (SpiffWorkflow's first match,
        rule: count) are {hits}. The household model's {check["household_inputs"]:,}
        generated households must give exactly what a Python implementation of the same
        summary gives (`household_reference`), so a FEEL error turning an entry into null
        cannot go unnoticed."""
    speed = f"""
        **Evaluations per second**: each engine and model in its own child process pinned to
        one core (`os.sched_setaffinity`), {opts["rounds"]} children per engine, the engines
        interleaved round by round so that a slow spell of the shared machine hits them all:
        parse the model once, evaluate every input once to warm up (the outputs' digest must
        match the check above), then {opts["windows"]} windows of {opts["seconds"]:g} s
        cycling through the inputs. The table quotes the median of all
        {opts["rounds"] * opts["windows"]} windows of an engine (their range:
        CivicStack {ours["min_per_second"]:,}-{ours["max_per_second"]:,}/s, SpiffWorkflow
        {theirs["min_per_second"]:,}-{theirs["max_per_second"]:,}/s, household model
        {household["min_per_second"]:,}-{household["max_per_second"]:,}/s); the ratio is of
        the medians. CivicStack is called through its public API,
        `DmnModel.evaluate(decision, inputs)` on a model from `DmnModel.from_xml`, the call
        an application makes (its result carries the trace); SpiffWorkflow through
        `DMNEngine.result(task)` from `BpmnDmnParser.get_engine`, the call its business rule
        task makes, with a stand-in task holding the inputs as `task.data` (no BPMN workflow
        around it). Inputs are prepared before the timing."""
    parse = """
        **Parse** (median of the children): `DmnModel.from_xml` once in a fresh child
        process, modules already imported but nothing parsed or cached yet (XML, FEEL
        parsing of every entry, validation), against SpiffWorkflow's `lxml` parse,
        `add_dmn_xml` and `get_engine` (its entries stay text until evaluated); evaluations
        reuse the parsed model."""
    bullets = "\n".join(_wrap(text, bullet=True) for text in (models, same, speed, parse))
    intro = f"""
        Machine: {machine_line(result["machine"])}. SpiffWorkflow {spiff_version}. Seed
        {opts["seed"]}; the whole benchmark took {result["seconds"]:.0f} s."""
    return f"""\
## Decision tables and FEEL (`make bench-decisions`)

Issue 4, "Benchmark": "evaluations per second on one core for a realistic eligibility table
(about 20 rules, 6 inputs) and for a FEEL-heavy model, beside SpiffWorkflow's
Python-expression DMN evaluating an equivalent table in the same run. Target ≥ 20,000 table
evaluations/s, parsing cached."

{_wrap(intro)}
{note}
`make bench-decisions` runs it (it installs the `bench` extra, SpiffWorkflow, first). Make
variables change the sizes for a quicker run: `BENCH_INPUTS` (generated inputs per model,
default 4000), `BENCH_ROUNDS` (child processes per engine, 3), `BENCH_WINDOWS` (timed
windows per child, 3), `BENCH_SECONDS` (length of a window, 2), `SEED`, and `BENCH_NOTE` (a
sentence shown above the table, such as what else was running).

{table}

What was measured:

{bullets}

All runs: [bench/results/decisions.json](../bench/results/decisions.json).
"""


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="mode")
    one = sub.add_parser("child")
    one.add_argument("--engine", choices=sorted({e for e, _ in ENGINES}), required=True)
    one.add_argument("--model", choices=sorted(INPUTS), required=True)
    for p in (parser, one):
        p.add_argument("--inputs", type=int, default=4_000, help="generated inputs per model")
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--windows", type=int, default=3, help="timed windows per child")
        p.add_argument("--seconds", type=float, default=2.0, help="length of a window")
        p.add_argument("--core", type=int, default=0, help="the CPU the children run on")
    parser.add_argument("--rounds", type=int, default=3, help="children per engine")
    parser.add_argument("--note", default="", help="a sentence for the docs section")
    parser.add_argument("--no-write", action="store_true", help="print JSON, write nothing")
    return parser.parse_args(argv)


def _spiff_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("SpiffWorkflow")
    except metadata.PackageNotFoundError:
        return None


def main(argv: Sequence[str] | None = None) -> None:
    options = parse(sys.argv[1:] if argv is None else argv)
    if options.mode == "child":
        out = child_measure(
            engine=options.engine,
            model=options.model,
            count=options.inputs,
            seed=options.seed,
            windows=options.windows,
            seconds=options.seconds,
            core=options.core,
        )
        print(json.dumps(out))
        return
    if _spiff_version() is None:
        sys.exit("SpiffWorkflow is not installed: pip install -e '.[bench]' (make does it)")
    measure_and_publish(
        NAME, options, measure, doc_body, extra={"spiffworkflow_version": _spiff_version()}
    )


if __name__ == "__main__":
    main()
