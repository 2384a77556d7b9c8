"""Splink on Apache Spark (`--engine spark`), imported only when that engine is chosen.

Locally (tests, one machine) a `local[*]` SparkSession is started with Splink's
similarity UDF jar (Jaro-Winkler, Damerau-Levenshtein). On a cluster, start the session
the usual way (spark-submit, or `SPARK_REMOTE` / `spark.master` in the environment) with
the jar on `spark.jars`; an active session is reused as it is. See docs/linkage-spark.md.

Needs pyspark and a Java runtime (17 or later): `pip install "civicstack[spark]"` and,
on Debian or Ubuntu, `apt-get install openjdk-17-jre-headless`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class SparkUnavailable(RuntimeError):
    """pyspark or Java is missing."""


def spark_missing_reason() -> str | None:
    """Why the Spark engine cannot run here, or None when it can."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install pyspark)"
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (
        java_home and os.path.exists(os.path.join(java_home, "bin", "java"))
    ):
        return "no Java runtime found (install a JRE 17+, e.g. openjdk-17-jre-headless)"
    return None


def spark_session() -> Any:
    reason = spark_missing_reason()
    if reason:
        raise SparkUnavailable(reason)
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    return (
        SparkSession.builder.master(os.environ.get("CIVICSTACK_SPARK_MASTER", "local[2]"))
        .appName("civicstack-linkage")
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.default.parallelism", "8")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", os.environ.get("CIVICSTACK_SPARK_DRIVER_MEMORY", "2g"))
        .getOrCreate()
    )


@contextmanager
def spark_api() -> Iterator[Any]:
    """Splink's SparkAPI on the session; a temporary checkpoint directory is removed after."""
    from splink.backends.spark import SparkAPI

    session = spark_session()
    # Connected components iterates; without cutting the lineage to files its query plan
    # grows until the driver runs out of memory.
    configured = os.environ.get("CIVICSTACK_SPARK_CHECKPOINT_DIR")
    checkpoint = configured or tempfile.mkdtemp(prefix="civicstack-spark-")
    session.sparkContext.setCheckpointDir(checkpoint)
    try:
        yield SparkAPI(
            spark_session=session,
            break_lineage_method="parquet",
            num_partitions_on_repartition=int(os.environ.get("CIVICSTACK_SPARK_PARTITIONS", "8")),
        )
    finally:
        if not configured:
            shutil.rmtree(checkpoint, ignore_errors=True)
