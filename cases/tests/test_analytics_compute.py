"""Process analytics computed on small hand-built logs (no database)."""

from datetime import UTC, datetime, timedelta

import pytest

from cases.analytics.compute import (
    AGE_BANDS,
    CaseSpan,
    ItemRow,
    LogEvent,
    backlog_age,
    directly_follows,
    sla_compliance,
    throughput,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)


def _log():
    """Three cases: two automatic (submit -> decide -> notify), one reviewed by a person."""
    return [
        # case A: decide waits 1 h after submit, notify 3 h after decide ends
        LogEvent("A", "Submit", T0, T0, "system"),
        LogEvent("A", "Decide", T0 + H, T0 + 2 * H, "system"),
        LogEvent("A", "Notify", T0 + 5 * H, T0 + 5 * H, "system"),
        # case B: decide waits 3 h, notify 1 h
        LogEvent("B", "Submit", T0, T0, "system"),
        LogEvent("B", "Decide", T0 + 3 * H, T0 + 3 * H, "system"),
        LogEvent("B", "Notify", T0 + 4 * H, T0 + 4 * H, "system"),
        # case C: decide waits 2 h, review right away (10 h in the queue), notify 30 min later
        LogEvent("C", "Submit", T0, T0, "system"),
        LogEvent("C", "Decide", T0 + 2 * H, T0 + 2 * H, "system"),
        LogEvent("C", "Review", T0 + 2 * H, T0 + 12 * H, "cas"),
        LogEvent("C", "Notify", T0 + 12.5 * H, T0 + 12.5 * H, "system"),
    ]


def test_dfg_counts_each_directly_follows_pair():
    # given the hand-built log, when the graph is computed
    dfg = directly_follows(_log())
    # then every pair that follows directly is an edge with its frequency
    counts = {(e.source, e.target): e.count for e in dfg.edges}
    assert counts == {
        ("Submit", "Decide"): 3,
        ("Decide", "Notify"): 2,
        ("Decide", "Review"): 1,
        ("Review", "Notify"): 1,
    }
    assert (dfg.cases, dfg.events) == (3, 10)
    # and the most frequent edge comes first
    assert dfg.edges[0].source == "Submit"


def test_dfg_waiting_times_are_mean_and_median_of_gaps():
    dfg = directly_follows(_log())
    edges = {(e.source, e.target): e for e in dfg.edges}
    # Submit -> Decide waited 1 h, 3 h and 2 h: mean 2 h, median 2 h
    assert edges["Submit", "Decide"].mean_wait == pytest.approx(2 * 3600)
    assert edges["Submit", "Decide"].median_wait == pytest.approx(2 * 3600)
    # Decide -> Notify waited 3 h and 1 h: mean 2 h, median 2 h (middle of two)
    assert edges["Decide", "Notify"].mean_wait == pytest.approx(2 * 3600)
    assert edges["Review", "Notify"].mean_wait == pytest.approx(1800)
    assert edges["Decide", "Review"].mean_wait == 0


def test_dfg_nodes_carry_frequency_duration_and_start_end_counts():
    nodes = {n.activity: n for n in directly_follows(_log()).nodes}
    assert nodes["Review"].count == 1
    assert nodes["Review"].mean_duration == pytest.approx(10 * 3600)
    assert nodes["Decide"].mean_duration == pytest.approx(1200)  # (1 h + 0 + 0) / 3
    assert (nodes["Submit"].starts, nodes["Notify"].ends) == (3, 3)
    assert nodes["Decide"].starts == nodes["Decide"].ends == 0


def test_dfg_orders_events_by_completion_not_by_input_order():
    # given case A's events handed in backwards
    dfg = directly_follows(list(reversed(_log()[:3])))
    # then the graph still reads Submit -> Decide -> Notify
    assert [(e.source, e.target) for e in dfg.edges] == [
        ("Decide", "Notify"),
        ("Submit", "Decide"),
    ]


def test_overlapping_activities_wait_zero_not_negative():
    # given B starts before A ends
    log = [
        LogEvent("X", "A", T0, T0 + 2 * H),
        LogEvent("X", "B", T0 + H, T0 + 3 * H),
    ]
    (edge,) = directly_follows(log).edges
    assert edge.mean_wait == 0


def test_empty_log_gives_an_empty_graph():
    dfg = directly_follows([])
    assert dfg.nodes == [] and dfg.edges == [] and dfg.cases == 0


def test_throughput_percentiles_per_version_interpolate_linearly():
    # given ten completed cases of version 1 taking 1..10 days, and two of version 2
    cases = [CaseSpan(f"c{i}", 1, T0, T0 + i * D) for i in range(1, 11)]
    cases += [CaseSpan("v2a", 2, T0, T0 + 2 * H), CaseSpan("v2b", 2, T0, T0 + 4 * H)]
    # and one still running, which does not count
    cases.append(CaseSpan("open", 1, T0, None))
    rows = {r.version: r for r in throughput(cases)}
    # then p50 = 5.5 d, p90 = 9.1 d, p95 = 9.55 d (position (n-1)p between sorted values)
    v1 = rows[1]
    assert v1.completed == 10
    assert v1.p50 == pytest.approx(5.5 * 86400)
    assert v1.p90 == pytest.approx(9.1 * 86400)
    assert v1.p95 == pytest.approx(9.55 * 86400)
    assert v1.mean == pytest.approx(5.5 * 86400)
    assert rows[2].completed == 2
    assert rows[2].p50 == pytest.approx(3 * 3600)


def _item(queue, status, *, created=T0, completed=None):
    return ItemRow(queue, status, created, created + 4 * D, created + 5 * D, completed)


def test_sla_bands_of_completed_and_open_items():
    now = T0 + 4.5 * D
    items = [
        _item("review", "completed", completed=T0 + 1 * D),  # before at-risk: on time
        _item("review", "completed", completed=T0 + 4.5 * D),  # in the at-risk window
        _item("review", "completed", completed=T0 + 6 * D),  # after due: breached
        _item("review", "open"),  # now past at-risk, not due: open at risk
        _item("review", "claimed", created=T0 - 2 * D),  # due at T0 + 3 d: open breached
        _item("review", "cancelled"),  # ignored
        _item("appeal", "open", created=now),  # fresh: open on time
    ]
    rows = {r.queue: r for r in sla_compliance(items, now=now)}
    review = rows["review"]
    assert (review.on_time, review.at_risk, review.breached) == (1, 1, 1)
    assert (review.open_on_time, review.open_at_risk, review.open_breached) == (0, 1, 1)
    assert review.compliance == pytest.approx(2 / 3)
    appeal = rows["appeal"]
    assert appeal.completed == 0 and appeal.compliance is None and appeal.open_on_time == 1


def test_backlog_age_bands_count_only_open_items():
    now = T0 + 40 * D
    ages = [0.5, 2, 2.5, 5, 10, 20, 31]  # days: one per band, two in 1-3 days
    items = [_item("review", "open", created=now - a * D) for a in ages]
    items.append(_item("review", "completed", created=now - 3 * D, completed=now))
    (row,) = backlog_age(items, now=now)
    assert AGE_BANDS[0][0] == "under 1 day"
    assert row.bands == (1, 2, 1, 1, 1, 1)
    assert row.total == 7
    assert row.oldest == pytest.approx(31 * 86400)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="aware"):
        directly_follows([LogEvent("A", "x", datetime(2025, 1, 1), datetime(2025, 1, 1))])
