"""The DuckDB trainer (registry.linkage.training) counts what it claims to count."""

import itertools
import math

import duckdb
import pandas as pd
import pytest

from demo.synth import Population
from registry import standardise
from registry.linkage import comparisons, frame, training
from registry.linkage import model as linkage_model


@pytest.fixture(scope="module")
def records():
    rows = []
    for household in Population(people=60, seed=11).households():
        for r in household.records:
            rows.append(
                {
                    "unique_id": len(rows) + 1,
                    "given_name": standardise.name(r.given_name),
                    "family_name": standardise.name(r.family_name),
                    "date_of_birth": r.date_of_birth,
                    "address": standardise.address(r.address_line),
                    "postcode": standardise.postcode(r.postcode),
                    "national_id_index": r.national_id,
                    "sex": r.sex,
                }
            )
    return frame.prepare(pd.DataFrame(rows))


def _loaded(records):
    con = duckdb.connect()
    con.register("f", records)
    con.execute(f"CREATE TABLE {training.TABLE} AS SELECT * FROM f")
    return con


def _rows(records):
    return [
        {k: (None if v is None or v is pd.NA or v != v else v) for k, v in row.items()}
        for row in records.to_dict("records")
    ]


def test_the_prior_counts_the_pairs_the_deterministic_rules_find(records):
    # given the records in DuckDB and two deterministic rules
    con = _loaded(records)
    rules = [("national_id_index", "dob"), ("family_name", "postcode")]

    # when the prior is computed
    prior = training.prior(con, rules, records=len(records), recall=0.8)

    # then it is the pairs either rule finds (counted one by one here) over all pairs
    rows = _rows(records)
    found = sum(
        1
        for a, b in itertools.combinations(rows, 2)
        if any(all(a[c] is not None and a[c] == b[c] for c in rule) for rule in rules)
    )
    assert found > 0
    total = len(rows) * (len(rows) - 1) / 2
    assert prior == pytest.approx(found / total / 0.8)


def test_u_from_every_pair_is_each_levels_share_as_the_python_predicates_see_it(records):
    # given a sample as large as all pairs (so it is every pair)
    con = _loaded(records)
    settings = linkage_model.settings_for(None)
    pairs = len(records) * (len(records) - 1) // 2

    # when u is estimated in SQL
    counts = training.u_counts(
        con, settings["comparisons"], list(records.columns), max_pairs=pairs, seed=1
    )
    u = training.u_probabilities(counts, settings["comparisons"])

    # then each level's u is the share of pairs the Python predicates put in it
    rows = _rows(records)
    assert int(counts["n"].sum()) == pairs
    for i, comparison in enumerate(comparisons.COMPARISONS):
        levels = [
            comparisons.comparison_level(comparison, a, b)
            for a, b in itertools.combinations(rows, 2)
        ]
        informative = [x for x in levels if not comparison.levels[x].is_null]
        for j, level in enumerate(comparison.levels):
            share = informative.count(j) / len(informative) if informative else 0
            expected = None if level.is_null or share == 0 else share
            assert u[i][j] == pytest.approx(expected), (comparison.name, level.label)


def test_training_gives_agreement_on_the_national_id_far_more_weight_than_disagreement(
    records,
):
    # given the synthetic records
    # when a model is trained on them without labels
    from registry.linkage import pipeline

    with pipeline.backend("duckdb") as db_api:
        model = linkage_model.train_on(records, db_api=db_api)

    # then every informative level has m and u, and agreement on the ID is strong evidence
    scoring = comparisons.ScoringModel.from_json(model)
    national = {p.label: p.weight for p in scoring.levels["national_id"]}
    assert national["National ID the same"] > 5 > 0 > national["All other comparisons"]
    assert 0 < model["probability_two_random_records_match"] < 0.5


def test_a_level_no_random_pair_fell_in_still_counts_as_strong_evidence(records):
    # given a model trained on the records, with one level's u as if no sampled pair had it
    from registry.linkage import pipeline

    with pipeline.backend("duckdb") as db_api:
        model = linkage_model.train_on(records, db_api=db_api)
    level = model["comparisons"][3]["comparison_levels"][1]  # address, postcode and town
    level.pop("u_probability")
    level["m_probability"] = 0.5

    # when the untrained parts are filled in
    linkage_model._fill_untrained(model)

    # then the level weighs as if one pair of the sample had it (not nothing)
    scoring = comparisons.ScoringModel.from_json(model)
    weight = scoring.levels["location"][1].weight
    assert weight == pytest.approx(math.log2(0.5 * linkage_model.U_MAX_PAIRS))
