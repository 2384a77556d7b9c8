"""Geometry for the analytics page's charts, drawn as inline SVG by the templates.

The directly-follows graph is laid out in layers from top to bottom: a node's layer is its
distance from the activities cases start with, so the usual path reads downwards and fits
a narrow screen. Edges to a later layer are curves down; edges back (loops, rework) curve
round the right-hand side. Every figure is also in a table on the page; the drawing is
`aria-hidden` detail beside a text summary.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cases.analytics.compute import Dfg

NODE_W = 200
NODE_H = 46
GAP_X = 40
GAP_Y = 70
MARGIN = 20
LOOP_SPACE = 90
MAX_LABEL = 28


def duration_text(seconds: float | None) -> str:
    """A duration for people: '45 s', '12 min', '3.5 h', '2.1 days'."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return _("%(n)s s") % {"n": f"{seconds:.0f}"}
    if seconds < 3600:
        return _("%(n)s min") % {"n": f"{seconds / 60:.0f}"}
    if seconds < 86400:
        return _("%(n)s h") % {"n": f"{seconds / 3600:.1f}"}
    days = seconds / 86400
    return ngettext("%(n)s day", "%(n)s days", round(days)) % {"n": f"{days:.1f}"}


@dataclass(frozen=True)
class NodeBox:
    activity: str
    label: str  # shortened to fit the box; the full name is in the table
    count: int
    x: float
    y: float
    w: float = NODE_W
    h: float = NODE_H

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def text_y(self) -> float:
        return self.y + 19

    @property
    def count_y(self) -> float:
        return self.y + 37


@dataclass(frozen=True)
class EdgePath:
    source: str
    target: str
    count: int
    d: str
    label_x: float
    label_y: float
    width: float
    back: bool
    mean_wait: str
    median_wait: str


@dataclass(frozen=True)
class DfgDrawing:
    width: float
    height: float
    nodes: list[NodeBox]
    edges: list[EdgePath]


def _short(text: str) -> str:
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def _layers(dfg: Dfg) -> dict[str, int]:
    """Breadth-first distance from the start activities; unreachable ones go last."""
    order = [n.activity for n in dfg.nodes]
    following: dict[str, list[str]] = {a: [] for a in order}
    for edge in dfg.edges:
        following.setdefault(edge.source, []).append(edge.target)
    starts = [n.activity for n in dfg.nodes if n.starts] or order[:1]
    layer = dict.fromkeys(starts, 0)
    queue = deque(starts)
    while queue:
        current = queue.popleft()
        for nxt in following.get(current, []):
            if nxt not in layer:
                layer[nxt] = layer[current] + 1
                queue.append(nxt)
    last = max(layer.values(), default=-1)
    for activity in order:
        if activity not in layer:
            last += 1
            layer[activity] = last
    return layer


def dfg_drawing(dfg: Dfg) -> DfgDrawing:
    layer = _layers(dfg)
    rows: dict[int, list[str]] = {}
    for node in dfg.nodes:
        rows.setdefault(layer[node.activity], []).append(node.activity)
    widest = max((len(r) for r in rows.values()), default=1)
    inner = widest * NODE_W + (widest - 1) * GAP_X
    width = inner + 2 * MARGIN + LOOP_SPACE
    counts = {n.activity: n.count for n in dfg.nodes}
    boxes: dict[str, NodeBox] = {}
    for index, activities in sorted(rows.items()):
        span = len(activities) * NODE_W + (len(activities) - 1) * GAP_X
        left = MARGIN + (inner - span) / 2
        for position, activity in enumerate(activities):
            boxes[activity] = NodeBox(
                activity=activity,
                label=_short(activity),
                count=counts[activity],
                x=left + position * (NODE_W + GAP_X),
                y=MARGIN + index * (NODE_H + GAP_Y),
            )
    height = MARGIN * 2 + (len(rows) * (NODE_H + GAP_Y) - GAP_Y if rows else 0)
    busiest = max((e.count for e in dfg.edges), default=1)
    edges = []
    loops = 0
    for edge in dfg.edges:
        a, b = boxes[edge.source], boxes[edge.target]
        stroke = 1.5 + 4.5 * edge.count / busiest
        if b.y > a.y:
            x1, y1, x2, y2 = a.cx, a.y + a.h, b.cx, b.y - 4
            mid = (y1 + y2) / 2
            d = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}"
            label_x, label_y, back = (x1 + x2) / 2 + 6, mid + 4, False
        else:
            loops += 1
            bulge = inner + MARGIN + 20 + min(loops, 6) * 10
            x1, y1 = a.x + a.w, a.y + a.h / 2
            x2, y2 = b.x + b.w + 4, b.y + b.h / 2
            d = f"M{x1:.1f},{y1:.1f} C{bulge:.1f},{y1:.1f} {bulge:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
            label_x, label_y, back = bulge - 8, (y1 + y2) / 2 + 4, True
        edges.append(
            EdgePath(
                source=edge.source,
                target=edge.target,
                count=edge.count,
                d=d,
                label_x=label_x,
                label_y=label_y,
                width=round(stroke, 1),
                back=back,
                mean_wait=duration_text(edge.mean_wait),
                median_wait=duration_text(edge.median_wait),
            )
        )
    return DfgDrawing(
        width=width, height=max(height, NODE_H), nodes=list(boxes.values()), edges=edges
    )


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: its label, its value as text and its length in % of the scale."""

    label: str
    value: str
    percent: float


def bars(values: list[tuple[str, float, str]]) -> list[Bar]:
    """(label, number, text) -> bars scaled to the largest number."""
    top = max((v for _label, v, _text in values), default=0.0)
    return [
        Bar(label=label, value=text, percent=round(100 * v / top, 1) if top else 0.0)
        for label, v, text in values
    ]
