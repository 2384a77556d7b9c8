import pytest

from registry.linkage.pipeline import link_frame
from registry.linkage.spark import spark_missing_reason
from registry.tests.test_linkage_scoring import synthetic_frame  # noqa: F401 - fixture

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(
        spark_missing_reason() is not None,
        reason=f"the Spark engine needs pyspark and Java: {spark_missing_reason()}",
    ),
]


def test_spark_gives_the_same_links_as_duckdb_with_the_same_model(synthetic_frame):  # noqa: F811
    # given a model trained on DuckDB and a few hundred people's records
    records = synthetic_frame.head(400)
    duckdb = link_frame(records)

    # when the same model links the same records on Spark (local mode)
    spark = link_frame(records, model_json=duckdb.model_json, engine="spark")

    # then the clusters are the same and so are the scores
    assert dict(zip(spark.clusters.unique_id, spark.clusters.cluster_id, strict=True)) == dict(
        zip(duckdb.clusters.unique_id, duckdb.clusters.cluster_id, strict=True)
    )
    merged = duckdb.predictions.merge(spark.predictions, on=["unique_id_l", "unique_id_r"])
    assert len(merged) == len(duckdb.predictions) == len(spark.predictions)
    assert (merged.match_weight_x - merged.match_weight_y).abs().max() < 1e-9
