"""Unsupervised training on DuckDB in a few aggregate queries and a small EM in NumPy.

Splink's own training runs each step as several SQL pipelines over pairs (u sampling
alone took 4 s on FEBRL4's 10,000 records on a 2-core machine). The model is the same
kind: the prior, and an m and u probability per comparison level, trained the way
`registry.linkage.model` describes it, and written into the Splink settings, so Splink
predicts with it (DuckDB or Spark) and the Python scorer reads it. What differs is only
how the counts are made:

- each pair's comparison vector (the index of the first level whose SQL holds, Splink's
  CASE WHEN order, the SQL Splink itself generates for the levels) is computed in one
  query per sample, and the pairs are counted per distinct vector (a few hundred rows);
- the prior: pairs the deterministic rules find (exact counts from group sizes, rules
  united by inclusion-exclusion) over all pairs, divided by the assumed recall;
- u: the share of each level among random pairs (a reservoir sample of records, every
  pair of them);
- m: expectation maximisation over the counted vectors of pairs sharing a blocking key.
  Whole blocks are sampled (by a hash of the key) so true pairs stay together; the
  comparisons the key is made of are not estimated in that pass (their levels are
  constant there), as in Splink. Each comparison's m is the mean over the passes that
  estimated it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

TABLE = "__civicstack_training_records"


def _case(comparison: dict[str, Any]) -> str:
    whens = []
    levels = comparison["comparison_levels"]
    for index, level in enumerate(levels):
        condition = level["sql_condition"]
        if condition.strip().upper() == "ELSE":
            whens.append(f"ELSE {index}")
        else:
            whens.append(f"WHEN {condition} THEN {index}")
    if not whens[-1].startswith("ELSE"):
        whens.append(f"ELSE {len(levels) - 1}")
    return "CASE " + " ".join(whens) + " END"


def _pair_columns(columns: Sequence[str]) -> str:
    return ", ".join(f'l."{c}" AS "{c}_l", r."{c}" AS "{c}_r"' for c in columns)


def _vectors(con: Any, comparisons: list[dict[str, Any]], pairs_sql: str) -> pd.DataFrame:
    """Counts of each distinct comparison vector among the pairs `pairs_sql` selects."""
    gammas = ", ".join(f"{_case(c)} AS g{i}" for i, c in enumerate(comparisons))
    names = ", ".join(f"g{i}" for i in range(len(comparisons)))
    sql = f"SELECT {names}, count(*) AS n FROM (SELECT {gammas} FROM ({pairs_sql})) GROUP BY ALL"  # noqa: S608
    return con.execute(sql).df()


def _pairs_in_groups(con: Any, columns: Sequence[str]) -> int:
    where = " AND ".join(f'"{c}" IS NOT NULL' for c in columns)
    keys = ", ".join(f'"{c}"' for c in columns)
    sql = (
        f"SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM "  # noqa: S608
        f"(SELECT count(*) AS n FROM {TABLE} WHERE {where} GROUP BY {keys})"
    )
    return int(con.execute(sql).fetchone()[0])


def prior(con: Any, rules: Sequence[Sequence[str]], *, records: int, recall: float) -> float:
    """Probability two random records match: deterministic rules' pairs / all pairs / recall.

    The rules (each a list of columns that must be equal) are united by
    inclusion-exclusion over their exact pair counts.
    """
    from itertools import combinations

    found = 0
    for size in range(1, len(rules) + 1):
        for chosen in combinations(rules, size):
            columns = sorted({c for rule in chosen for c in rule})
            found += (-1) ** (size + 1) * _pairs_in_groups(con, columns)
    total = records * (records - 1) / 2
    probability = found / total / recall if total else 0.0
    return min(max(probability, 1e-9), 0.5)


def u_counts(
    con: Any,
    comparisons: list[dict[str, Any]],
    columns: Sequence[str],
    *,
    max_pairs: int,
    seed: int,
) -> pd.DataFrame:
    sample = max(2, math.ceil((1 + math.sqrt(1 + 8 * max_pairs)) / 2))
    pairs = (
        f"SELECT {_pair_columns(columns)} FROM "  # noqa: S608
        f"(SELECT * FROM {TABLE} USING SAMPLE reservoir({sample} ROWS) REPEATABLE ({seed})) l "
        f"JOIN (SELECT * FROM {TABLE} USING SAMPLE reservoir({sample} ROWS) REPEATABLE ({seed})) r "
        "ON l.unique_id < r.unique_id"
    )
    return _vectors(con, comparisons, pairs)


def blocked_counts(
    con: Any,
    comparisons: list[dict[str, Any]],
    columns: Sequence[str],
    key: Sequence[str],
    *,
    max_pairs: int,
    seed: int,
) -> pd.DataFrame:
    """Vector counts of the pairs sharing `key`, whole blocks sampled down to ~max_pairs."""
    total = _pairs_in_groups(con, key)
    share = min(1.0, max_pairs / total) if total else 1.0
    keys = ", ".join(f'"{c}"' for c in key)
    not_null = " AND ".join(f'"{c}" IS NOT NULL' for c in key)
    buckets = 1_000_000
    keep = f"hash({keys}, {seed}) % {buckets} < {int(share * buckets)}"
    sampled = f"(SELECT * FROM {TABLE} WHERE {not_null} AND {keep})"  # noqa: S608
    on = " AND ".join(f'l."{c}" = r."{c}"' for c in key)
    pairs = (
        f"SELECT {_pair_columns(columns)} FROM {sampled} l JOIN {sampled} r "  # noqa: S608
        f"ON {on} AND l.unique_id < r.unique_id"
    )
    return _vectors(con, comparisons, pairs)


def _level_shares(
    vectors: np.ndarray, counts: np.ndarray, levels: int, null: set[int]
) -> list[float | None]:
    totals = np.bincount(vectors, weights=counts, minlength=levels)
    informative = sum(totals[i] for i in range(levels) if i not in null)
    shares: list[float | None] = []
    for index in range(levels):
        if index in null or informative <= 0 or totals[index] <= 0:
            shares.append(None)
        else:
            shares.append(float(totals[index] / informative))
    return shares


def u_probabilities(
    counts: pd.DataFrame, comparisons: list[dict[str, Any]]
) -> list[list[float | None]]:
    n = counts["n"].to_numpy(dtype=float)
    out = []
    for i, comparison in enumerate(comparisons):
        levels = comparison["comparison_levels"]
        null = {j for j, level in enumerate(levels) if level.get("is_null_level")}
        out.append(_level_shares(counts[f"g{i}"].to_numpy(), n, len(levels), null))
    return out


def em(
    counts: pd.DataFrame,
    comparisons: list[dict[str, Any]],
    u: list[list[float | None]],
    *,
    fixed: set[int],
    start_prior: float,
    iterations: int,
    convergence: float,
) -> dict[int, list[float | None]]:
    """m per level of every comparison not in `fixed`, by EM over counted vectors."""
    n = counts["n"].to_numpy(dtype=float)
    if not len(n):
        return {}
    gammas = [counts[f"g{i}"].to_numpy() for i in range(len(comparisons))]
    nulls = [
        {j for j, level in enumerate(c["comparison_levels"]) if level.get("is_null_level")}
        for c in comparisons
    ]
    sizes = [len(c["comparison_levels"]) for c in comparisons]
    u_arrays = [
        np.array([1.0 if (p is None or j in nulls[i]) else p for j, p in enumerate(u[i])])
        for i in range(len(comparisons))
    ]
    # Start: the first informative level likely for a match, the others less and less.
    estimated = [i for i in range(len(comparisons)) if i not in fixed]
    m_arrays = []
    for i, size in enumerate(sizes):
        informative = [j for j in range(size) if j not in nulls[i]]
        start = np.ones(size)
        for rank, j in enumerate(informative):
            start[j] = 0.5**rank
        start /= sum(start[j] for j in informative)
        for j in nulls[i]:
            start[j] = 1.0
        m_arrays.append(start)
    lam = min(max(start_prior, 1e-6), 0.5)
    for _ in range(iterations):
        log_m = np.zeros(len(n))
        log_u = np.zeros(len(n))
        for i in estimated:
            log_m += np.log(np.maximum(m_arrays[i][gammas[i]], 1e-300))
            log_u += np.log(np.maximum(u_arrays[i][gammas[i]], 1e-300))
        # P(match | vector), computed in log space
        odds = np.log(lam) - np.log1p(-lam) + log_m - log_u
        weight = 1.0 / (1.0 + np.exp(-np.clip(odds, -700, 700)))
        weighted = n * weight
        lam = float(min(max(weighted.sum() / n.sum(), 1e-9), 1 - 1e-9))
        change = 0.0
        for i in estimated:
            shares = _level_shares(gammas[i], weighted, sizes[i], nulls[i])
            new = np.array([1.0 if s is None else s for s in shares])
            for j in nulls[i]:
                new[j] = 1.0
            change = max(change, float(np.max(np.abs(new - m_arrays[i]))))
            m_arrays[i] = new
        if change < convergence:
            break
    result: dict[int, list[float | None]] = {}
    for i in estimated:
        totals = np.bincount(gammas[i], weights=n, minlength=sizes[i])
        result[i] = [
            None if (j in nulls[i] or totals[j] <= 0) else float(m_arrays[i][j])
            for j in range(sizes[i])
        ]
    return result


def train(
    records: pd.DataFrame,
    *,
    con: Any,
    settings: dict[str, Any],
    prior_rules: Sequence[Sequence[str]],
    recall: float,
    em_rules: Sequence[Sequence[str]],
    u_max_pairs: int,
    em_max_pairs: int,
    seed: int,
) -> dict[str, Any]:
    """`settings` (a DuckDB Splink settings dict) with the trained prior, m and u filled."""
    from registry.linkage.comparisons import COMPARISONS

    comparisons = settings["comparisons"]
    columns = [str(c) for c in records.columns]
    con.register(TABLE + "_frame", records)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {TABLE} AS SELECT * FROM {TABLE}_frame")  # noqa: S608
    con.unregister(TABLE + "_frame")
    try:
        lam = prior(con, prior_rules, records=len(records), recall=recall)
        u = u_probabilities(
            u_counts(con, comparisons, columns, max_pairs=u_max_pairs, seed=seed), comparisons
        )
        estimates: dict[int, list[list[float | None]]] = {}
        for key in em_rules:
            fixed = {
                i
                for i, comparison in enumerate(COMPARISONS)
                if any(level.column in key for level in comparison.levels if level.column)
            }
            counts = blocked_counts(
                con, comparisons, columns, key, max_pairs=em_max_pairs, seed=seed
            )
            found = em(
                counts,
                comparisons,
                u,
                fixed=fixed,
                start_prior=0.1,
                iterations=int(settings.get("max_iterations") or 10),
                convergence=float(settings.get("em_convergence") or 0.001),
            )
            for i, m in found.items():
                estimates.setdefault(i, []).append(m)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {TABLE}")
    model = dict(settings)
    model["probability_two_random_records_match"] = lam
    for i, comparison in enumerate(comparisons):
        runs = estimates.get(i, [])
        for j, level in enumerate(comparison["comparison_levels"]):
            if level.get("is_null_level"):
                continue
            ms = [float(v) for run in runs if (v := run[j]) is not None]
            if ms:
                level["m_probability"] = sum(ms) / len(ms)
            if u[i][j] is not None:
                level["u_probability"] = u[i][j]
    return model
