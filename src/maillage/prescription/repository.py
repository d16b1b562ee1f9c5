"""Every query of the prescription package: the drug database (public data: no actor, no audit) and the
prescriptions (the service checks access and audits before calling these)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, text, update
from sqlalchemy.orm import Session

from maillage.models.drug import (
    DrugComposition,
    DrugGenericMember,
    DrugNotice,
    DrugPresentation,
    DrugRelease,
    DrugSearchTerm,
    DrugSpeciality,
)
from maillage.models.prescription import Dispensation, Prescription, PrescriptionLine

PREFIX_END = "\uffff"
INSERT_BATCH = 5000


def _prefix(column: Any, key: str) -> ColumnElement[bool]:
    """``column`` starts with ``key``, as one B-tree range (the columns compare in byte order)."""
    return (column >= key) & (column < key + PREFIX_END)


def current_release(session: Session) -> DrugRelease | None:
    return session.scalars(select(DrugRelease).where(DrugRelease.current.is_(True))).first()


def lock_releases(session: Session) -> None:
    """Serialise imports: the second waits for the first's commit (PostgreSQL; SQLite has one writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(DrugRelease.id).with_for_update())


def replace_drugs(session: Session, tables: Sequence[tuple[type[Any], list[dict[str, Any]]]]) -> None:
    """Delete every row of the drug tables and insert ``tables`` (parents first), in the caller's transaction."""
    for model in (DrugSearchTerm, DrugNotice, DrugGenericMember, DrugComposition, DrugPresentation, DrugSpeciality):
        session.execute(delete(model))
    for model, rows in tables:
        for start in range(0, len(rows), INSERT_BATCH):
            session.execute(insert(model), rows[start:start + INSERT_BATCH])


DRUG_TABLES = ("drug_speciality", "drug_presentation", "drug_composition", "drug_generic_member", "drug_notice",
               "drug_search_term")


