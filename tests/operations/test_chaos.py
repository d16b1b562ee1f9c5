"""The short chaos run (issue #26): ``benchmarks/chaos.py --cycles 10``, a PostgreSQL of its own killed with the serve
process and the worker under a mixed load; no acknowledged write lost or doubled, the due jobs done, the audit chain
verified. The script decides (its exit code); no time is asserted, its waits are generous.

Skipped when PostgreSQL's initdb and pg_ctl are absent, unless ``MAILLAGE_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import CHILD_PYTHONPATH, ROOT, skip_or_fail
from tests.fixtures.benchmark_modules import load

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("chaos")]


def _two_free_ports() -> int:
    """A port whose next one is free too (PostgreSQL on the first, the server on the second)."""
    for _attempt in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no two consecutive free ports")


def test_ten_kills_under_load_lose_and_double_nothing() -> None:
    try:
        load("_chaos_platform").postgres_bindir()
    except SystemExit:
        skip_or_fail("MAILLAGE_REQUIRE_POSTGRES", "initdb et pg_ctl absents : installez PostgreSQL")
    port = int(os.environ.get("MAILLAGE_CHAOS_PORT") or _two_free_ports())
    env = {**os.environ, "PYTHONPATH": CHILD_PYTHONPATH}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "chaos.py"), "--cycles", "10", "--port",
                           str(port), "--max-pause", "2"], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=1800, check=False)
    out = done.stdout + done.stderr
    print(out[-4000:])  # the run's figures, in the report of `pytest -rA`
    assert done.returncode == 0, out[-6000:]
    assert "Cycles : 10 " in out and "Perdues : 0 " in out and "Doublons : 0 " in out, out[-6000:]
    assert "Vérification de l'audit : OK" in out, out[-6000:]
