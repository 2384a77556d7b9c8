"""The linkage benchmark's scoring: a wrong formula would publish wrong figures."""

import pytest

from bench.linkage import cluster_scores, cross_pairs, pair_scores, percentile


def test_pair_scores_count_each_link_once_against_the_truth():
    # given two true links, one found, one wrong link predicted twice
    truth = [("a1", "b1"), ("a2", "b2")]
    predicted = [("a1", "b1"), ("a2", "b3"), ("a2", "b3")]

    # when scored
    scores = pair_scores(predicted, truth)

    # then half the predicted links are right and half the true ones were found
    assert scores["precision"] == 0.5
    assert scores["recall"] == 0.5
    assert scores["f1"] == 0.5
    assert scores["predicted_pairs"] == 2


def test_pair_scores_of_no_prediction_are_zero_not_an_error():
    assert pair_scores([], [("a1", "b1")])["f1"] == 0.0


def test_cross_pairs_pair_every_left_record_with_every_right_record_of_a_cluster():
    # given a cluster with two records of file a and one of b, and a cluster of a only
    clusters = [
        ("c1", "a", "a1"),
        ("c1", "a", "a2"),
        ("c1", "b", "b1"),
        ("c2", "a", "a3"),
        ("c2", "other", "x1"),
    ]

    # when the links between a and b are taken from the clusters
    pairs = cross_pairs(clusters, left="a", right="b")

    # then only (a, b) pairs inside one cluster are links
    assert pairs == {("a1", "b1"), ("a2", "b1")}


def test_cluster_scores_pairwise_and_exact_clusters():
    # given three true persons and a clustering that splits one and wrongly joins two
    true = ["p1", "p1", "p2", "p2", "p3"]
    predicted = ["c1", "c1", "c2", "c3", "c3"]

    # when scored
    scores = cluster_scores(predicted, true)

    # then of the two predicted pairs one is true, of the two true pairs one is found
    assert scores["precision"] == 0.5
    assert scores["recall"] == 0.5
    # and only c1 is exactly one person's records: 1 of 3 clusters, 1 of 3 persons
    assert scores["exact_clusters"] == 1
    assert scores["cluster_precision"] == pytest.approx(1 / 3)
    assert scores["cluster_f1"] == pytest.approx(1 / 3)


def test_cluster_scores_do_not_depend_on_the_labels_names():
    true = ["p1", "p1", "p2", "p3", "p3", "p3"]

    scores = cluster_scores([7, 7, 1, 2, 2, 2], true)

    assert scores["f1"] == 1.0
    assert scores["cluster_f1"] == 1.0


def test_cluster_scores_refuse_labellings_of_different_lengths():
    with pytest.raises(ValueError, match="2 predicted labels for 3 records"):
        cluster_scores(["c1", "c1"], ["p1", "p1", "p2"])


def test_percentile_interpolates_between_ranks():
    values = [float(n) for n in range(1, 101)]

    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile([3.0], 99) == 3.0
