"""Large batches evaluated in child processes of a real ``maillage serve`` on PostgreSQL (``monitoring/batchpool``):
the same replies, alerts, refusals and audit as in process, the reply after the child's commit."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from maillage.kit.clock import now
from maillage.models.audit import AuditEntry
from maillage.models.monitoring import MonitoringAlert, MonitoringReading
from maillage.monitoring.batchpool import SMALL_BATCH, SMALL_BODY_BYTES
from tests.e2e.conftest import start_server
from tests.monitoring.live import isolated_database, seed_world, sessions_for

pytestmark = pytest.mark.slow

COUNT = SMALL_BATCH + 70  # large: handed to a child process


def children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def weights(prefix: str, last_kg: float) -> list[dict[str, Any]]:
    """COUNT weights over the last three days, 80 kg each, the last one ``last_kg``."""
    start = now() - dt.timedelta(days=3)
    return [{"id": f"{prefix}-{i}", "code": "29463-7", "value": 80.0 if i < COUNT - 1 else last_kg, "unit": "kg",
             "at": (start + dt.timedelta(minutes=30 * i)).isoformat()} for i in range(COUNT)]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_large_batch_is_evaluated_in_a_child_and_answered_after_its_commit(backend: str, tmp_path: Path) -> None:
    with isolated_database(backend, tmp_path) as url:
        sessions = sessions_for(url)
        world = seed_world(sessions, suffix=uuid.uuid4().hex[:6])
        var = tmp_path / "var"
        var.mkdir()
        server = start_server(var, {"MAILLAGE_DATABASE_URL": url, "MAILLAGE_RATE_LIMIT_ENABLED": "false",
                                    "MAILLAGE_LOG_LEVEL": "WARNING", "MAILLAGE_MONITORING_BATCH_PROCESSES": "1"},
                              demo=False)
        headers = {"Authorization": f"Bearer {world.secret}"}
        # Large as a document too: the child receives the bytes and parses them.
        assert len(json.dumps({"readings": weights("big", 83.5)})) > SMALL_BODY_BYTES
        try:
            before = children_of(server.process.pid)
            with httpx.Client(base_url=server.url, timeout=60) as http:
                reply = http.post("/api/monitoring/readings", json={"readings": weights("big", 83.5)}, headers=headers)
                assert reply.status_code == 200, reply.text
                kids = children_of(server.process.pid) - before
                assert kids, "no child process evaluated the batch"
                body = reply.json()
                assert (body["accepted"], body["duplicates"], body["rejected"]) == (COUNT, 0, 0)
                # Acknowledged means committed: another connection sees every reading and the alert at once.
                with sessions() as db:
                    stored = db.scalar(select(func.count()).select_from(MonitoringReading)
                                       .where(MonitoringReading.enrolment_id == world.enrolment_id))
                    conditions = set(db.scalars(select(MonitoringAlert.condition).where(
                        MonitoringAlert.enrolment_id == world.enrolment_id, MonitoringAlert.status == "open")))
                    audited = db.scalar(select(func.count()).select_from(AuditEntry).where(
                        AuditEntry.action == "ingest", AuditEntry.object_type == "monitoring_batch",
                        AuditEntry.object_id == body["batch"]))
                assert stored == COUNT
                assert {"weight_gain_3d", "weight_over_dry"} <= conditions, conditions  # 83.5 kg: +3.5 kg
                assert audited == 1

                # A replay is acknowledged and stored once.
                again = http.post("/api/monitoring/readings", json={"readings": weights("big", 83.5)},
                                  headers=headers).json()
                assert (again["accepted"], again["duplicates"]) == (0, COUNT)

                # A large document that does not match the schema is refused whole, as FastAPI refuses a body that
                # does not match its model: 422 with the place of each error, nothing stored.
                broken = weights("broken", 80.0)
                del broken[99]["at"]
                broken[3]["value"] = None
                refused = http.post("/api/monitoring/readings", json={"readings": broken}, headers=headers)
                assert refused.status_code == 422, refused.text
                error = refused.json()["error"]
                assert error["code"] == "validation_failed"
                assert [(d["field"], d["type"]) for d in error["details"]] == [("body.readings.99.at", "missing")]
                assert "broken" not in refused.text  # the input is not echoed back
                # Not JSON at all, parsed in the child too: refused with where it breaks.
                torn = json.dumps({"readings": broken}).encode()[:-40]
                assert len(torn) > SMALL_BODY_BYTES
                refused = http.post("/api/monitoring/readings", content=torn,
                                    headers={**headers, "Content-Type": "application/json"})
                assert refused.status_code == 422, refused.text
                assert [d["type"] for d in refused.json()["error"]["details"]] == ["json_invalid"]
                with sessions() as db:
                    assert db.scalar(select(func.count()).select_from(MonitoringReading).where(
                        MonitoringReading.external_id.like("broken-%"))) == 0

                # A small document of many short readings: parsed in the serve process, evaluated in a child.
                start = now() - dt.timedelta(hours=2)
                short = [{"id": f"s{i}", "code": "weight", "value": 80, "at": (start + dt.timedelta(minutes=i))
                          .isoformat(timespec="seconds")} for i in range(SMALL_BATCH + 10)]
                assert len(json.dumps({"readings": short})) <= SMALL_BODY_BYTES
                stored = http.post("/api/monitoring/readings", json={"readings": short}, headers=headers)
                assert stored.status_code == 200, stored.text
                assert stored.json()["accepted"] == SMALL_BATCH + 10

                # A refusal raised in the child reaches the caller as it would in process; nothing is stored.
                entries = [{"resource": {
                    "resourceType": "Observation", "status": "final", "identifier": [{"value": f"t-{i}"}],
                    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                    "effectiveDateTime": (now() - dt.timedelta(hours=i + 1)).isoformat(),
                    "valueQuantity": {"value": 900.0 if i == 7 else 80.0, "unit": "kg",
                                      "system": "http://unitsofmeasure.org", "code": "kg"}},
                    "request": {"method": "POST", "url": "Observation"}} for i in range(COUNT)]
                refused = http.post("/api/monitoring/fhir", json={"resourceType": "Bundle", "type": "transaction",
                                                                 "entry": entries},
                                    headers={**headers, "Content-Type": "application/fhir+json"})
                assert refused.status_code == 422, refused.text
                assert refused.json()["resourceType"] == "OperationOutcome"
                with sessions() as db:
                    assert db.scalar(select(func.count()).select_from(MonitoringReading).where(
                        MonitoringReading.external_id.like("t-%"))) == 0
                # A child that dies (killed, out of memory) breaks its pool: that batch is answered 503, the next
                # one starts a new pool, and the sender's retry stores every reading once.
                workers = [k for k in kids if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()]
                assert workers
                os.kill(workers[0], signal.SIGKILL)
                time.sleep(1.0)  # the pool's own thread sees the child's exit and marks the pool broken
                lost = http.post("/api/monitoring/readings", json={"readings": weights("again", 80.5)},
                                 headers=headers)
                assert lost.status_code == 503, lost.text
                retried = http.post("/api/monitoring/readings", json={"readings": weights("again", 80.5)},
                                    headers=headers)
                assert retried.status_code == 200, retried.text
                assert retried.json()["accepted"] + retried.json()["duplicates"] == COUNT
                with sessions() as db:
                    assert db.scalar(select(func.count()).select_from(MonitoringReading)
                                     .where(MonitoringReading.external_id.like("again-%"))) == COUNT
                kids = children_of(server.process.pid) - before

            # Killed with SIGKILL, the serve process leaves no child behind (each watches its parent).
            server.process.kill()
            server.process.wait(10)
            deadline = time.monotonic() + 10
            while any(Path(f"/proc/{k}").exists() for k in kids) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not any(Path(f"/proc/{k}").exists() for k in kids), "a child outlived its serve process"
        finally:
            server.process.kill()
            server.process.wait(20)
            sessions.kw["bind"].dispose()
