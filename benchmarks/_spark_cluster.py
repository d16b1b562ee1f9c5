"""A Spark standalone cluster on loopback: a master and workers started from the installed PySpark distribution
(``bin/spark-class``), for `benchmarks/analytics.py --cluster` and the cluster test (imported, not run by
`make bench`). Needs Java."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def java_available() -> bool:
    return bool(shutil.which("java") or (os.environ.get("JAVA_HOME") and
                                         Path(os.environ["JAVA_HOME"], "bin", "java").exists()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _daemon(spark_home: Path, log: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([str(spark_home / "bin" / "spark-class"), *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


@contextmanager
def standalone_cluster(folder: Path, workers: int = 2, cores: int = 1, memory: str = "1g",
                       ports: Iterator[int] | None = None) -> Iterator[str]:
    """Start a master and ``workers`` workers bound to 127.0.0.1; yield the master URL once every worker has
    registered; stop them all. ``ports`` gives the ports to use (two per daemon), else consecutive ones from
    ``MAILLAGE_SPARK_CLUSTER_PORT`` if set, else free ones."""
    if ports is None and os.environ.get("MAILLAGE_SPARK_CLUSTER_PORT"):
        first = int(os.environ["MAILLAGE_SPARK_CLUSTER_PORT"])
        ports = iter(range(first, first + 2 * (workers + 1)))
    next_port = (lambda: next(ports)) if ports is not None else free_port
    spark_home = _spark_home()
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_WORKER_DIR": str(folder / "work"), "SPARK_LOG_DIR": str(folder),
           "PYSPARK_PYTHON": sys.executable, "SPARK_NO_DAEMONIZE": "1"}
    master_port, master_ui = next_port(), next_port()
    master_url = f"spark://127.0.0.1:{master_port}"
    daemons = [_daemon(spark_home, folder / "master.log", env, "org.apache.spark.deploy.master.Master",
                       "--host", "127.0.0.1", "--port", str(master_port), "--webui-port", str(master_ui))]
    try:
        for index in range(workers):
            daemons.append(_daemon(
                spark_home, folder / f"worker-{index}.log", env, "org.apache.spark.deploy.worker.Worker",
                "--host", "127.0.0.1", "--port", str(next_port()), "--webui-port", str(next_port()),
                "--cores", str(cores), "--memory", memory, master_url))
        deadline = time.monotonic() + 180
        while True:
            for daemon in daemons:
                if daemon.poll() is not None:
                    logs = "\n".join(p.read_text()[-2000:] for p in sorted(folder.glob("*.log")))
                    raise RuntimeError(f"un démon Spark s'est arrêté :\n{logs}")
            try:
                state = httpx.get(f"http://127.0.0.1:{master_ui}/json/", timeout=2).json()
                if int(state.get("aliveworkers", 0)) >= workers:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("les travailleurs Spark ne se sont pas inscrits auprès du maître en 180 s")
            time.sleep(0.5)
        yield master_url
    finally:
        for daemon in reversed(daemons):
            daemon.terminate()
        for daemon in daemons:
            try:
                daemon.wait(30)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait(10)
