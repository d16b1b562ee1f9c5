"""``maillage serve --workers 2``: the parent checks the keys and migrates once, then two serve processes answer on
one port, each with its own engine (docs/adr/0012-web-tier-under-load.md)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from maillage.kit.db import make_engine
from tests.conftest import CHILD_PYTHONPATH, ROOT, postgres_url, skip_or_fail
from tests.e2e.conftest import free_port

pytestmark = [pytest.mark.slow]


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


@pytest.fixture
def schema_url():
    url = postgres_url()
    if url is None:
        skip_or_fail("MAILLAGE_REQUIRE_POSTGRES", "PostgreSQL non configuré : MAILLAGE_TEST_DATABASE_URL absent")
    assert url is not None
    schema = f"serve_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def test_two_serve_processes_start_and_serve(schema_url, tmp_path):
    port = free_port()
    env = {**os.environ, "MAILLAGE_VAR_DIR": str(tmp_path / "var"), "MAILLAGE_ENVIRONMENT": "development",
           "MAILLAGE_DATABASE_URL": schema_url, "PYTHONPATH": CHILD_PYTHONPATH, "MAILLAGE_SERVER_TIMING": "true"}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "maillage.cli", "serve", "--port", str(port),
                                    "--workers", "2"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        ready = False
        while time.monotonic() < deadline and not ready:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                ready = httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.3)
        assert ready, log.read_text()[-3000:]
        # The parent supervises; its two serve processes answer (uvicorn's supervisor may add a helper of its own).
        deadline = time.monotonic() + 60
        while len(children_of(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert len(children_of(process.pid)) >= 2
        for _ in range(20):  # fresh connections, spread over both processes by the kernel
            page = httpx.get(f"{url}/connexion", timeout=10)
            assert page.status_code == 200 and "server-timing" in page.headers
            assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        # The parent alone printed its banner (and migrated), before the serve processes started.
        assert log.read_text().count("Maillage écoute") == 1
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert not children_of(process.pid)
