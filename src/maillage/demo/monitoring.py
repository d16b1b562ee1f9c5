"""Telesurveillance's part of the demo territory: the support hospital's telesurveillance team (the coordinating
nurse and the hospital's demo physician) and the devices it lends, all free, so that a coordinating nurse can enrol
a patient and hand over a device from the first minute.

Rows are written with stable ids derived from the territory's plan: the same département and seed always give the
same team and devices. The devices carry no connection secret (a secret is shown once, at registration, on the
devices page); register one there to send readings.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from maillage.kit.clock import now
from maillage.models.auth import UserAccount
from maillage.models.monitoring import MonitoringDevice, MonitoringTeam, MonitoringTeamMember

TEAM_NAME = "Unité de télésurveillance"
MEMBERS = (("idec.bernard", "nurse"), ("dr.martin", "physician"))


@dataclass(frozen=True)
class DemoDevice:
    key: str
    label: str
    identifier: str


DEVICES = (
    *(DemoDevice(f"scale-{n}", f"Balance connectée n° {n}", f"BAL-{n:04d}") for n in range(1, 5)),
    *(DemoDevice(f"bp-{n}", f"Tensiomètre connecté n° {n}", f"TEN-{n:04d}") for n in range(1, 4)),
    *(DemoDevice(f"oximeter-{n}", f"Oxymètre de pouls n° {n}", f"OXY-{n:04d}") for n in range(1, 3)),
    DemoDevice("glucometer-1", "Lecteur de glycémie connecté n° 1", "GLY-0001"),
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
