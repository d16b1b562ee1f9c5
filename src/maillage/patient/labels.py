"""Short patient labels ("NOM Prénom") for lists that another capability shows (a monitoring worklist, its
enrolments), read under the actor's access; and the age and sex of the patients of a tele-expertise list.

Only the patients the actor may see now (``authz.accessible_patients``) get a name; the list that shows them is
audited by the service that built it (``authz.audit_list``), so this read adds no entry of its own.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.patient import repository as repo
from maillage.patient import views
from maillage.security.actor import Actor


def short_labels(session: Session, actor: Actor, patient_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """"NOM Prénom" (used name, else birth name, then the used given name, else the first given name) of each of
    these patients the actor may see now; the others are left out."""
    out = {}
    for pid, used, birth, used_given, given in repo.name_parts(session, authz.accessible_patients(actor), patient_ids):
        first = used_given or (given or "").split(" ")[0]
        out[pid] = f"{(used or birth or '').upper()} {first}".strip()
    return out


@dataclass(frozen=True)
class AgeAndSex:
    age: str  # "76 ans"
    sex: str  # "Féminin"


def age_and_sex_for_audited_request_rows(session: Session, patient_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID,
                                                                                                    AgeAndSex]:
    """The age and sex, and nothing that names or identifies them, of the patients of tele-expertise list rows that
    the tele-expertise service has already authorised and audited (``authz.audit_list``, with these patients' ids):
    what line staff who are parties to a request (its pool, ADR 0011) need to triage it, as the requester wrote it.

    Scope: only for such rows. Names go through ``short_labels`` (under the actor's access); one patient's record
    through the patient service (``authz.access_patient``). No entry of its own: the list's entry covers this read.
    """
    found = repo.patients_by_ids(session, patient_ids)
    return {pid: AgeAndSex(age=view.age_label, sex=view.sex_label)
            for pid, view in ((pid, views.PatientView(p)) for pid, p in found.items())}


@dataclass(frozen=True)
class PathwayFacts:
    birth_date: dt.date
    attending_professional_id: uuid.UUID | None  # the declared médecin traitant (a directory professional)


def pathway_facts_for_audited_acts(session: Session, patient_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID,
                                                                                              PathwayFacts]:
    """The birth date and the declared médecin traitant, and nothing that names or identifies them, of the patients
    of teleconsultation appointments or acts that the teleconsultation service has already authorised and audited:
    what the care-pathway flags (under 16, no médecin traitant), the yearly share (the médecin traitant's own
    patients) and the sending of a signed report (to the médecin traitant) need. No entry of its own."""
    found = repo.patients_by_ids(session, patient_ids)
    return {pid: PathwayFacts(birth_date=p.birth_date, attending_professional_id=p.attending_professional_id)
            for pid, p in found.items()}


def birth_dates_for_retention(session: Session, patient_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dt.date]:
    """The birth date, and nothing else, of patients whose documents the retention purge weighs (CSP R1112-7 keeps a
    record at least until the patient's 28th birthday). A system job with no actor; the purge audits each document
    it deletes, so this read adds no entry of its own."""
    return {pid: p.birth_date for pid, p in repo.patients_by_ids(session, patient_ids).items()}


def birth_dates_for_risk_scores(session: Session, patient_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dt.date]:
    """The birth date, and nothing else, of enrolled patients whose decompensation risk the worker recomputes (the
    model's age feature). A system job with no actor; the score it writes is shown only through the worklist,
    which audits every score it shows."""
    return {pid: p.birth_date for pid, p in repo.patients_by_ids(session, patient_ids).items()}
