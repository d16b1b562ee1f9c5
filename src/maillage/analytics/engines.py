"""Engines: the same Ibis expressions run on DuckDB (default) or on Spark, chosen by configuration only.

``MAILLAGE_ANALYTICS_ENGINE=duckdb|spark`` and ``MAILLAGE_SPARK_MASTER`` (``local[2]`` here, or a cluster URL).
Spark is the optional extra ``maillage[spark]``; one SparkSession per process, bound to 127.0.0.1, UI disabled.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from maillage.analytics.warehouse import Warehouse
from maillage.exceptions import ServiceUnavailable, ValidationFailed

ENGINES: tuple[str, ...] = ("duckdb", "spark")

_spark_lock = threading.Lock()
# The SIGINT handler in place before Spark installed its own (which cancels Spark jobs and, once the context is
# stopped, fails on every Ctrl-C): given back when the session stops.
_sigint_before: Any = None
_spark_session: Any = None


@dataclass(frozen=True)
class EngineConfig:
    name: str = "duckdb"
    spark_master: str = "local[2]"
    threads: int | None = None
    spark_shuffle_partitions: int = 2
    spark_driver_memory: str = "2g"
    spark_conf: tuple[tuple[str, str], ...] = ()  # extra settings, e.g. for small test data

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ValidationFailed(f"Moteur inconnu : {self.name!r} (attendu : duckdb ou spark).")


def spark_session(config: EngineConfig) -> Any:
    """The process's SparkSession, created once with settings fit for a shared 2-core machine."""
    global _spark_session
    with _spark_lock:
        if _spark_session is not None:
            return _spark_session
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise ServiceUnavailable(
                "Le moteur Spark n'est pas installé : installez l'extension maillage[spark]."
            ) from exc
        # Spark resolves the host name before reading the session's settings and, on a machine whose name
        # resolves to loopback, picks another interface's address: keep the JVM on loopback from the start.
        # A driver that remote workers must reach sets SPARK_LOCAL_IP to the address they see (docs/analytics.md).
        driver_host = os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            SparkSession.builder.master(config.spark_master)
            .appName("maillage-analytics")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", str(config.spark_shuffle_partitions))
            .config("spark.driver.host", driver_host)
            .config("spark.driver.bindAddress", driver_host)
            .config("spark.driver.memory", config.spark_driver_memory)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.ansi.enabled", "false")
            .config("spark.sql.adaptive.enabled", "true")
        )
        for key, value in config.spark_conf:
            builder = builder.config(key, value)
        global _sigint_before
        if threading.current_thread() is threading.main_thread():
            _sigint_before = signal.getsignal(signal.SIGINT)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        _spark_session = session
        return session


def stop_spark() -> None:
    global _spark_session
    with _spark_lock:
        if _spark_session is not None:
            _spark_session.stop()
            _spark_session = None
            if _sigint_before is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, _sigint_before)


def connect(config: EngineConfig) -> Any:
    """An Ibis backend for the configured engine."""
    if config.name == "duckdb":
        con = ibis.duckdb.connect()
        if config.threads:
            con.raw_sql(f"SET threads = {int(config.threads)}")
        return con
    return ibis.pyspark.connect(spark_session(config))


def register_tables(con: Any, warehouse: Warehouse, names: list[str] | None = None) -> dict[str, ir.Table]:
    """Ibis tables over the warehouse's Parquet files (lazy: nothing is read until a result is asked for)."""
    tables: dict[str, ir.Table] = {}
    for name in names or warehouse.table_names():
        if not warehouse.has_table(name):
            continue
        if con.name == "duckdb":
            tables[name] = con.read_parquet(warehouse.parquet_glob(name), table_name=name)
        else:
            tables[name] = con.read_parquet(str(warehouse.table_dir(name)), table_name=name)
    return tables


def config_from_settings() -> EngineConfig:
    from maillage.config import get_settings

    settings = get_settings()
    return EngineConfig(name=settings.analytics_engine, spark_master=settings.spark_master)
