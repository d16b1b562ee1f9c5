"""One room, two ``maillage serve`` processes on one PostgreSQL database: the practitioner's WebSocket lands on the
first, the patient's on the second; they meet, exchange the WebRTC messages, and both hear the appointment end
(committed by a third process) through LISTEN/NOTIFY."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker

from maillage.auth import service as auth
from maillage.security.deps import SESSION_COOKIE
from maillage.teleconsultation import availability, booking, patient_link
from maillage.teleconsultation.rules import PARIS, Kind
from maillage.teleconsultation.signalling import PATIENT_COOKIE
from tests.conftest import postgresql_only
from tests.e2e.conftest import LiveServer, start_server
from tests.fixtures.scratch import scratch_postgres_engine
from tests.fixtures.teleexpertise import actor, world


@pytest.fixture
def scratch_postgres(backend: str) -> Any:
    assert backend == "postgresql"
    yield from scratch_postgres_engine("tcrelay")


@pytest.fixture
def two_servers(scratch_postgres: Any) -> Iterator[tuple[LiveServer, LiveServer]]:
    url = scratch_postgres.url.render_as_string(hide_password=False)
    var = Path(os.environ["MAILLAGE_VAR_DIR"])  # the test's keys: the servers open the same sealed texts
    servers: list[LiveServer] = []
    try:
        for _ in range(2):
            servers.append(start_server(var, {"MAILLAGE_DATABASE_URL": url}, demo=False))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.process.terminate()
            try:
                server.process.wait(10)
            except subprocess.TimeoutExpired:
                server.process.kill()


def next_range() -> tuple[dt.date, str, str]:
    now = dt.datetime.now(PARIS).replace(second=0, microsecond=0)
    start = now + dt.timedelta(minutes=5 - now.minute % 5)
    end = min(start + dt.timedelta(minutes=30), dt.datetime.combine(start.date() + dt.timedelta(days=1), dt.time(),
                                                                    PARIS))
    return start.date(), start.strftime("%H:%M"), "24:00" if end.date() != start.date() else end.strftime("%H:%M")


def receive(ws: Any, kind: str) -> dict[str, Any]:
    for _ in range(20):
        message = json.loads(ws.recv(timeout=15))
        if message["type"] == kind:
            return dict(message)
    raise AssertionError(f"no {kind} message")


class TestTwoProcesses:
    @postgresql_only
    def test_the_peers_of_one_room_on_two_serve_processes_meet(self, scratch_postgres, two_servers):
        from websockets.sync.client import connect

        make = sessionmaker(bind=scratch_postgres, expire_on_commit=False)
        with make() as db:
            w = world(db, requirements=[])
            w.line.teleconsultation = True
            db.flush()
            day, start, end = next_range()
            availability.add_range(db, actor(db, w.expert), availability.RangeIn(
                kind=Kind.EXTRA, start=start, end=end, day=day, slot_minutes=5, line_id=w.line.id))
            slot = availability.free_slots(db, w.expert.id, line_id=w.line.id, first_day=day, days=1)[0]
            booked = booking.book(db, actor(db, w.requester), booking.BookingIn(
                patient_id=w.patient_id, practitioner_id=w.expert.id, line_id=w.line.id, starts_at=slot.starts_at))
            _, secret = patient_link.open_link(db, booked.link)
            patient_link.consent(db, secret, teleconsultation=True, third_party=False)
            booking.admit(db, actor(db, w.expert), booked.appointment.id)
            token, _ = auth.start_session(db, w.expert, mfa_passed=True, address="test")
            db.commit()
        first, second = two_servers
        path = f"/teleconsultation/signal/{booked.appointment.id}"

        def socket(server: LiveServer, cookie: str) -> Any:
            origin = server.url
            return connect(origin.replace("http://", "ws://") + path,
                           additional_headers={"Cookie": cookie, "Origin": origin}, open_timeout=15)

        with socket(first, f"{SESSION_COOKIE}={token}") as doctor:
            assert receive(doctor, "welcome")["role"] == "practitioner"
            with socket(second, f"{PATIENT_COOKIE}={secret}") as patient:
                assert receive(patient, "welcome")["status"] == "in_consultation"
                assert receive(doctor, "peer-joined")["role"] == "patient"
                sdp = "v=0\r\n" + "a=x-filler:" + "y" * 9000 + "\r\n"  # over NOTIFY's 8000 bytes: compressed
                doctor.send(json.dumps({"type": "offer", "n": 1, "sdp": sdp}))
                assert receive(patient, "offer")["sdp"] == sdp
                patient.send(json.dumps({"type": "answer", "n": 1, "sdp": "v=0 answer"}))
                answer = receive(doctor, "answer")
                assert answer == {"type": "answer", "n": 1, "sdp": "v=0 answer", "role": "patient",
                                  "from": answer["from"]}
                assert len(answer["from"]) == 32
                with make() as db:
                    booking.end(db, actor(db, db.merge(w.expert)), booked.appointment.id)
                    db.commit()
                assert receive(patient, "state")["status"] == "done"
                assert receive(doctor, "state")["status"] == "done"
