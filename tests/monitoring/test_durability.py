"""Acknowledged means durable: while a client streams batches, the server is killed with SIGKILL several times
and restarted; the client retries every batch it has no answer for. At the end every acknowledged reading is
stored, and none twice."""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from maillage.kit.clock import now
from maillage.models.monitoring import MonitoringReading
from maillage.monitoring.batchpool import SMALL_BATCH
from tests.e2e.conftest import LiveServer, start_server
from tests.monitoring.live import isolated_database, seed_world, sessions_for

pytestmark = pytest.mark.slow

# Batches larger than SMALL_BATCH: on PostgreSQL the serve process hands them to its child processes
# (monitoring/batchpool), so a kill also orphans a child in the middle of a batch.
BATCHES, PER_BATCH, KILLS = 80, SMALL_BATCH + 10, 4


class Client:
    """A gateway that sends numbered batches and retries each until it gets an answer."""

    def __init__(self, secret: str) -> None:
        self.url = ""
        self.secret = secret
        self.acknowledged: set[str] = set()
        self.attempts = 0
        self.failures = 0
        self.done = threading.Event()
        base = now() - dt.timedelta(hours=2)
        self.batches = [[{"id": f"k-{b}-{i}", "code": "29463-7", "value": 80.0 + (i % 7) / 10, "unit": "kg",
                          "at": (base + dt.timedelta(seconds=b * PER_BATCH + i)).isoformat()}
                         for i in range(PER_BATCH)] for b in range(BATCHES)]

    def run(self) -> None:
        with httpx.Client(timeout=5) as http:
            for readings in self.batches:
                while True:
                    self.attempts += 1
                    try:
                        reply = http.post(f"{self.url}/api/monitoring/readings", json={"readings": readings},
                                          headers={"Authorization": f"Bearer {self.secret}"})
                    except httpx.HTTPError:
                        self.failures += 1
                        time.sleep(0.1)
                        continue
                    if reply.status_code != 200:
                        self.failures += 1
                        time.sleep(0.1)
                        continue
                    body = reply.json()
                    assert body["rejected"] == 0, body
                    self.acknowledged.update(r["id"] for r in body["results"])  # stored or duplicate: both acked
                    break
        self.done.set()


def test_every_acknowledged_reading_survives_sigkill_and_none_is_stored_twice(backend: str, tmp_path: Path) -> None:
    with isolated_database(backend, tmp_path) as url:
        sessions = sessions_for(url)
        world = seed_world(sessions, suffix=uuid.uuid4().hex[:6])
        env = {"MAILLAGE_DATABASE_URL": url, "MAILLAGE_RATE_LIMIT_ENABLED": "false", "MAILLAGE_LOG_LEVEL": "WARNING"}
        var = tmp_path / "var"
        var.mkdir()
        server: LiveServer = start_server(var, env, demo=False)
        client = Client(world.secret)
        client.url = server.url
        thread = threading.Thread(target=client.run, daemon=True)
        thread.start()
        kills = 0
        try:
            # Killed by progress, not by the clock: after each fifth of the stream has been acknowledged, in the
            # middle of whatever batch is then under way, however fast the server is.
            step = BATCHES * PER_BATCH // (KILLS + 1)
            while kills < KILLS and not client.done.is_set():
                if len(client.acknowledged) < (kills + 1) * step:
                    time.sleep(0.01)
                    continue
                os.kill(server.process.pid, signal.SIGKILL)
                server.process.wait(10)
                kills += 1
                server = start_server(var, env, demo=False)
                client.url = server.url
            thread.join(240)
            assert client.done.is_set(), "the client did not finish"
        finally:
            server.process.kill()
            server.process.wait(10)
        assert kills == KILLS, "the stream ended before every planned kill"
        expected = {r["id"] for readings in client.batches for r in readings}
        assert client.acknowledged == expected
        with sessions() as db:
            rows: list[Any] = list(db.scalars(select(MonitoringReading.external_id)
                                              .where(MonitoringReading.enrolment_id == world.enrolment_id)))
            total = db.scalar(select(func.count()).select_from(MonitoringReading))
        assert set(rows) == expected  # every acknowledged reading is stored
        assert len(rows) == len(expected) == total  # and none twice
        sessions.kw["bind"].dispose()
