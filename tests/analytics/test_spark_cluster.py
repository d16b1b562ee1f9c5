"""Spark as a cluster (issue #26): the indicators run on a standalone cluster (a master and two workers started from
the installed PySpark distribution, bound to 127.0.0.1) give exactly the results of ``local[2]``.

Skipped only when Java is absent (CI installs it), unless ``MAILLAGE_REQUIRE_JAVA=1``. Small data, one core per
worker: the cluster is two executors on the same machine, the point is the distribution, not the speed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from maillage.analytics import engines
from maillage.analytics.warehouse import Warehouse
from tests.analytics.test_indicators import compute
from tests.conftest import skip_or_fail
from tests.fixtures.benchmark_modules import load

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("spark_cluster")]

INDICATORS = [("consultations-mg", {}), ("telemedecine", {}), ("telemedecine", {"source": "operationnel"}),
              ("apl-mg", {})]
SMALL = (("spark.executor.memory", "512m"), ("spark.executor.cores", "1"), ("spark.cores.max", "2"))


def _results(wh: Warehouse, config: engines.EngineConfig) -> list[pd.DataFrame]:
    engines.stop_spark()  # one session per process: whichever ran before, start this one's
    try:
        return [compute(wh, code, config, **params) for code, params in INDICATORS]
    finally:
        engines.stop_spark()


def test_a_standalone_cluster_gives_the_results_of_local_mode(warehouse_with_extract: Warehouse,
                                                              spark_engine: engines.EngineConfig,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = load("_spark_cluster")
    if not cluster.java_available():
        skip_or_fail("MAILLAGE_REQUIRE_JAVA", "Java absent : le cluster Spark autonome en a besoin")
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    local = _results(warehouse_with_extract, spark_engine)
    with cluster.standalone_cluster(tmp_path / "spark", workers=2, cores=1, memory="1g") as master:
        cluster_config = engines.EngineConfig(name="spark", spark_master=master, spark_driver_memory="1g",
                                              spark_conf=SMALL)
        on_cluster = _results(warehouse_with_extract, cluster_config)
    # The work went to the workers: one executor folder per worker under the application's folder.
    executors = [d for app in (tmp_path / "spark" / "work").glob("app-*") for d in app.iterdir() if d.is_dir()]
    assert len(executors) == 2, executors
    for (code, _params), expected, got in zip(INDICATORS, local, on_cluster, strict=True):
        assert len(expected) > 10, code
        pd.testing.assert_frame_equal(expected, got, check_exact=True, obj=code)
