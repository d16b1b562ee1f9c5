"""Demo e-prescription: a small drug database in the BDPM's published format (written by the project, not ANSM
data), imported as the operator's ``maillage drugs import`` would."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from maillage.prescription import drugs

DEMO_BDPM = Path(drugs.__file__).resolve().parent / "data" / "bdpm"


def seed_demo_drugs(session: Session) -> drugs.ImportOutcome:
    """The demo drug database (fourteen specialities, their boxes, generic groups and notices); flushes."""
    return drugs.import_release(session, DEMO_BDPM)
