"""Demo e-prescription: a small drug database in the BDPM's published format (written by the project, not ANSM
data), imported as the operator's ``maillage drugs import`` would, and a prescription the dermatologist signed for
one of her patients, addressed to the demo pharmacy and waiting there (played through the services). The patient
is known to be allergic to amoxicillin (a penicillin): prescribing it to her shows the warning before signing."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from maillage.auth import service as auth
from maillage.authz import service as authz
from maillage.patient import allergy
from maillage.prescription import document, drugs, service
from maillage.prescription.rules import LineDraft, LineKind, Period

DEMO_BDPM = Path(drugs.__file__).resolve().parent / "data" / "bdpm"
PRESCRIBER = "dr.martin"
PHARMACY_KEY = "pharmacy-1"


def seed_demo_drugs(session: Session) -> drugs.ImportOutcome:
    """The demo drug database (fourteen specialities, their boxes, generic groups and notices); flushes."""
    return drugs.import_release(session, DEMO_BDPM)


def seed_demo_prescription(session: Session, id_for: Callable[[str], uuid.UUID], users: dict[str, Any]) -> Any:
    """The dermatologist signs a prescription (a cream with a generic, a substance by DCI) for the first patient
    she follows, addressed to the demo pharmacy; returns its view."""
    actor = auth.actor_for(session, users[PRESCRIBER])
    followed = authz.accessible_patients(actor)
    row = session.execute(followed.order_by(*followed.selected_columns).limit(1)).first()
    if row is None:
        return None
    patient_id = uuid.UUID(str(row[0]))
    allergy.record_allergy(session, actor, patient_id, allergy.AllergyIn(
        substance="Amoxicilline", substance_code="01436", kind="allergy", criticality="high",
        reaction="Urticaire généralisée après une prise d'amoxicilline en 2019"))
    lines = [
        LineDraft(kind=LineKind.SPECIALITY, label="", cis="60000059", dose=Decimal(1), dose_unit="application",
                  times=1, period=Period.DAY, duration=2, duration_unit=Period.WEEK, quantity=1,
                  conditions="le soir, en couche fine sur les lésions"),
        LineDraft(kind=LineKind.SUBSTANCE, label="Doxycycline 100 mg, comprimé", dose=Decimal(1),
                  dose_unit="comprimé", times=1, period=Period.DAY, duration=3, duration_unit=Period.MONTH,
                  quantity=1, renewals=2, conditions="au cours du repas, avec un grand verre d'eau"),
    ]
    draft = service.create_draft(session, actor, patient_id, lines, pharmacy_id=id_for(PHARMACY_KEY),
                                 instructions="Éviter l'exposition au soleil pendant le traitement.")
    return document.sign_and_file(session, actor, draft.id)



