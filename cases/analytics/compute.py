"""Process analytics as pure computation over plain rows, with DuckDB. No database reads here.

The selectors (`cases.analytics.selectors`) read the event log, the cases and the work
items of a service and hand them in as the row types below; the tests hand in a small
hand-built log. Every time is an aware datetime; durations come back in seconds.

- `directly_follows`: the directly-follows graph. Within a case, events are ordered by
  completion (then by their order in the log); an edge A -> B counts each time B directly
  follows A. Its waiting time is B's start minus A's end (0 when B started first, which
  happens when activities overlap).
- `throughput`: time from submission to completion of completed cases, per service version,
  with percentiles by linear interpolation (DuckDB `quantile_cont`).
- `sla_compliance`: work items per queue. A completed item was on time (completed before its
  at-risk moment), at risk (between at-risk and due) or breached (after due); open items
  are counted by where they stand now.
- `backlog_age`: open and claimed items per queue by age band.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pandas as pd

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class LogEvent:
    """One row of the event log: an activity of a case, from start to end, by a resource."""

    case: str
    activity: str
    started_at: datetime
    ended_at: datetime
    resource: str = ""


@dataclass(frozen=True, slots=True)
class CaseSpan:
    case: str
    version: int
    submitted_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True, slots=True)
class ItemRow:
    """A work item as the SLA figures need it (status: open, claimed, completed, cancelled)."""

    queue: str
    status: str
    created_at: datetime
    at_risk_at: datetime
    due_at: datetime
    completed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DfgNode:
    activity: str
    count: int
    cases: int
    mean_duration: float  # seconds from start to end
    starts: int  # cases that began with this activity
    ends: int  # cases whose last activity it is


@dataclass(frozen=True, slots=True)
class DfgEdge:
    source: str
    target: str
    count: int
    mean_wait: float  # seconds
    median_wait: float


@dataclass(frozen=True, slots=True)
class Dfg:
    nodes: list[DfgNode]
    edges: list[DfgEdge]
    cases: int
    events: int


@dataclass(frozen=True, slots=True)
class ThroughputRow:
    version: int
    completed: int
    p50: float  # seconds
    p90: float
    p95: float
    mean: float


@dataclass(frozen=True, slots=True)
class SlaRow:
    queue: str
    on_time: int
    at_risk: int
    breached: int
    open_on_time: int
    open_at_risk: int
    open_breached: int

    @property
    def completed(self) -> int:
        return self.on_time + self.at_risk + self.breached

    @property
    def compliance(self) -> float | None:
        """Share of completed items done by their due date (None when none completed)."""
        return (self.on_time + self.at_risk) / self.completed if self.completed else None

    @property
    def open(self) -> int:
        return self.open_on_time + self.open_at_risk + self.open_breached


# (label, lower bound in days inclusive, upper bound exclusive or None)
AGE_BANDS: tuple[tuple[str, float, float | None], ...] = (
    ("under 1 day", 0, 1),
    ("1-3 days", 1, 3),
    ("3-7 days", 3, 7),
    ("7-14 days", 7, 14),
    ("14-30 days", 14, 30),
    ("30 days or more", 30, None),
)


@dataclass(frozen=True, slots=True)
class BacklogRow:
    queue: str
    bands: tuple[int, ...]  # one count per AGE_BANDS entry
    oldest: float  # seconds

    @property
    def total(self) -> int:
        return sum(self.bands)


# --- helpers ------------------------------------------------------------------------------


def _naive_utc(moment: datetime | None) -> datetime | None:
    """DuckDB compares naive timestamps without a session time zone: hand it UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: analytics needs aware times")
    return moment.astimezone(UTC).replace(tzinfo=None)


