"""Helpers for tests that run real processes (MQTT bridge, server killed with SIGKILL, browser): an isolated,
migrated database per test (a SQLite file, or a throw-away PostgreSQL database), a telesurveillance world
committed in it, and a private Mosquitto broker."""

from __future__ import annotations

import datetime as dt
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from maillage.auth import second_factor
from maillage.auth import service as auth
from maillage.authz import service as authz
from maillage.kit.clock import now
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.models.monitoring import MonitoringDeviceAssignment, MonitoringEnrolment
from maillage.monitoring import service
from maillage.monitoring.schemas import EnrolmentCreate
from tests.conftest import _reset_keyring, postgres_url, run_migrations
from tests.fixtures.factories import make_patient_id

PASSWORD = "Correct-Horse-Battery-9"
TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def isolated_database(backend: str, folder: Path) -> Iterator[str]:
    """A freshly migrated database of its own; yields its URL; dropped afterwards (PostgreSQL)."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'maillage.sqlite3'}"
        engine = make_engine(url)
        with engine.begin() as conn:
            run_migrations(conn)
        engine.dispose()
        yield url
        return
    base = postgres_url()
    assert base is not None
    name = f"mon_iso_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    with engine.begin() as conn:
        run_migrations(conn)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Seeded:
    secret: str
    device_identifier: str
    enrolment_id: uuid.UUID
    patient_id: uuid.UUID
    nurse_username: str
    nurse_id: uuid.UUID


def seed_world(sessions: sessionmaker[Session], *, backdate_days: int = 10, suffix: str = "") -> Seeded:
    """Commit a team, a nurse and a physician, a scale with its credential, an enrolled heart-failure patient."""
    with sessions() as db:
        def user(role: str, name: str, display: str):  # type: ignore[no-untyped-def]
            account = auth.create_user(db, username=name, display_name=display, role=role, password=PASSWORD)
            second_factor.enrol_totp_with_secret(db, account, TOTP)
            return account

        admin = auth.actor_for(db, user("administrator", f"admin.mon{suffix}", "Administration"))
        physician_user = user("physician", f"dr.mon{suffix}", "Dr Alice Cardio")
        nurse_user = user("coordinating_nurse", f"idec.mon{suffix}", "Inès Coordination")
        team = service.create_team(db, admin, establishment_id=uuid.uuid4(), name=f"Télésurveillance IC{suffix}")
        service.add_member(db, admin, team.id, physician_user.id, "physician")
        service.add_member(db, admin, team.id, nurse_user.id, "nurse")
        physician = auth.actor_for(db, physician_user)
        identifier = f"SCALE-LIVE{suffix}"
        registered = service.register_device(db, physician, team_id=team.id, identifier=identifier, label="Balance")
        patient_id = make_patient_id(db)
        authz.grant_relationship(db, user_id=physician.user_id, patient_id=patient_id, kind="attending")
        enrolment = service.enrol(db, physician, EnrolmentCreate(
            patient_id=patient_id, team_id=team.id, programme="heart_failure", prescribed_on=now().date(),
            duration_months=6, consent=True, devices=[identifier], references={"dry_weight": 80.0}))
        shift = dt.timedelta(days=backdate_days)
        enrolment.starts_on -= shift
        enrolment.prescribed_on -= shift
        enrolment.watch_from -= shift
        for assignment in db.scalars(select(MonitoringDeviceAssignment)
                                     .where(MonitoringDeviceAssignment.enrolment_id == enrolment.id)):
            assignment.starts_at -= shift
        db.commit()
        assert registered.secret is not None
        return Seeded(registered.secret, identifier, enrolment.id, patient_id, nurse_user.username, nurse_user.id)


def sessions_for(url: str) -> sessionmaker[Session]:
    return make_sessionmaker(make_engine(url))


def enrolment_of(sessions: sessionmaker[Session], enrolment_id: uuid.UUID) -> MonitoringEnrolment | None:
    with sessions() as db:
        return db.get(MonitoringEnrolment, enrolment_id)


class Mosquitto:
    """A private broker on a free port, with persistence in a temp folder: ours to stop and restart."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.pid_file = folder / "mosquitto.pid"
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nautosave_interval 1\npid_file {self.pid_file}\n"
            f"log_dest file {folder}/mosquitto.log\nmax_queued_messages 100000\n"
            # Started as root, mosquitto would switch to its own user, who cannot write in our temp folder.
            + (f"user {pwd.getpwuid(os.geteuid()).pw_name}\n" if os.geteuid() == 0 else "")
        )

    @staticmethod
    def available() -> bool:
        return shutil.which("mosquitto") is not None or os.path.exists("/usr/sbin/mosquitto")

    def start(self) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.pid_file.unlink(missing_ok=True)
        subprocess.run([exe, "-c", str(self.conf), "-d"], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def seed_with_server_keys(sessions: sessionmaker[Session], var_dir: Path, monkeypatch: Any) -> Seeded:
    """``seed_world`` with a live server's settings: the TOTP secret is sealed with that server's key ring."""
    from maillage.config import get_settings

    monkeypatch.setenv("MAILLAGE_VAR_DIR", str(var_dir))
    get_settings.cache_clear()
    _reset_keyring()
    try:
        return seed_world(sessions, suffix=uuid.uuid4().hex[:6])
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        _reset_keyring()


def sign_in_nurse(page: Any, url: str, username: str) -> None:
    """The seeded nurse signs in through the browser (password, then the TOTP code) and lands on the home page."""
    import pyotp

    page.goto(url + "/connexion")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/connexion/code**")
    page.get_by_label("Code").fill(pyotp.TOTP(TOTP).now())
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url(url + "/")
