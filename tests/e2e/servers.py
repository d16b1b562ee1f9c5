"""``maillage serve`` processes on given ports, for the tests that need more than the shared live server (several
processes behind a proxy, a server configured for Pro Santé Connect)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import ROOT


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 240) -> None:
    """Until ``url`` answers 200; the process's log tail if it dies first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(log.read_text()[-3000:])
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


@contextmanager
def serve_process(port: int, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A ``maillage serve --no-migrate`` on 127.0.0.1:``port`` (the database migrated beforehand), answering
    /healthz, stopped at the end."""
    process = subprocess.Popen([sys.executable, "-m", "maillage.cli", "serve", "--port", str(port), "--no-migrate"],
                               env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", process, log)
        yield process
    finally:
        stop(process)
