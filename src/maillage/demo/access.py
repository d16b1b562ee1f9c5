"""Emergency accesses of the demo: a physician who opened, in an emergency, the record of a patient outside his care
(once reviewed by the administrator, once still waiting for that review), so that the administrator's home and audit
page show the review they exist for. Written through ``authz.break_glass`` with the clock frozen in the past, as real
use writes them (audited, flagged, time-limited)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.auth import service as auth
from maillage.authz import service as authz
from maillage.kit.clock import frozen
from maillage.models.auth import UserAccount

# (who, patient of the plan, days before the demo day, reason, the administrator's review or None to leave it waiting)
ACCESSES = (
    ("dr.dupont", "patient-12", 19.6, "Appel de nuit de l'EHPAD (fièvre et confusion), médecin traitant absent : "
     "lecture des traitements en cours avant de conseiller l'équipe.",
     "Motif conforme : régulation de nuit, médecin traitant injoignable."),
    ("dr.martin", "patient-11", 1.4, "Arrivée aux urgences de l'hôpital support pour une dermohypodermite étendue : "
     "consultation des antécédents avant l'avis dermatologique.", None),
)


def seed_demo_break_glass(session: Session, id_for: Callable[[str], uuid.UUID], day: dt.datetime) -> int:
    """Write the demo's emergency accesses, dated back from ``day`` (the demo day's midnight, UTC); the caller
    commits. Returns how many are left for the administrator to review."""
    users = {u.username: u for u in session.scalars(select(UserAccount))}
    admin = auth.actor_for(session, users["admin"])
    waiting = 0
    for username, patient, days_ago, reason, review in ACCESSES:
        at = day - dt.timedelta(days=days_ago)
        with frozen(at):
            access = authz.break_glass(session, auth.actor_for(session, users[username]), id_for(patient), reason)
        if review is None:
            waiting += 1
            continue
        with frozen(at + dt.timedelta(hours=9)):
            authz.review_break_glass(session, admin, access.id, review)
    session.flush()
    return waiting
