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
                    "locality": standardise.name(r.locality),
                    "postcode": standardise.postcode(r.postcode),
                    "national_id_index": r.national_id,
                    "national_id_near": frame.one_edit_keys(r.national_id),
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
    # and the pairs reach the levels of the town and of a mistyped national ID
    levels = {
        e["level"]
        for row in pairs.head(3000).to_dict("records")
        for e in comparisons.score_pair(
            model,
            _nulls(prepared.loc[row["unique_id_l"]].to_dict()),
            _nulls(prepared.loc[row["unique_id_r"]].to_dict()),
        ).explanation
    }
    assert {"National ID one typo apart", "Address and postcode the same, town similar"} <= levels


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


def _level(comparison_name, left, right):
    comparison = next(c for c in comparisons.COMPARISONS if c.name == comparison_name)
    index = comparisons.comparison_level(
        comparison,
        frame.features({"unique_id": 1, **left}),
        frame.features({"unique_id": 2, **right}),
    )
    return comparison.levels[index].label


def _id(value):
    return {"national_id_index": value, "national_id_near": frame.one_edit_keys(value)}


def test_a_national_id_with_one_typo_is_recognised_without_comparing_the_ids():
    # given national IDs as their index and their one-edit keys only
    original = _id("4173804")

    # when they are compared with the same ID, one mistyped and another person's
    # then two swapped digits and one wrong digit are one typo, anything more is not
    assert _level("national_id", original, _id("4173804")) == "National ID the same"
    assert _level("national_id", original, _id("4178304")) == "National ID one typo apart"
    assert _level("national_id", original, _id("4173809")) == "National ID one typo apart"
    assert _level("national_id", original, _id("9173804")) == "National ID one typo apart"
    assert _level("national_id", original, _id("4178309")) == "All other comparisons"
    assert _level("national_id", original, _id("4137840")) == "All other comparisons"
    # and without keys (a source that does not send them) only equality counts
    bare = {"national_id_index": "4178304"}
    assert _level("national_id", original, bare) == "All other comparisons"


def test_national_id_typo_level_in_sql_agrees_with_python():
    # given the SQL of the level as DuckDB runs it, and pairs of IDs near and far
    import duckdb

    level = next(
        lvl
        for c in comparisons.COMPARISONS
        if c.name == "national_id"
        for lvl in c.levels
        if lvl.label == "National ID one typo apart"
    )
    sql = level.sql
    for placeholder, name in comparisons._ARRAY_FUNCTIONS["duckdb"].items():
        sql = sql.replace(placeholder, name)
    ids = ["4173804", "4178304", "4173809", "1473804", "417380", "41738041", "9999999"]
    ids += ["AB123456C", "AB123465C", "BA123456C", "AB123456", "XY987654A", "12", "21", "1"]
    rows = [frame.features({"unique_id": 0, **_id(a)}) for a in ids]
    columns = ("national_id_head", "national_id_tail", "national_id_near")
    pairs = [
        tuple(x[c] for c in columns) + tuple(y[c] for c in columns) for x in rows for y in rows
    ]

    # when DuckDB evaluates it on every pair
    con = duckdb.connect()
    names = [f"{c}_l" for c in columns] + [f"{c}_r" for c in columns]
    con.execute(f"CREATE TABLE p ({', '.join(f'{n} VARCHAR' for n in names)})")
    con.executemany(f"INSERT INTO p VALUES ({', '.join('?' * len(names))})", pairs)
    got = [bool(hit) for (hit,) in con.execute(f"SELECT coalesce({sql}, false) FROM p").fetchall()]

    # then SQL and Python agree on every pair
    expected = [level.predicate(x, y) for x in rows for y in rows]
    assert got == expected
    assert 0 < sum(got) < len(got)


def test_an_address_written_in_another_order_in_the_same_town_is_the_same_address():
    # given one home written two ways, the town once mistyped
    home = {
        "address": "16 gabriel place greglea village",
        "postcode": "5162",
        "locality": "lobethal",
    }
    reordered = {**home, "address": "16 greglea village gabriel place", "locality": "lobethla"}

    # when the location is compared
    # then it is the same address, postcode and town
    assert _level("location", home, reordered) == "Address and postcode the same, town similar"
    # and a neighbour in the same street and town is only similar
    neighbour = {**home, "address": "18 gabriel place greglea village"}
    assert _level("location", home, neighbour) == "Address and town similar, postcode the same"
