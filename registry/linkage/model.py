"""The Splink model: settings, blocking rules, unsupervised training, m/u transplanting.

Blocking rules for predictions are chosen for recall: a true pair is compared when any one
of them holds, so each rule covers the errors the others cannot:

- the national ID's blind index (`national_id_index`: equality of HMACs; national IDs are
  never decrypted for linkage);
- date of birth + family name (nicknames, typos in the given name, new address);
- date of birth + given name root (marriage: new family name);
- postcode + given name root (typos in the date of birth or family name);
- family name + given name root (moved and a wrong date of birth);
- date of birth + postcode (both names changed or mistyped);
- postcode + the first part of the family name (a wrong or missing date of birth and a
  mistyped given name; "von hoist" / "von host");
- address, its words in any order (the same home, names and date of birth unreliable);
- given and family names swapped, with the same date of birth or postcode (each way
  round, since either record may be the left one);
- e-mail.

Training needs no labels: the prior (probability that two random records match) from
deterministic rules with an assumed recall; u by random sampling (`U_MAX_PAIRS` pairs); m
by two short EM passes (blocked on date of birth, then on family name + given name root),
each on about `EM_MAX_PAIRS` pairs without term frequencies, so training time does not
grow with the population. On DuckDB `registry.linkage.training` does this in a few
aggregate queries (Splink's estimators took most of the run time on small data); on
Spark Splink's own estimators do it. The trained model is a Splink model dict (the
settings with m, u and the prior, what Splink's `save_model_to_json` returns) plus a
"civicstack" entry (spec version, records trained on) that Splink ignores; it is stored as
a new LinkageModel version by registry.services.linkage.

A model holds SQL in the dialect it was trained on; `settings_for` rebuilds the settings in
the dialect of the engine that runs it from `registry.linkage.comparisons` and carries the
trained m, u and prior over, so the same model gives the same links on DuckDB and Spark.
"""

from __future__ import annotations

import copy
import functools
import logging
from typing import Any

import pandas as pd

from registry.linkage.comparisons import COMPARISONS, SPEC_VERSION

EM_MAX_PAIRS = 400_000
U_MAX_PAIRS = 100_000
ASSUMED_RECALL = 0.8
SEED = 42
CIVICSTACK_KEY = "civicstack"
DIALECTS = {"duckdb": "duckdb", "spark": "spark"}
# Deterministic rules for the prior; blocking keys of the EM passes (columns equal).
PRIOR_RULES: tuple[tuple[str, ...], ...] = (
    ("national_id_index", "dob"),
    ("given_name", "family_name", "dob", "postcode"),
)
EM_RULES: tuple[tuple[str, ...], ...] = (("dob",), ("family_name", "given_name_root"))


def prediction_rules() -> list[Any]:
    from splink import block_on

    return [
        block_on("national_id_index"),
        block_on("dob", "family_name"),
        block_on("dob", "given_name_root"),
        block_on("postcode", "given_name_root"),
        block_on("family_name", "given_name_root"),
        block_on("dob", "postcode"),
        block_on("postcode", "family_name_first"),
        block_on("address_sorted"),
        # given and family names swapped (either record may be the left one)
        "l.given_name = r.family_name AND l.dob = r.dob",
        "l.family_name = r.given_name AND l.dob = r.dob",
        "l.given_name = r.family_name AND l.postcode = r.postcode",
        "l.family_name = r.given_name AND l.postcode = r.postcode",
        block_on("email"),
    ]


def _creator(*, explain: bool = False) -> Any:
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[c.splink_comparison() for c in COMPARISONS],
        blocking_rules_to_generate_predictions=prediction_rules(),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=explain,
        max_iterations=10,
        em_convergence=0.001,
    )


@functools.cache
def _untrained_settings(engine: str, explain: bool) -> dict[str, Any]:
    """The settings dict Splink makes from the spec (parsing every level's SQL takes a
    while, so it is made once per engine; callers get a copy)."""
    settings: dict[str, Any] = _creator(explain=explain).create_settings_dict(DIALECTS[engine])
    return settings


