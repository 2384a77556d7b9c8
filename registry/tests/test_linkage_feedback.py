"""Clerical review decisions bind the next batch runs (must-link and cannot-link pairs)."""

import pandas as pd
import pytest

from identity.services import system_actor
from registry.linkage import comparisons, constraints
from registry.linkage import frame as linkage_frame
from registry.linkage.realtime import scoring_model
from registry.models import CandidateStatus, LinkConstraint, MatchCandidate, Person, SourceRecord
from registry.services import linkage, review
from registry.tests.factories_review import MatchCandidateFactory, person_ids_of, records_of
from registry.tests.test_linkage_run import population  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def _persons_by_size(size: int) -> list[Person]:
    persons = {}
    for person_id in SourceRecord.objects.values_list("person_id", flat=True):
        persons[person_id] = persons.get(person_id, 0) + 1
    wanted = sorted(pid for pid, n in persons.items() if n == size)
    return list(Person.objects.filter(pk__in=wanted).order_by("pk"))


def _two_unrelated_persons() -> tuple[Person, Person]:
    """Two persons the model keeps apart: different dates of birth and family names."""
    first, *others = _persons_by_size(2)
    mine = records_of(first)[0]
    for person in others:
        theirs = records_of(person)[0]
        if (theirs.date_of_birth, theirs.std_family_name) != (
            mine.date_of_birth,
            mine.std_family_name,
        ):
            return first, person
    raise AssertionError("the population has no two unrelated persons")


def _probability(a: SourceRecord, b: SourceRecord) -> float:
    model = linkage.linkage_model_active()
    assert model is not None
    left = linkage_frame.features(linkage_frame.base_values(a))
    right = linkage_frame.features(linkage_frame.base_values(b))
    return comparisons.score_pair(scoring_model(model), left, right).probability


def test_an_accepted_pair_stays_together_after_the_next_link_run(population):  # noqa: F811
    # given a linked index and a steward who accepts a pair the model keeps apart
    actor = system_actor()
    linkage.link_run(actor=actor)
    mine, theirs = _two_unrelated_persons()
    record, other = records_of(mine)[0], records_of(theirs)[0]
    candidate = MatchCandidateFactory(record=record, other=other)
    review.match_candidate_accept(candidate=candidate, actor=actor)
    assert person_ids_of(record)[0] == person_ids_of(other)[0]

    # when batch linkage runs again
    linkage.link_run(actor=actor)

    # then the two records are still one person (the steward's decision held)
    assert person_ids_of(record)[0] == person_ids_of(other)[0]


def test_merged_persons_stay_one_person_after_the_next_link_run(population):  # noqa: F811
    # given two persons the model keeps apart, merged by a steward
    actor = system_actor()
    linkage.link_run(actor=actor)
    survivor, merged = _two_unrelated_persons()
    together = records_of(survivor) + records_of(merged)
    review.persons_merge(survivor=survivor, merged=merged, actor=actor)

    # when batch linkage runs again
    linkage.link_run(actor=actor)

    # then all their records are still one person, with the survivor's id
    assert set(person_ids_of(*together)) == {survivor.pk}


def test_a_rejected_pair_stays_apart_although_the_model_links_it(population):  # noqa: F811
    # given two records the model scores above the match threshold, linked as one person
    actor = system_actor()
    linkage.link_run(actor=actor)
    model = linkage.linkage_model_active()
    assert model is not None
    pair = next(
        (a, b)
        for person in _persons_by_size(2)
        for a, b in [records_of(person)]
        if _probability(a, b) >= model.match_threshold
    )
    a, b = pair
    assert person_ids_of(a)[0] == person_ids_of(b)[0]
    # and a steward who rejects the pair ("different people")
    candidate = MatchCandidateFactory(record=a, other=b, match_probability=0.9)
    review.match_candidate_reject(candidate=candidate, actor=actor)

    # when batch linkage runs again
    linkage.link_run(actor=actor)

    # then the two records are apart, and their persons are not proposed for review again
    person_a, person_b = person_ids_of(a, b)
    assert person_a != person_b
    assert not MatchCandidate.objects.filter(
        status=CandidateStatus.OPEN,
        record__person_id__in=[person_a, person_b],
        other__person_id__in=[person_a, person_b],
    ).exists()


def test_a_split_stays_split_and_keeps_both_ids_after_the_next_link_run(population):  # noqa: F811
    # given a person of three records, and a steward who splits one off
    actor = system_actor()
    linkage.link_run(actor=actor)
    person = _persons_by_size(3)[0]
    first, second, third = records_of(person)
    change = review.person_split(person=person, record_ids=[third.pk], actor=actor)

    # when batch linkage runs again
    linkage.link_run(actor=actor)

    # then the split holds, and each side keeps its person id
    assert person_ids_of(first, second, third) == [person.pk, person.pk, change.new_person]


def test_undoing_a_split_lets_the_model_join_the_records_again(population):  # noqa: F811
    # given a split that a steward then undid
    actor = system_actor()
    linkage.link_run(actor=actor)
    person = _persons_by_size(2)[0]
    first, second = records_of(person)
    change = review.person_split(person=person, record_ids=[second.pk], actor=actor)
    assert change.action is not None
    review.membership_action_undo(action=change.action, actor=actor)
    assert not LinkConstraint.objects.filter(active=True).exists()

    # when batch linkage runs again, then the model's link stands
    linkage.link_run(actor=actor)
    assert person_ids_of(first, second) == [person.pk, person.pk]


# --- the clustering itself ------------------------------------------------------------------


def _clusters(labels: dict[int, int]) -> pd.DataFrame:
    return pd.DataFrame({"unique_id": list(labels), "cluster_id": list(labels.values())})


def _edges(*pairs: tuple[int, int, float]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["unique_id_l", "unique_id_r", "match_probability"])


def _groups(frame: pd.DataFrame) -> list[set[int]]:
    found: dict[int, set[int]] = {}
    for record, cluster in zip(frame["unique_id"], frame["cluster_id"], strict=True):
        found.setdefault(cluster, set()).add(record)
    return sorted(found.values(), key=min)


def test_cannot_link_splits_a_chain_at_its_weakest_allowed_point():
    # given a chain 1-2-3 the model clustered, and a steward who said 1 and 3 differ
    clusters = _clusters({1: 1, 2: 1, 3: 1, 4: 4})
    edges = _edges((1, 2, 0.99), (2, 3, 0.97), (1, 3, 0.96))
    # when the decisions are applied
    out = constraints.apply(clusters, edges, threshold=0.95, different=[(1, 3)])
    # then 3 leaves (its link to 2 is weaker than 1-2), and the other cluster is untouched
    assert _groups(out) == [{1, 2}, {3}, {4}]


def test_must_link_joins_clusters_but_never_across_a_cannot_link():
    # given three singletons, a must-link 1-2 and 2-3, and a cannot-link 1-3
    clusters = _clusters({1: 1, 2: 2, 3: 3})
    out = constraints.apply(
        clusters, _edges(), threshold=0.95, same=[(1, 2), (2, 3)], different=[(1, 3)]
    )
    # then 1 and 2 join; 3 cannot join them ("different people" wins)
    assert _groups(out) == [{1, 2}, {3}]


def test_without_decisions_the_models_clusters_are_kept_as_they_are():
    clusters = _clusters({1: 1, 2: 1, 3: 3})
    out = constraints.apply(clusters, _edges((1, 2, 0.99)), threshold=0.95)
    assert out is clusters