def _frame(columns: dict[str, list[object]], dtypes: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(columns)
    for name, dtype in dtypes.items():
        frame[name] = frame[name].astype(dtype)
    return frame


# One in-memory DuckDB per process; each query gets its own connection to it (a cursor),
# so its registered frames and temporary views are its own. Opening a database costs about
# 20 ms, a cursor next to nothing.
_DATABASE: duckdb.DuckDBPyConnection | None = None
_DATABASE_LOCK = threading.Lock()


def _connection() -> duckdb.DuckDBPyConnection:
    global _DATABASE
    with _DATABASE_LOCK:
        if _DATABASE is None:
            _DATABASE = duckdb.connect(":memory:")
        return _DATABASE.cursor()


def _query(
    sql: str,
    params: dict[str, object] | None = None,
    *,
    setup: str = "",
    **tables: pd.DataFrame,
) -> list[tuple[object, ...]]:
    con = _connection()
    try:
        for name, frame in tables.items():
            con.register(name, frame)
        if setup:
            con.execute(setup)
        return con.execute(sql, params or {}).fetchall()
    finally:
        con.close()


def _seconds(value: object) -> float:
    return float(value) if value is not None else 0.0  # type: ignore[arg-type]


# --- the directly-follows graph ----------------------------------------------------------


_DFG_ORDERED = """
CREATE TEMP VIEW o AS
SELECT *,
  LEAD(activity) OVER w AS next_activity,
  LEAD(started_at) OVER w AS next_start,
  ROW_NUMBER() OVER w AS pos,
  COUNT(*) OVER (PARTITION BY case_id) AS n
FROM log WINDOW w AS (PARTITION BY case_id ORDER BY ended_at, seq)
"""
_DFG_EDGES = """
WITH w AS (
  SELECT activity, next_activity,
    greatest(date_diff('microsecond', ended_at, next_start), 0) / 1e6 AS wait
  FROM o WHERE next_activity IS NOT NULL
)
SELECT activity, next_activity, count(*), avg(wait), median(wait)
FROM w GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
"""
_DFG_NODES = """
SELECT activity, count(*), count(DISTINCT case_id),
  avg(greatest(date_diff('microsecond', started_at, ended_at), 0) / 1e6),
  count(*) FILTER (WHERE pos = 1), count(*) FILTER (WHERE pos = n)
FROM o GROUP BY 1 ORDER BY min(pos), 2 DESC, 1
"""


def directly_follows(events: Iterable[LogEvent]) -> Dfg:
    rows = list(events)
    return directly_follows_frame(
        _frame(
            {
                "case_id": [e.case for e in rows],
                "activity": [e.activity for e in rows],
                "started_at": [_naive_utc(e.started_at) for e in rows],
                "ended_at": [_naive_utc(e.ended_at) for e in rows],
            },
            {"started_at": "datetime64[us]", "ended_at": "datetime64[us]"},
        )
    )


def directly_follows_frame(frame: pd.DataFrame) -> Dfg:
    """The DFG of an event log given as a frame: case_id, activity, started_at, ended_at
    (naive UTC), in log order (the order breaks ties of equal end times)."""
    if frame.empty:
        return Dfg(nodes=[], edges=[], cases=0, events=0)
    frame = frame.assign(seq=range(len(frame)))
    edge_rows = _query(_DFG_EDGES, setup=_DFG_ORDERED, log=frame)
    node_rows = _query(_DFG_NODES, setup=_DFG_ORDERED, log=frame)
    nodes = [
        DfgNode(
            activity=str(a),
            count=int(c),  # type: ignore[call-overload]
            cases=int(k),  # type: ignore[call-overload]
            mean_duration=_seconds(d),
            starts=int(s),  # type: ignore[call-overload]
            ends=int(e),  # type: ignore[call-overload]
        )
        for a, c, k, d, s, e in node_rows
    ]
    edges = [
        DfgEdge(
            source=str(a),
            target=str(b),
            count=int(c),  # type: ignore[call-overload]
            mean_wait=_seconds(mean),
            median_wait=_seconds(median),
        )
        for a, b, c, mean, median in edge_rows
    ]
    return Dfg(nodes=nodes, edges=edges, cases=int(frame["case_id"].nunique()), events=len(frame))


# --- throughput --------------------------------------------------------------------------


def throughput(cases: Iterable[CaseSpan]) -> list[ThroughputRow]:
    done = [c for c in cases if c.completed_at is not None]
    if not done:
        return []
    frame = _frame(
        {
            "version": [c.version for c in done],
            "submitted_at": [_naive_utc(c.submitted_at) for c in done],
            "completed_at": [_naive_utc(c.completed_at) for c in done],
        },
        {"submitted_at": "datetime64[us]", "completed_at": "datetime64[us]"},
    )
    rows = _query(
        """
        WITH t AS (
          SELECT version,
            greatest(date_diff('microsecond', submitted_at, completed_at), 0) / 1e6 AS s
          FROM cases
        )
        SELECT version, count(*), quantile_cont(s, 0.5), quantile_cont(s, 0.9),
          quantile_cont(s, 0.95), avg(s)
        FROM t GROUP BY version ORDER BY version
        """,
        cases=frame,
    )
    return [
        ThroughputRow(
            version=int(v),  # type: ignore[call-overload]
            completed=int(n),  # type: ignore[call-overload]
            p50=_seconds(p50),
            p90=_seconds(p90),
            p95=_seconds(p95),
            mean=_seconds(mean),
        )
        for v, n, p50, p90, p95, mean in rows
    ]


# --- SLA compliance and backlog ----------------------------------------------------------

OPEN_STATUSES = ("open", "claimed")


def _items_frame(items: Sequence[ItemRow]) -> pd.DataFrame:
    return _frame(
        {
            "queue": [i.queue for i in items],
            "status": [i.status for i in items],
            "created_at": [_naive_utc(i.created_at) for i in items],
            "at_risk_at": [_naive_utc(i.at_risk_at) for i in items],
            "due_at": [_naive_utc(i.due_at) for i in items],
            "completed_at": [_naive_utc(i.completed_at) for i in items],
        },
        {
            "created_at": "datetime64[us]",
            "at_risk_at": "datetime64[us]",
            "due_at": "datetime64[us]",
            "completed_at": "datetime64[us]",
        },
    )


def sla_compliance(items: Iterable[ItemRow], *, now: datetime) -> list[SlaRow]:
    return sla_compliance_frame(_items_frame(list(items)), now=now)


def sla_compliance_frame(items: pd.DataFrame, *, now: datetime) -> list[SlaRow]:
    """SLA bands per queue of work items given as a frame (queue, status, created_at,
    at_risk_at, due_at, completed_at; naive UTC)."""
    kept = items[items["status"] != "cancelled"] if not items.empty else items
    if kept.empty:
        return []
    rows = _query(
        """
        WITH b AS (
          SELECT queue,
            CASE
              WHEN status = 'completed' THEN
                CASE WHEN completed_at > due_at THEN 'breached'
                     WHEN completed_at > at_risk_at THEN 'at_risk'
                     ELSE 'on_time' END
              WHEN due_at <= $now THEN 'open_breached'
              WHEN at_risk_at <= $now THEN 'open_at_risk'
              ELSE 'open_on_time'
            END AS band
          FROM items
        )
        SELECT queue,
          count(*) FILTER (WHERE band = 'on_time'),
          count(*) FILTER (WHERE band = 'at_risk'),
          count(*) FILTER (WHERE band = 'breached'),
          count(*) FILTER (WHERE band = 'open_on_time'),
          count(*) FILTER (WHERE band = 'open_at_risk'),
          count(*) FILTER (WHERE band = 'open_breached')
        FROM b GROUP BY queue ORDER BY queue
        """,
        {"now": _naive_utc(now)},
        items=kept,
    )
    return [
        SlaRow(str(q), *(int(x) for x in counts))  # type: ignore[call-overload]
        for q, *counts in rows
    ]


# the bounds of AGE_BANDS, in days
_BACKLOG = """
WITH a AS (
  SELECT queue, greatest(date_diff('microsecond', created_at, $now), 0) / 86400e6 AS days
  FROM items
)
SELECT queue, max(days) * 86400,
  count(*) FILTER (WHERE days < 1),
  count(*) FILTER (WHERE days >= 1 AND days < 3),
  count(*) FILTER (WHERE days >= 3 AND days < 7),
  count(*) FILTER (WHERE days >= 7 AND days < 14),
  count(*) FILTER (WHERE days >= 14 AND days < 30),
  count(*) FILTER (WHERE days >= 30)
FROM a GROUP BY queue ORDER BY queue
"""


def backlog_age(items: Iterable[ItemRow], *, now: datetime) -> list[BacklogRow]:
    """Open and claimed items per queue, by how long they have waited (AGE_BANDS)."""
    return backlog_age_frame(_items_frame(list(items)), now=now)


def backlog_age_frame(items: pd.DataFrame, *, now: datetime) -> list[BacklogRow]:
    kept = items[items["status"].isin(OPEN_STATUSES)] if not items.empty else items
    if kept.empty:
        return []
    rows = _query(_BACKLOG, {"now": _naive_utc(now)}, items=kept)
    return [
        BacklogRow(
            queue=str(q),
            oldest=_seconds(oldest),
            bands=tuple(int(x) for x in counts),  # type: ignore[call-overload]
        )
        for q, oldest, *counts in rows
    ]
