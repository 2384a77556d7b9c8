from datetime import datetime
from itertools import count

from registry.linkage.ids import assign


def _ids():
    numbers = count(1)
    return lambda: f"PNEW{next(numbers)}"


OLD = {"PA": datetime(2020, 1, 1), "PB": datetime(2021, 1, 1), "PC": datetime(2022, 1, 1)}


def test_an_unchanged_clustering_keeps_every_id_and_moves_nobody():
    # given records already in persons, clustered the same way again
    plan = assign(
        record_clusters={1: "x", 2: "x", 3: "y"},
        record_persons={1: "PA", 2: "PA", 3: "PB"},
        person_created=OLD,
        new_id=_ids(),
    )
    # then the ids carry over and there is nothing to record
    assert plan.cluster_person == {"x": "PA", "y": "PB"}
    assert plan.moves == {} and plan.created == [] and plan.retired == {}


def test_a_merge_keeps_the_id_holding_most_records_and_retires_the_other_into_it():
    # given two persons whose records now form one cluster (PB holds more of it)
    plan = assign(
        record_clusters={1: "x", 2: "x", 3: "x"},
        record_persons={1: "PA", 2: "PB", 3: "PB"},
        person_created=OLD,
        new_id=_ids(),
    )
    # then the cluster keeps PB, PA is retired into PB and its record moves
    assert plan.cluster_person == {"x": "PB"}
    assert plan.retired == {"PA": "PB"}
    assert plan.moves == {1: ("PA", "PB")}


def test_a_tie_goes_to_the_older_person():
    plan = assign(
        record_clusters={1: "x", 2: "x"},
        record_persons={1: "PB", 2: "PA"},
        person_created=OLD,
        new_id=_ids(),
    )
    assert plan.cluster_person == {"x": "PA"}
    assert plan.retired == {"PB": "PA"}


def test_a_split_keeps_the_id_on_the_bigger_part_and_gives_the_rest_a_new_one():
    # given one person whose records now form two clusters
    plan = assign(
        record_clusters={1: "x", 2: "x", 3: "y"},
        record_persons={1: "PA", 2: "PA", 3: "PA"},
        person_created=OLD,
        new_id=_ids(),
    )
    # then the bigger part keeps the id, the other is a new person, and one record moves
    assert plan.cluster_person == {"x": "PA", "y": "PNEW1"}
    assert plan.created == ["PNEW1"]
    assert plan.moves == {3: ("PA", "PNEW1")}
    assert plan.retired == {}


def test_new_records_join_or_found_persons_and_scattered_persons_retire_unmerged():
    # given PC's records scattered over two clusters held by others, and a new record
    plan = assign(
        record_clusters={1: "x", 2: "x", 3: "y", 4: "y", 5: "x", 6: "y", 7: "z"},
        record_persons={1: "PA", 2: "PA", 3: "PB", 4: "PB", 5: "PC", 6: "PC", 7: None},
        person_created=OLD,
        new_id=_ids(),
    )
    # then PC is retired without a merge target; the new record founds a new person
    assert plan.retired == {"PC": None}
    assert plan.cluster_person["z"] == "PNEW1"
    assert plan.moves[7] == (None, "PNEW1")
