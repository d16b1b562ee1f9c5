"""Documents' part of the demo: for the GP's (dr.dupont) first demo patients, documents of several types dated back
from the demo day — a discharge summary corrected by a second version, a prescription, a laboratory report, a
specialist's letter restricted to the author's team, and a document entered in error by mistake with its reason —
besides the reports and the filed photo the other capabilities already write.

Every step goes through the document service with the clock frozen in the past (audit, vault, versions as real use
writes them). The PDFs are small real ones made with the platform's PDF kit. The same seed gives the same
documents.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.auth import service as auth
from maillage.document import service as documents
from maillage.kit.clock import PARIS, frozen, now
from maillage.kit.pdf import FAMILY, UnicodePDF
from maillage.models.auth import UserAccount
from maillage.models.authz import CareRelationship

AUTHOR = "dr.dupont"


@dataclass(frozen=True)
class DemoDocument:
    key: str
    patient_rank: int          # the GP's n-th demo patient (plan order)
    type_code: str
    title: str
    days_ago: int
    lines: tuple[str, ...]
    version_days_ago: int | None = None    # a corrected second version, that many days ago
    restricted: bool = False
    error_reason: str | None = None


DOCUMENTS = (
    DemoDocument("discharge", 0, "18842-5", "Compte rendu d'hospitalisation — cardiologie", 45,
                 ("Hospitalisation pour décompensation cardiaque.", "Sortie avec diurétique ajusté.",
                  "Contrôle de la kaliémie à une semaine."), version_days_ago=43),
    DemoDocument("prescription", 0, "57833-6", "Ordonnance de sortie", 44,
                 ("Furosémide 40 mg : 1 comprimé le matin.", "Bisoprolol 2,5 mg : 1 comprimé le matin.")),
    DemoDocument("lab", 0, "11502-2", "Bilan biologique de contrôle", 36,
                 ("Kaliémie : 4,1 mmol/l.", "Créatininémie : 98 µmol/l.")),
    DemoDocument("letter", 0, "11488-4", "Courrier de consultation — psychiatrie de liaison", 20,
                 ("Consultation de liaison à la demande du médecin traitant.",), restricted=True),
    DemoDocument("misfiled", 1, "51851-4", "Attestation de transport", 12,
                 ("Attestation de transport assis.",), error_reason="Document d'un autre patient, déposé par erreur"),
    DemoDocument("summary", 1, "34133-9", "Synthèse médicale du médecin traitant", 8,
                 ("Antécédents : diabète de type 2, hypertension artérielle.", "Traitement en cours à jour.")),
)


def demo_pdf(title: str, lines: tuple[str, ...], version: int = 1) -> bytes:
    pdf = UnicodePDF(format="A4")
    pdf.set_creation_date(now())  # the platform's clock (frozen in tests): the same seed gives the same bytes
    pdf.set_title(title)
    pdf.set_author("Maillage (démonstration)")
    pdf.add_page()
    pdf.set_font(FAMILY, "B", 14)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 10)
    if version > 1:
        pdf.multi_cell(0, 5, f"Version {version} (corrigée)", new_x="LMARGIN", new_y="NEXT")
    for line in lines:
        pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 5, "Document fictif de démonstration.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _patients_of(session: Session, user_id: uuid.UUID) -> list[uuid.UUID]:
    rows = session.execute(select(CareRelationship.source_id, CareRelationship.patient_id).where(
        CareRelationship.user_id == user_id, CareRelationship.source_type == "demo")).all()
    ranked = sorted((int(key.rsplit("-", 1)[1]), pid) for key, pid in rows if key and key.startswith("patient-"))
    return [pid for _, pid in ranked]


def seed_demo_documents(session: Session, id_for: Callable[[str], uuid.UUID], seed: int, day: dt.datetime) -> int:
    """Write the demo's documents through the document service, dated back from ``day``; the caller commits."""
    del id_for, seed  # the documents are fixed; the signature matches the other seeders
    user = session.scalar(select(UserAccount).where(UserAccount.username == AUTHOR))
    if user is None:
        return 0
    actor = auth.actor_for(session, user)
    patients = _patients_of(session, user.id)
    written = 0
    for d in DOCUMENTS:
        if d.patient_rank >= len(patients):
            continue
        patient_id = patients[d.patient_rank]
        at = day - dt.timedelta(days=d.days_ago) + dt.timedelta(hours=10)
        with frozen(at) as clock:
            document = documents.store_upload(
                session, actor, patient_id=patient_id, filename=f"{d.key}.pdf", data=demo_pdf(d.title, d.lines),
                declared_type="application/pdf", purpose="care", owner_type=documents.PATIENT_OWNER,
                owner_id=str(patient_id), title=d.title, type_code=d.type_code,
                act_date=at.astimezone(PARIS).date(), confidentiality="restricted" if d.restricted else "normal")
            written += 1
            if d.version_days_ago is not None:
                clock.advance(dt.timedelta(days=d.days_ago - d.version_days_ago))
                documents.new_version(session, actor, document.id, filename=f"{d.key}-v2.pdf",
                                      data=demo_pdf(d.title, d.lines, version=2), declared_type="application/pdf")
                written += 1
            if d.error_reason is not None:
                clock.advance(dt.timedelta(hours=2))
                documents.mark_entered_in_error(session, actor, document.id, d.error_reason)
    session.flush()
    return written
