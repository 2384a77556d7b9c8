"""Stable master person ids: who keeps which id when the clusters are recomputed.

A link run clusters every source record afresh; the clusters have no ids of their own.
This module decides which master person id each new cluster carries, so that a person
keeps their id as long as their cluster continues. The rule:

1. Every pair (new cluster, old person) that shares records is a claim, weighed by the
   number of shared records.
2. Claims are granted in order: most shared records first; on a tie the older person
   (earlier `created_at`), then the smaller person id, then the smaller cluster id, so the
   outcome never depends on the order of the input.
3. A claim is granted only when neither its cluster nor its person has one yet: an old id
   goes to one cluster only, and a cluster takes one id only.
4. Clusters left without an id become new persons (new ids).
5. Old persons left without a cluster are retired. When most (more than half) of their
   records went to one person, `merged_into` points there; otherwise (their records went
   many ways) it stays empty.

Every record whose person differs from before (including its first person) gets a
membership event; records that stay with their person get none.

`assign(...)` is a pure function of the records' old persons and new clusters; the
service (registry.services.linkage) writes the result.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Assignment:
    # cluster -> person id it carries
    cluster_person: dict[Hashable, str] = field(default_factory=dict)
    # person ids made for clusters no old person continues
    created: list[str] = field(default_factory=list)
    # retired person id -> person id it was merged into (or None)
    retired: dict[str, str | None] = field(default_factory=dict)
    # record -> (old person or None, new person) for every record whose person changes
    moves: dict[Any, tuple[str | None, str]] = field(default_factory=dict)


def assign(
    *,
    record_clusters: Mapping[Any, Hashable],
    record_persons: Mapping[Any, str | None],
    person_created: Mapping[str, datetime],
    new_id: Callable[[], str],
) -> Assignment:
    """Person ids for the new clusters (see the module docstring for the rule).

    `record_clusters`: record -> new cluster; `record_persons`: record -> its person before
    the run (None if it had none); `person_created`: when each old person was created.
    """
    shared: Counter[tuple[Hashable, str]] = Counter()
    for record, cluster in record_clusters.items():
        old = record_persons.get(record)
        if old is not None:
            shared[(cluster, old)] += 1

    far_future = datetime.max

    def order(item: tuple[tuple[Hashable, str], int]) -> tuple[int, datetime, str, str]:
        (cluster, person), count = item
        created = person_created.get(person, far_future)
        if created.tzinfo is not None:
            created = created.replace(tzinfo=None)
        return (-count, created, person, str(cluster))

    result = Assignment()
    taken_persons: set[str] = set()
    for (cluster, person), _count in sorted(shared.items(), key=order):
        if cluster in result.cluster_person or person in taken_persons:
            continue
        result.cluster_person[cluster] = person
        taken_persons.add(person)

    for cluster in sorted(set(record_clusters.values()), key=str):
        if cluster not in result.cluster_person:
            person_id = new_id()
            result.cluster_person[cluster] = person_id
            result.created.append(person_id)

    went_to: dict[str, Counter[str]] = defaultdict(Counter)
    for record, cluster in record_clusters.items():
        new = result.cluster_person[cluster]
        old = record_persons.get(record)
        if old != new:
            result.moves[record] = (old, new)
        if old is not None and old not in taken_persons:
            went_to[old][new] += 1

    for person in sorted(went_to):
        destinations = went_to[person]
        target, count = destinations.most_common(1)[0]
        result.retired[person] = target if count * 2 > destinations.total() else None
    return result