def refresh_statistics(session: Session) -> None:
    """Refresh the planner's statistics of the replaced tables (PostgreSQL), in the import's transaction: without
    them a search plans a sequential scan of every speciality."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"ANALYZE {', '.join(DRUG_TABLES)}"))


def record_release(session: Session, release: DrugRelease) -> None:
    session.execute(update(DrugRelease).where(DrugRelease.current.is_(True)).values(current=False))
    session.add(release)
    session.flush()


def specialities_by_words(session: Session, words: Sequence[str], limit: int) -> list[DrugSpeciality]:
    """Specialities having, for every word, a name or substance word that starts with it; marketed first.

    The first word's range is read from ``drug_search_term`` alone (it carries the sort keys); each further word
    filters it; only the ``limit`` specialities kept are read."""
    first, *others = words
    term = DrugSearchTerm
    query = select(term.cis).where(_prefix(term.term, first))
    for word in others:
        query = query.where(term.cis.in_(select(DrugSearchTerm.cis).where(_prefix(DrugSearchTerm.term, word))))
    query = (query.group_by(term.cis, term.marketed, term.name_key)
             .order_by(term.marketed.desc(), term.name_key).limit(limit))
    ranked = list(session.scalars(query))
    found = {s.cis: s for s in specialities_by_cis(session, ranked)} if ranked else {}
    return [found[cis] for cis in ranked if cis in found]


def specialities_by_substance(session: Session, key: str) -> list[DrugSpeciality]:
    """Specialities holding the active substance whose search key is ``key`` (a prescription by DCI)."""
    having = select(DrugComposition.cis).where(DrugComposition.substance_key == key)
    query = (select(DrugSpeciality).where(DrugSpeciality.cis.in_(having))
             .order_by(DrugSpeciality.marketed.desc(), DrugSpeciality.name_key))
    return list(session.scalars(query))


def specialities_by_cis(session: Session, cis: Sequence[str]) -> list[DrugSpeciality]:
    return list(session.scalars(select(DrugSpeciality).where(DrugSpeciality.cis.in_(cis))))


def cis_of_presentation(session: Session, *, cip13: str | None = None, cip7: str | None = None) -> str | None:
    column = DrugPresentation.cip13 if cip13 else DrugPresentation.cip7
    return session.scalars(select(DrugPresentation.cis).where(column == (cip13 or cip7))).first()


def presentations_of(session: Session, cis: Sequence[str]) -> list[DrugPresentation]:
    query = (select(DrugPresentation).where(DrugPresentation.cis.in_(cis))
             .order_by(DrugPresentation.marketed.desc(), DrugPresentation.label))
    return list(session.scalars(query))


def compositions_of(session: Session, cis: Sequence[str]) -> list[DrugComposition]:
    query = select(DrugComposition).where(DrugComposition.cis.in_(cis)).order_by(DrugComposition.id)
    return list(session.scalars(query))


def generic_memberships_of(session: Session, cis: Sequence[str]) -> list[DrugGenericMember]:
    return list(session.scalars(select(DrugGenericMember).where(DrugGenericMember.cis.in_(cis))))


def generic_group(session: Session, group_id: str) -> list[DrugGenericMember]:
    query = (select(DrugGenericMember).where(DrugGenericMember.group_id == group_id)
             .order_by(DrugGenericMember.kind, DrugGenericMember.rank))
    return list(session.scalars(query))


def notices_of(session: Session, cis: Sequence[str]) -> list[DrugNotice]:
    query = select(DrugNotice).where(DrugNotice.cis.in_(cis)).order_by(DrugNotice.starts_on.desc())
    return list(session.scalars(query))


# Prescriptions ------------------------------------------------------------------------------------------------


def prescription(session: Session, prescription_id: uuid.UUID) -> Prescription | None:
    return session.get(Prescription, prescription_id)


def prescription_by_number(session: Session, number: str) -> Prescription | None:
    return session.scalars(select(Prescription).where(Prescription.number == number)).first()


def lines_of(session: Session, prescription_id: uuid.UUID) -> list[PrescriptionLine]:
    query = (select(PrescriptionLine).where(PrescriptionLine.prescription_id == prescription_id)
             .order_by(PrescriptionLine.position))
    return list(session.scalars(query))


def dispensations_of(session: Session, prescription_id: uuid.UUID) -> list[Dispensation]:
    query = (select(Dispensation).where(Dispensation.prescription_id == prescription_id)
             .order_by(Dispensation.dispensed_at, Dispensation.id))
    return list(session.scalars(query))


def add_dispensed(session: Session, line_id: uuid.UUID, quantity: int) -> bool:
    """Add ``quantity`` to the line's dispensed quantity if that stays within what was prescribed; False when it
    would not (another pharmacist delivered it first). One conditional update: on PostgreSQL a concurrent one waits
    for this transaction and then finds the new quantity."""
    prescribed = PrescriptionLine.quantity * (PrescriptionLine.renewals + 1)
    result = session.execute(
        update(PrescriptionLine)
        .where(PrescriptionLine.id == line_id, PrescriptionLine.dispensed_quantity + quantity <= prescribed)
        .values(dispensed_quantity=PrescriptionLine.dispensed_quantity + quantity)
        .execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))


def waiting_at(session: Session, pharmacy_ids: Sequence[uuid.UUID], today: dt.date) -> list[Prescription]:
    """Signed prescriptions addressed to these pharmacies, still to dispense and valid today, oldest first."""
    query = (select(Prescription)
             .where(Prescription.pharmacy_id.in_(pharmacy_ids),
                    Prescription.status.in_(("signed", "partially_dispensed")), Prescription.valid_until >= today)
             .order_by(Prescription.signed_at))
    return list(session.scalars(query))


def prescriptions_of_patient(session: Session, patient_id: uuid.UUID) -> list[Prescription]:
    query = (select(Prescription).where(Prescription.patient_id == patient_id)
             .order_by(Prescription.created_at.desc()))
    return list(session.scalars(query))
