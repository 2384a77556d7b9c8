import datetime

import pandas as pd
import pytest

from demo.synth import Population
from registry import standardise
from registry.linkage import comparisons, frame
from registry.linkage.pipeline import link_frame


def _safe(fn, value):
    try:
        return fn(value)
    except ValueError:
        return ""


@pytest.fixture(scope="module")
def synthetic_frame():
    rows = []
    for household in Population(people=600, seed=5).households():
        for r in household.records:
            rows.append(
                {
                    "unique_id": len(rows) + 1,
                    "given_name": standardise.name(r.given_name),
                    "family_name": standardise.name(r.family_name),
                    "previous_family_name": standardise.name(r.previous_family_name),
                    "date_of_birth": r.date_of_birth,
                    "address": standardise.address(r.address_line),
                    "postcode": standardise.postcode(r.postcode),
                    "national_id_index": r.national_id,
                    "sex": r.sex,
                    "phone": _safe(standardise.phone, r.phone),
                    "email": _safe(standardise.email, r.email),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def linked(synthetic_frame):
    return link_frame(synthetic_frame, floor=0.0001, explain=True)


def test_python_scorer_gives_the_weights_splink_gives_including_term_frequencies(
    synthetic_frame, linked
):
    # given Splink's scores of every blocked pair and the term frequencies of the same data
    prepared = frame.prepare(synthetic_frame).set_index("unique_id", drop=False)
    tf = frame.term_frequencies(prepared, comparisons.TF_COLUMNS)
    model = comparisons.ScoringModel.from_json(linked.model_json, term_frequencies=tf)
    pairs = linked.predictions
    assert len(pairs) > 500
    with_tf = pairs[pairs["mw_tf_adj_family_name"].abs() > 1e-9]
    assert len(with_tf) > 100  # the comparison exercises term-frequency adjustments

    # when each pair is scored in Python
    mismatches = []
    for row in pairs.to_dict("records"):
        left = prepared.loc[row["unique_id_l"]].to_dict()
        right = prepared.loc[row["unique_id_r"]].to_dict()
        score = comparisons.score_pair(model, _nulls(left), _nulls(right))
        if abs(score.weight - row["match_weight"]) > 1e-6:
            mismatches.append((row["unique_id_l"], row["unique_id_r"], score.weight, row))
        # then each comparison's weight is Splink's too
        by_name = {e["comparison"]: e["weight"] for e in score.explanation}
        for name, weight in by_name.items():
            splink = row[f"mw_{name}"] + (row.get(f"mw_tf_adj_{name}") or 0.0)
            assert weight == pytest.approx(splink, abs=1e-6), name

    # then every pair's weight and probability agree
    assert mismatches == []


def _nulls(values):
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in values.items()}


def test_a_missing_value_weighs_nothing_and_a_mismatch_counts_against():
    # given a model with known m and u for the national ID
    model_json = _toy_model()
    model = comparisons.ScoringModel.from_json(model_json)
    base = frame.features({"unique_id": 1, "given_name": "ann", "national_id_index": "A"})
    same = frame.features({"unique_id": 2, "given_name": "ann", "national_id_index": "A"})
    other = frame.features({"unique_id": 3, "given_name": "ann", "national_id_index": "B"})
    missing = frame.features({"unique_id": 4, "given_name": "ann"})

    # when pairs differing only in the national ID are scored
    weights = {
        name: next(
            e["weight"]
            for e in comparisons.score_pair(model, base, right).explanation
            if e["comparison"] == "national_id"
        )
        for name, right in (("same", same), ("other", other), ("missing", missing))
    }

    # then agreement counts for, disagreement against, and a missing value not at all
    assert weights["same"] > 0 > weights["other"]
    assert weights["missing"] == 0


def _toy_model():
    comps = []
    for comparison in comparisons.COMPARISONS:
        levels = []
        for index, level in enumerate(comparison.levels):
            if level.is_null:
                levels.append({"is_null_level": True})
            else:
                m = 0.9 if index == 1 else 0.1 / len(comparison.levels)
                u = 0.01 if index == 1 else 0.99 / len(comparison.levels)
                levels.append({"m_probability": m, "u_probability": u})
        comps.append({"output_column_name": comparison.name, "comparison_levels": levels})
    return {
        "probability_two_random_records_match": 0.001,
        "comparisons": comps,
        "civicstack": {"spec_version": comparisons.SPEC_VERSION},
    }


def test_features_of_one_record_equal_the_bulk_frame(synthetic_frame):
    # given the frame built in bulk
    prepared = frame.prepare(synthetic_frame)

    # when each record's features are derived one at a time
    for source, bulk in zip(
        synthetic_frame.to_dict("records"), prepared.to_dict("records"), strict=True
    ):
        # then they are the same values
        assert frame.features(source) == _nulls(bulk) | {"dob_days": _int(bulk["dob_days"])}


def _int(value):
    return None if value is None or pd.isna(value) else int(value)


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        (datetime.date(1985, 3, 14), datetime.date(1985, 3, 14), "Date of birth the same"),
        (datetime.date(1985, 3, 4), datetime.date(1985, 4, 3), "Day and month swapped"),
        (datetime.date(1985, 3, 14), datetime.date(1958, 3, 14), "Date of birth one typo apart"),
        (datetime.date(1989, 12, 30), datetime.date(1990, 2, 1), "Date of birth within a year"),
        (datetime.date(1985, 3, 14), None, "Date of birth missing"),
    ],
)
def test_date_of_birth_levels(left, right, level):
    model = comparisons.ScoringModel.from_json(_toy_model())
    a = frame.features({"unique_id": 1, "date_of_birth": left})
    b = frame.features({"unique_id": 2, "date_of_birth": right})
    explained = comparisons.score_pair(model, a, b).explanation
    assert next(e["level"] for e in explained if e["comparison"] == "date_of_birth") == level


