"""The demo's months of activity: tele-expertise requests, telesurveillance follow-up, teleconsultations, emergency
accesses, messages between professionals and patient documents, played through the services with the clock frozen
in the past, dated back from the day the demo is built.

The territory's care relationships (written at load time) are dated back first: the demo's patients were cared
for before their first request or reading, as the access rules require.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from sqlalchemy import update
from sqlalchemy.orm import Session

from maillage.demo.access import seed_demo_break_glass
from maillage.demo.documents import seed_demo_documents
from maillage.demo.messaging import seed_demo_messaging
from maillage.demo.monitoring import seed_demo_follow_up
from maillage.demo.mssante import seed_demo_mssante
from maillage.demo.predict import seed_demo_prediction
from maillage.demo.teleconsultation import seed_demo_teleconsultation
from maillage.demo.teleconsultation_aftercare import seed_demo_teleconsultation_aftercare
from maillage.demo.teleexpertise import seed_demo_teleexpertise
from maillage.kit.clock import now
from maillage.models.authz import CareRelationship

HISTORY_DAYS = 400  # the demo's care relationships start before its oldest request (about five months)


def seed_demo_activity(session: Session, id_for: Callable[[str], uuid.UUID], seed: int) -> None:
    """Write the demo's activity after its territory, accounts, patients and telesurveillance team (the caller
    commits). The same seed gives the same activity, dated from the current UTC day."""
    day = now().astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    session.execute(update(CareRelationship).where(CareRelationship.source_type == "demo")
                    .values(starts_at=day - dt.timedelta(days=HISTORY_DAYS)))
    seed_demo_teleexpertise(session, id_for, seed, day)
    seed_demo_follow_up(session, id_for, seed, day)
    seed_demo_prediction(session, id_for, seed, day)
    seed_demo_break_glass(session, id_for, day)
    seed_demo_teleconsultation(session, id_for, seed, day)
    seed_demo_messaging(session, id_for, seed, day)
    seed_demo_mssante(session, id_for, day)
    seed_demo_teleconsultation_aftercare(session, id_for, day)
    seed_demo_documents(session, id_for, seed, day)
