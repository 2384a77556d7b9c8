"""Batch linkage without Django: a frame of records in, clusters (persons) out.

    from registry.linkage.pipeline import link_frame

    result = link_frame(df, model_json=None, engine="duckdb", threshold=0.95)
    clusters, predictions, model_json = result  # a NamedTuple, unpacks in this order

`df` is a pandas DataFrame of standardised records, one row per record, with the base
columns of `registry.linkage.frame` (unique_id, given_name, family_name,
previous_family_name, date_of_birth, address, postcode, national_id_index, sex, phone,
email; any may be missing; values already standardised, e.g. with registry.standardise:
lower-case folded names, upper-case compact postcodes). The derived columns are added
here. `unique_id` must be unique (int or str).

- `model_json`: a trained Splink model (the dict `registry.linkage.model.train` returns
  and LinkageModel.splink_model stores). None trains one on `df` first (unsupervised:
  prior from deterministic rules, u by random sampling, m by two EM passes).
- `engine`: "duckdb" (default, in-process) or "spark" (Splink's SparkAPI, local mode
  unless a SparkSession exists; needs pyspark and Java).
- `threshold`: the match probability at or above which two records are the same person
  (connected components over those pairs). Default `DEFAULT_MATCH_THRESHOLD`.
- `floor`: predictions below this probability are dropped before they are returned.
- `explain`: also return the gamma_/mw_ columns of each comparison (for review pairs).

Returns `LinkResult(clusters, predictions, model_json)`:
- clusters: DataFrame [unique_id, cluster_id] with every record (singletons included);
  records of one cluster share a cluster_id (the smallest unique_id of the cluster);
- predictions: DataFrame [unique_id_l, unique_id_r, match_weight, match_probability]
  (plus gamma_*/mw_* with `explain`) of the scored pairs at or above `floor`;
- model_json: the model used (the trained one when `model_json` was None).
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import pandas as pd
from django.core.exceptions import ImproperlyConfigured

from registry.linkage import frame as linkage_frame
from registry.linkage import model as linkage_model

DEFAULT_MATCH_THRESHOLD = 0.95
DEFAULT_REVIEW_THRESHOLD = 0.5
ENGINES = ("duckdb", "spark")

logger = logging.getLogger(__name__)


class LinkResult(NamedTuple):
    clusters: pd.DataFrame
    predictions: pd.DataFrame
    model_json: dict[str, Any]


def link_frame(
    df: pd.DataFrame,
    *,
    model_json: dict[str, Any] | None = None,
    engine: str = "duckdb",
    threshold: float = DEFAULT_MATCH_THRESHOLD,
    floor: float | None = None,
    explain: bool = False,
    prepared: bool = False,
) -> LinkResult:
    """Predict and cluster `df` (see the module docstring)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown linkage engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if not 0 < threshold < 1:
        raise ValueError("the match threshold must be a probability between 0 and 1")
    records = df if prepared else linkage_frame.prepare(df)
    floor = min(threshold, DEFAULT_REVIEW_THRESHOLD) if floor is None else floor
    if len(records) < 2:
        clusters = pd.DataFrame(
            {"unique_id": records["unique_id"], "cluster_id": records["unique_id"]}
        )
        empty = pd.DataFrame(
            columns=["unique_id_l", "unique_id_r", "match_weight", "match_probability"]
        )
        if model_json is None:
            raise ValueError("at least two records are needed to train a linkage model")
        return LinkResult(clusters, empty, model_json)
    with backend(engine) as db_api:
        if model_json is None:
            model_json = linkage_model.train_on(records, db_api=db_api, engine=engine)
        settings = linkage_model.settings_for(model_json, engine=engine, explain=explain)
        from splink import Linker

        sdf = db_api.register(records)
        linker = Linker(sdf, settings, log_level=logging.ERROR)
        predictions = linker.inference.predict(threshold_match_probability=floor)
        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold
        )
        clusters = _clusters(clustered, db_api, engine)
        pairs = _predictions(predictions, explain=explain)
    return LinkResult(clusters, pairs, model_json)


def _clusters(clustered: Any, db_api: Any, engine: str) -> pd.DataFrame:
    table = clustered.physical_name
    sql = f"select unique_id, cluster_id from {table}"  # noqa: S608 - Splink's own table name
    out = _query(db_api, sql, engine)
    # Splink's cluster_id is a representative unique_id already; keep the type of unique_id.
    return out.reset_index(drop=True)


def _predictions(predictions: Any, *, explain: bool) -> pd.DataFrame:
    df = predictions.as_pandas_dataframe()
    keep = ["unique_id_l", "unique_id_r", "match_weight", "match_probability"]
    if explain:
        keep += [c for c in df.columns if c.startswith(("gamma_", "mw_"))]
    return df[[c for c in keep if c in df.columns]].reset_index(drop=True)


def _query(db_api: Any, sql: str, engine: str) -> pd.DataFrame:
    if engine == "spark":
        return db_api.spark.sql(sql).toPandas()
    return db_api._con.sql(sql).df()


@contextmanager
def backend(engine: str) -> Iterator[Any]:
    """A fresh Splink database API for the engine, closed afterwards (DuckDB)."""
    if engine == "spark":
        from registry.linkage import spark

        with spark.spark_api() as api:
            yield api
        return
    import duckdb
    from splink import DuckDBAPI

    limit = duckdb_memory_limit()
    with tempfile.TemporaryDirectory(prefix="civicstack-duckdb-") as spill:
        config: dict[str, str | bool | int | float | list[str]] = (
            {"memory_limit": limit, "temp_directory": spill} if limit else {}
        )
        con = duckdb.connect(config=config)
        try:
            yield DuckDBAPI(connection=con)
        finally:
            con.close()


_MEMORY = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


def duckdb_memory_limit() -> str:
    """`REGISTRY_LINKAGE_DUCKDB_MEMORY` checked ("" for DuckDB's own default)."""
    from django.conf import settings

    limit = str(getattr(settings, "REGISTRY_LINKAGE_DUCKDB_MEMORY", "") or "").strip()
    if limit and not _MEMORY.fullmatch(limit):
        raise ImproperlyConfigured(
            f"REGISTRY_LINKAGE_DUCKDB_MEMORY must be an amount such as 2GB, not {limit!r}"
        )
    return limit
