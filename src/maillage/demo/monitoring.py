"""Telesurveillance's part of the demo territory: the support hospital's telesurveillance team (the coordinating
nurse and the hospital's demo physician) and the devices it lends, then (``seed_demo_follow_up``) weeks of follow-up
of the coordinating nurse's patients: enrolments in the heart-failure, oxygen and diabetes programmes, readings sent
through the ingestion service so that the engine raises its alerts (red, orange, green, missing data), some of them
acknowledged or escalated; one of the followed patients is the demo GP's and one lives at the EHPAD, so their
worklists have alerts too. At least one device of each kind stays free for the enrolment page, and one followed
patient stays out of the heart-failure programme (the enrolment browser test enrols one).

Rows are written with stable ids derived from the territory's plan: the same département and seed always give the
same team and devices. The devices carry no connection secret (a secret is shown once, at registration, on the
devices page); register one there to send readings.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.auth import service as auth
from maillage.auth.tokens import DeviceActor
from maillage.kit.clock import frozen, now
from maillage.models.auth import UserAccount
from maillage.models.monitoring import MonitoringAlert, MonitoringDevice, MonitoringTeam, MonitoringTeamMember
from maillage.monitoring import service as monitoring
from maillage.monitoring.ingest import Incoming, ingest
from maillage.monitoring.schemas import EnrolmentCreate
from maillage.security.actor import Actor

TEAM_NAME = "Unité de télésurveillance"
MEMBERS = (("idec.bernard", "nurse"), ("dr.martin", "physician"))


@dataclass(frozen=True)
class DemoDevice:
    key: str
    label: str
    identifier: str


DEVICES = (
    *(DemoDevice(f"scale-{n}", f"Balance connectée n° {n}", f"BAL-{n:04d}") for n in range(1, 5)),
    *(DemoDevice(f"bp-{n}", f"Tensiomètre connecté n° {n}", f"TEN-{n:04d}") for n in range(1, 5)),
    *(DemoDevice(f"oximeter-{n}", f"Oxymètre de pouls n° {n}", f"OXY-{n:04d}") for n in range(1, 3)),
    *(DemoDevice(f"glucometer-{n}", f"Lecteur de glycémie connecté n° {n}", f"GLY-{n:04d}") for n in range(1, 3)),
)


def seed_demo_monitoring(session: Session, id_for: Callable[[str], uuid.UUID], departement: str,
                         users: Mapping[str, UserAccount]) -> MonitoringTeam:
    """Write the support hospital's telesurveillance team, its members and its devices (the caller commits).

    ``id_for`` is the territory plan's stable id of a key (the support hospital is ``support``); ``users`` the
    demo accounts by user name."""
    at = now()
    team = MonitoringTeam(id=id_for("monitoring/team"), establishment_id=id_for("support"), name=TEAM_NAME,
                          ars_declaration=f"ARS-{departement}-TLS-001", active=True, created_at=at)
    session.add(team)
    session.flush()
    session.add_all([MonitoringTeamMember(id=id_for(f"monitoring/team/{username}"), team_id=team.id,
                                          user_id=users[username].id, role=role)
                     for username, role in MEMBERS if username in users])
    session.add_all([MonitoringDevice(id=id_for(f"monitoring/device/{d.key}"), identifier=d.identifier,
                                      kind="device", label=d.label, team_id=team.id, active=True, created_at=at)
                     for d in DEVICES])
    session.flush()
    return team


@dataclass(frozen=True)
class FollowUp:
    """One followed patient (``patient-N`` of the plan): a programme, its devices, its reference values, and from how
    many days before the demo day until how many days before it the devices send readings."""

    patient: str
    programme: str
    devices: tuple[str, ...]
    references: Mapping[str, float]
    first_day: int
    last_day: int


# The last three days of a heart-failure follow-up raise a weight alert; a span (first_day - last_day) of 3 modulo 4
# keeps the nurse's rounds (_triage) off those days, so the alert is still open on the demo day.
FOLLOW_UPS = (
    FollowUp("patient-15", "heart_failure", ("scale-1", "bp-1"), {"dry_weight": 74.0}, 45, 1),
    FollowUp("patient-4", "heart_failure", ("scale-2", "bp-2"), {"dry_weight": 81.0}, 32, 1),  # dr.dupont's patient
    FollowUp("patient-9", "heart_failure", ("scale-3", "bp-3"), {"dry_weight": 68.5}, 36, 1),  # an EHPAD resident
    FollowUp("patient-16", "respiratory_oxygen", ("oximeter-1",), {"spo2_target": 92.0}, 38, 4),
    FollowUp("patient-17", "diabetes", ("glucometer-1",),
             {"hypo_threshold": 54.0, "glucose_target_low": 70.0, "glucose_target_high": 250.0}, 30, 1),
)
NURSE = "idec.bernard"


def seed_demo_follow_up(session: Session, id_for: Callable[[str], uuid.UUID], seed: int, day: dt.datetime) -> int:
    """Enrol the coordinating nurse's patients and play their weeks of readings, dated back from ``day`` (the demo
    day's midnight, UTC), through the enrolment, ingestion and alert services (the caller commits). Returns how many
    readings were stored."""
    rng = random.Random(f"maillage-demo-monitoring:{seed}")
    nurse = auth.actor_for(session, session.scalars(select(UserAccount).where(UserAccount.username == NURSE)).one())
    identifiers = {d.key: d.identifier for d in DEVICES}
    stored = 0
    for follow in FOLLOW_UPS:
        start = day - dt.timedelta(days=follow.first_day, hours=-9)
        with frozen(start) as clock:
            enrolment = monitoring.enrol(session, nurse, EnrolmentCreate(
                patient_id=id_for(follow.patient), team_id=id_for("monitoring/team"), programme=follow.programme,
                prescribed_on=start.date(), duration_months=6, consent=True,
                devices=[identifiers[k] for k in follow.devices], references=dict(follow.references)))
            for n in range(follow.first_day - follow.last_day):
                clock.advance(dt.timedelta(days=1) if n else dt.timedelta(hours=1))
                for key in follow.devices:
                    items = _readings(follow, key, n, clock.now, rng)
                    device = DeviceActor(credential_id=id_for(f"monitoring/device/{key}"),
                                         device_identifier=identifiers[key], establishment_id=id_for("support"))
                    stored += ingest(session, device, items, channel="demo").accepted
                _triage(session, nurse, enrolment.id, n, rng)
    with frozen(day):
        monitoring.check_silences(session)
    session.flush()
    return stored


def _readings(follow: FollowUp, device: str, n: int, at: dt.datetime, rng: random.Random) -> list[Incoming]:
    """The day's readings of one device, taken in the hour before ``at``: mostly in range, with the episodes that
    raise the demo's alerts (a weight gain, low saturations, hypo- and hyperglycaemias)."""
    values: list[tuple[str, float, dt.datetime]] = []
    if device.startswith("scale"):
        gain = 2.6 if n in range(20, 23) or n >= follow.first_day - follow.last_day - 3 else 0.0
        values.append(("weight", round(follow.references["dry_weight"] + rng.uniform(-0.4, 0.5) + gain, 1), at))
    elif device.startswith("bp"):
        values += [("systolic", float(rng.randint(112, 138)), at), ("diastolic", float(rng.randint(64, 84)), at),
                   ("heart_rate", float(rng.randint(62, 88)), at)]
    elif device.startswith("oximeter"):
        low = n % 9 == 5
        values.append(("spo2", float(rng.randint(86, 89) if low else rng.randint(92, 97)), at))
    elif device.startswith("glucometer"):
        for hours, meal in ((-10, 0), (-6, 60), (-1, 40)):
            value = rng.randint(90, 180) + meal
            if n % 11 == 4 and hours == -10:
                value = rng.randint(45, 52)
            elif n % 7 == 3 and hours == -1:
                value = rng.randint(262, 310)
            values.append(("glucose", float(value), at + dt.timedelta(hours=hours)))
    return [Incoming(i, f"demo-{device}-{n}-{i}", code, value, taken.isoformat())
            for i, (code, value, taken) in enumerate(values)]


def _triage(session: Session, nurse: Actor, enrolment_id: uuid.UUID, n: int, rng: random.Random) -> None:
    """The nurse's daily round on the patient's open alerts: the older ones acknowledged (a few escalated to the
    physician first); those of the last days stay open for the worklist."""
    if n % 4 != 3:
        return
    alerts = session.scalars(select(MonitoringAlert).where(MonitoringAlert.enrolment_id == enrolment_id,
                                                           MonitoringAlert.status == "open")
                             .order_by(MonitoringAlert.opened_at, MonitoringAlert.id)).all()
    for alert in alerts:
        if alert.severity == "red" and alert.escalated_at is None and rng.random() < 0.5:
            monitoring.escalate(session, nurse, alert.id, "Avis médical demandé : patient joint par téléphone.")
        elif alert.severity != "red" or rng.random() < 0.7:
            monitoring.acknowledge(session, nurse, alert.id, rng.choice(_COMMENTS))


_COMMENTS = ("Patient appelé, pas de signe de gravité.", "Mesure refaite, valeur normale.",
             "Traitement adapté avec le médecin traitant.", "Vu en consultation, consignes redonnées.")