def settings_for(
    model_json: dict[str, Any] | None, *, engine: str = "duckdb", explain: bool = False
) -> dict[str, Any]:
    """Splink settings for `engine`, with the trained parameters of `model_json` if given."""
    settings = copy.deepcopy(_untrained_settings(engine, explain))
    if model_json is None:
        return settings
    check_spec(model_json)
    settings["probability_two_random_records_match"] = model_json[
        "probability_two_random_records_match"
    ]
    trained = {c["output_column_name"]: c for c in model_json["comparisons"]}
    for comparison in settings["comparisons"]:
        source = trained[comparison["output_column_name"]]["comparison_levels"]
        for level, old in zip(comparison["comparison_levels"], source, strict=True):
            for key in ("m_probability", "u_probability"):
                if key in old:
                    level[key] = old[key]
    return settings


def check_spec(model_json: dict[str, Any]) -> None:
    """ValueError unless the model was trained on the comparisons of this code."""
    spec = (model_json.get(CIVICSTACK_KEY) or {}).get("spec_version")
    names = [c.get("output_column_name") for c in model_json.get("comparisons", [])]
    if spec != SPEC_VERSION or names != [c.name for c in COMPARISONS]:
        raise ValueError(
            "the linkage model was trained on other comparisons than this version uses; "
            "retrain it (manage.py link --retrain)"
        )
    for saved, comparison in zip(model_json["comparisons"], COMPARISONS, strict=True):
        if len(saved["comparison_levels"]) != len(comparison.levels):
            raise ValueError(f"the model's comparison {comparison.name!r} has other levels")


def train_on(records: pd.DataFrame, *, db_api: Any, engine: str = "duckdb") -> dict[str, Any]:
    """Train a model without labels on a prepared linkage frame; returns the model dict."""
    if len(records) < 2:
        raise ValueError("at least two records are needed to train a linkage model")
    if engine == "duckdb":
        from registry.linkage import training

        model = training.train(
            records,
            con=db_api._con,
            settings=settings_for(None, engine=engine),
            prior_rules=PRIOR_RULES,
            recall=ASSUMED_RECALL,
            em_rules=EM_RULES,
            u_max_pairs=U_MAX_PAIRS,
            em_max_pairs=EM_MAX_PAIRS,
            seed=SEED,
        )
    else:
        model = _train_with_splink(records, db_api=db_api, engine=engine)
    model[CIVICSTACK_KEY] = {"spec_version": SPEC_VERSION, "records": len(records)}
    _fill_untrained(model)
    return model


def _train_with_splink(records: pd.DataFrame, *, db_api: Any, engine: str) -> dict[str, Any]:
    """The same training through Splink's own estimators (any Splink backend)."""
    from splink import Linker, block_on

    sdf = db_api.register(records)
    linker = Linker(sdf, settings_for(None, engine=engine), log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on(*rule) for rule in PRIOR_RULES],
        recall=ASSUMED_RECALL,
    )
    # min_count_per_level=None: otherwise Splink keeps sampling until every rare level
    # (day and month swapped, ...) has 100 pairs, which multiplies the training time.
    linker.training.estimate_u_using_random_sampling(
        max_pairs=U_MAX_PAIRS, seed=SEED, min_count_per_level=None, num_chunks=1
    )
    for rule in EM_RULES:
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on(*rule),
            estimate_without_term_frequencies=True,
            max_pairs=EM_MAX_PAIRS,
            record_sample_proportion=min(1.0, max(0.01, 20_000 / len(records))),
        )
    model: dict[str, Any] = linker.misc.save_model_to_json()
    return model


def _fill_untrained(model: dict[str, Any]) -> None:
    """Give every informative level an m and a u, so that Splink can predict with it.

    - A level no random pair fell in gets u = 1 / `U_MAX_PAIRS`, as if one pair of the
      sample had: agreement that rare is strong evidence, and one pair is the most the
      sample allows it (the weight is an underestimate, never an overestimate).
    - A level EM never saw (no pair of the blocks fell in it) gets m = u: it weighs
      nothing, which is what "no evidence" means.

    Splink leaves such levels without m or u, and predicting with them would fail.
    """
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            if level.get("u_probability") is None and level.get("m_probability") is not None:
                level["u_probability"] = 1 / U_MAX_PAIRS
            u = level.get("u_probability")
            if level.get("m_probability") is None:
                level["m_probability"] = u if u is not None else 1e-6
            if level.get("u_probability") is None:
                level["u_probability"] = level["m_probability"]