def test_a_nickname_matches_its_formal_name():
    model = comparisons.ScoringModel.from_json(_toy_model())
    a = frame.features({"unique_id": 1, "given_name": "jim"})
    b = frame.features({"unique_id": 2, "given_name": "james"})
    explained = comparisons.score_pair(model, a, b).explanation
    level = next(e["level"] for e in explained if e["comparison"] == "given_name")
    assert level == "Given name the same once nicknames are resolved"


def _given_level(left: dict, right: dict) -> str:
    model = comparisons.ScoringModel.from_json(_toy_model())
    a = frame.features({"unique_id": 1, **left})
    b = frame.features({"unique_id": 2, **right})
    explained = comparisons.score_pair(model, a, b).explanation
    return next(e["level"] for e in explained if e["comparison"] == "given_name")


def test_given_and_family_names_swapped_between_records_are_recognised():
    # given one record with the names the right way round and one with them swapped
    straight = {"given_name": "gabrielle", "family_name": "langer"}
    swapped = {"given_name": "langer", "family_name": "gabrielle"}
    swapped_with_typo = {"given_name": "laznger", "family_name": "gabrielel"}

    # when the given names are compared, then the swap is its own level, typo or not
    assert _given_level(straight, swapped) == "Given and family names swapped"
    assert _given_level(swapped, straight) == "Given and family names swapped"
    assert (
        _given_level(straight, swapped_with_typo) == "Given and family names swapped, with a typo"
    )
    # and two different people are not taken for a swap
    assert _given_level(straight, {"given_name": "olive", "family_name": "hart"}) == (
        "All other comparisons"
    )


def test_one_typo_level_in_sql_means_damerau_levenshtein_at_most_one():
    # given the SQL the model runs for "one typo apart" (cheap tests before the distance)
    import duckdb
    import jellyfish

    sql = comparisons._one_typo_sql("name").replace("{damerau_levenshtein}", "damerau_levenshtein")
    words = ["ann", "anne", "nan", "an", "na", "a", "", "bob", "rob", "robert", "roberta"]
    words += ["1985-03-14", "1985-03-41", "1958-03-14", "1985-30-14", "1895-03-14", "1985-03-1"]
    words += ["jöhn", "john", "joahn", "ohn", "jonh", "katherine", "kathreine", "katharine"]
    pairs = [(a, b) for a in words for b in words]

    # when DuckDB evaluates it on every pair of the words
    con = duckdb.connect()
    con.execute("CREATE TABLE p (name_l VARCHAR, name_r VARCHAR)")
    con.executemany("INSERT INTO p VALUES (?, ?)", pairs)
    got = con.execute(f"SELECT name_l, name_r, coalesce({sql}, false) FROM p").fetchall()

    # then it agrees with the edit distance itself on every pair
    wrong = [
        (a, b, hit)
        for a, b, hit in got
        if hit != (jellyfish.damerau_levenshtein_distance(a, b) <= 1)
    ]
    assert wrong == []
