"""A small telesurveillance world: an operator team (a physician and a nurse), a scale with its credential, and a
heart-failure patient enrolled by the physician (who has a prior care relationship with the patient)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from maillage.auth import service as auth
from maillage.auth import tokens as auth_tokens
from maillage.auth.tokens import DeviceActor
from maillage.authz import service as authz
from maillage.kit.clock import now
from maillage.models.monitoring import MonitoringDeviceAssignment, MonitoringEnrolment, MonitoringTeam
from maillage.monitoring import service
from maillage.monitoring.ingest import Incoming
from maillage.monitoring.schemas import EnrolmentCreate
from maillage.security.actor import Actor
from tests.fixtures.factories import make_patient_id, make_user


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Accounts are scaffolding here: hash their passwords with minimal Argon2 costs to keep the suite fast."""
    from argon2 import PasswordHasher

    monkeypatch.setattr(auth, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


@dataclass
class World:
    admin: Actor
    physician: Actor
    nurse: Actor
    outsider_nurse: Actor
    team: MonitoringTeam
    device: DeviceActor
    secret: str
    patient_id: uuid.UUID
    enrolment: MonitoringEnrolment
    users: dict[str, Any]


def actor(db: Any, user: Any) -> Actor:
    return auth.actor_for(db, user)


def enrol_patient(db: Any, world_physician: Actor, team: MonitoringTeam, *, programme: str = "heart_failure",
                  devices: list[str] | None = None, references: dict[str, float] | None = None,
                  patient_id: uuid.UUID | None = None, care_team: list[uuid.UUID] | None = None,
                  **extra: Any) -> MonitoringEnrolment:
    pid = patient_id or make_patient_id(db)
    authz.grant_relationship(db, user_id=world_physician.user_id, patient_id=pid, kind="attending")
    data = EnrolmentCreate(
        patient_id=pid, team_id=team.id, programme=programme, prescribed_on=now().date() - dt.timedelta(days=1),
        duration_months=extra.pop("duration_months", 6), consent=extra.pop("consent", True),
        devices=devices or [], references=references if references is not None else {"dry_weight": 80.0},
        care_team=care_team or [], **extra,
    )
    return service.enrol(db, world_physician, data)


def register(db: Any, physician: Actor, team: MonitoringTeam, identifier: str, **kw: Any) -> tuple[DeviceActor, str]:
    registered = service.register_device(db, physician, team_id=team.id, identifier=identifier,
                                         label=f"Appareil {identifier}", **kw)
    secret = registered.secret or ""
    device = auth_tokens.resolve_device(db, secret) if secret else None
    assert device is not None or not secret
    return device, secret  # type: ignore[return-value]


def backdate(db: Any, enrolment: MonitoringEnrolment, days: int) -> MonitoringEnrolment:
    """Pretend the enrolment (and its device assignments) began ``days`` ago."""
    shift = dt.timedelta(days=days)
    enrolment.prescribed_on -= shift
    enrolment.starts_on -= shift
    enrolment.watch_from -= shift
    for assignment in db.scalars(select(MonitoringDeviceAssignment)
                                 .where(MonitoringDeviceAssignment.enrolment_id == enrolment.id)):
        assignment.starts_at -= shift
    db.flush()
    return enrolment


@pytest.fixture
def world(db: Any) -> World:
    users = {
        "admin": make_user(db, "administrator"),
        "physician": make_user(db, "physician"),
        "nurse": make_user(db, "coordinating_nurse"),
        "outsider_nurse": make_user(db, "nurse"),
    }
    admin = actor(db, users["admin"])
    team = service.create_team(db, admin, establishment_id=uuid.uuid4(), name="Télésurveillance cardiologie",
                               ars_declaration="ARS-2026-001")
    service.add_member(db, admin, team.id, users["physician"].id, "physician")
    service.add_member(db, admin, team.id, users["nurse"].id, "nurse")
    physician = actor(db, users["physician"])
    device, secret = register(db, physician, team, "SCALE-1")
    enrolment = backdate(db, enrol_patient(db, physician, team, devices=["SCALE-1"]), 10)
    return World(admin, physician, actor(db, users["nurse"]), actor(db, users["outsider_nurse"]), team, device,
                 secret, enrolment.patient_id, enrolment, users)


def weights(*values: tuple[int, float], prefix: str = "w", start: dt.datetime | None = None) -> list[Incoming]:
    """Readings of weight at ``start`` (default now) minus N days, keyed ``prefix-N``."""
    base = start or now() - dt.timedelta(minutes=5)
    return [Incoming(i, f"{prefix}-{days}", "29463-7", value, base - dt.timedelta(days=days), "kg")
            for i, (days, value) in enumerate(values)]
