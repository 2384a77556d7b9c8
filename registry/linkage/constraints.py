"""Clustering that keeps to data stewards' decisions: must-link and cannot-link pairs.

Batch linkage clusters records by connected components over the pairs the model scores
at or above the match threshold. A steward's decisions (registry.models.LinkConstraint)
then bind the next run:

- **same person** (an accepted pair, a merge): the two records end in one cluster even
  when the model scores them, or the records between them, below the threshold;
- **different people** (a rejected pair, a split): the two records never end in one
  cluster, even when the model scores them above it.

`apply(clusters, predictions, threshold=..., same=..., different=...)` takes the model's
clusters and re-clusters only the records of the clusters a decision concerns (all other
clusters are kept as they are, so a run with no decisions costs nothing): starting from
single records, it joins the "same person" pairs first, then the model's pairs in
descending match probability, and refuses any join that would put two records a steward
called different people in one cluster. So when decisions contradict each other through
other records, "different people" wins. A cluster's id is its smallest record id, as in
Splink's clustering.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd


class _Groups:
    """Union-find over records that refuses joins across a cannot-link pair."""

    def __init__(self, records: Iterable[Any], different: Iterable[tuple[Any, Any]]) -> None:
        self.parent = {r: r for r in records}
        self.members = {r: {r} for r in self.parent}
        self.apart: dict[Any, set[Any]] = {r: set() for r in self.parent}
        for a, b in different:
            if a in self.parent and b in self.parent:
                self.apart[a].add(b)
                self.apart[b].add(a)

    def find(self, record: Any) -> Any:
        root = record
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[record] != root:  # path compression
            self.parent[record], record = root, self.parent[record]
        return root

    def join(self, a: Any, b: Any) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if self.apart[ra] & self.members[rb]:
            return False
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] |= self.members.pop(rb)
        self.apart[ra] |= self.apart.pop(rb)
        return True


def apply(
    clusters: pd.DataFrame,
    predictions: pd.DataFrame,
    *,
    threshold: float,
    same: Iterable[tuple[Any, Any]] = (),
    different: Iterable[tuple[Any, Any]] = (),
) -> pd.DataFrame:
    """The clusters [unique_id, cluster_id] after the decisions (see the module docstring)."""
    cluster_of = dict(zip(clusters["unique_id"], clusters["cluster_id"], strict=True))
    same = [(a, b) for a, b in same if a in cluster_of and b in cluster_of and a != b]
    different = [(a, b) for a, b in different if a in cluster_of and b in cluster_of and a != b]
    touched = {cluster_of[a] for a, b in same if cluster_of[a] != cluster_of[b]}
    touched |= {cluster_of[b] for a, b in same if cluster_of[a] != cluster_of[b]}
    touched |= {cluster_of[a] for a, b in different if cluster_of[a] == cluster_of[b]}
    if not touched:
        return clusters
    redo = clusters["cluster_id"].isin(touched)
    records = set(clusters.loc[redo, "unique_id"].tolist())
    groups = _Groups(records, different)
    for a, b in same:
        if a in records and b in records:
            groups.join(a, b)
    if not predictions.empty:
        edges = predictions[
            (predictions["match_probability"] >= threshold)
            & predictions["unique_id_l"].isin(records)
            & predictions["unique_id_r"].isin(records)
        ].sort_values(["match_probability", "unique_id_l", "unique_id_r"], ascending=False)
        for a, b in zip(edges["unique_id_l"].tolist(), edges["unique_id_r"].tolist(), strict=True):
            groups.join(a, b)
    new_id = {r: min(groups.members[groups.find(r)]) for r in records}
    out = clusters.copy()
    out.loc[redo, "cluster_id"] = [new_id[r] for r in out.loc[redo, "unique_id"].tolist()]
    return out
