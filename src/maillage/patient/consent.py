"""Consents and objections of a person, per purpose: recorded with who, when and how (rows are only added), read as
the latest choice per purpose across the records merged into one person; and the data-reuse objection rule that
analytics extracts apply (``objects_to_data_reuse``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, func, literal, select
from sqlalchemy.orm import Session, aliased

from maillage.authz import service as authz
from maillage.exceptions import NotFound, ValidationFailed
from maillage.kit.clock import now
from maillage.models.patient import Patient, PatientConsent
from maillage.patient import repository as repo
from maillage.patient.schemas import ConsentDecision, ConsentPurpose, ConsentSource
from maillage.patient.service import active_record
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.purposes import Purpose


@dataclass(frozen=True)
class ConsentStateView:
    purpose: ConsentPurpose
    decision: str | None
    recorded_at: dt.datetime | None

    @property
    def purpose_label(self) -> str:
        return self.purpose.label

    @property
    def label(self) -> str:
        if self.decision == ConsentDecision.OBJECTION:
            return "Opposition enregistrée"
        if self.decision == ConsentDecision.CONSENT:
            return "Consentement recueilli"
        return "Pas d'opposition" if self.purpose.opt_out else "Non recueilli"


def _root(session: Session, p: Patient) -> Patient:
    seen = {p.id}
    while p.merged_into_id is not None:
        parent = repo.patient(session, p.merged_into_id)
        if parent is None or parent.id in seen:
            break
        seen.add(parent.id)
        p = parent
    return p


def record_consent(session: Session, actor: Actor, patient_id: uuid.UUID, data: Any,
                   context: AuditContext | None = None) -> PatientConsent:
    """Record a consent or an objection, with who and when; earlier choices stay in the history."""
    grant = authz.access_patient(session, actor, patient_id, Purpose.CARE, action="update", object_type="consent",
                                 context=context)
    p = active_record(session, grant.patient_id)
    problems = []
    for field_name, value, enum_type in (("purpose", data.purpose, ConsentPurpose),
                                         ("decision", data.decision, ConsentDecision),
                                         ("source", data.source, ConsentSource)):
        try:
            enum_type(value)
        except ValueError:
            allowed = ", ".join(e.value for e in enum_type)
            problems.append({"field": field_name, "message": f"« {value} » n'est pas permis ({allowed})."})
    if problems:
        raise ValidationFailed(problems[0]["message"], details=problems)
    row = PatientConsent(patient_id=p.id, purpose=data.purpose, decision=data.decision, source=data.source,
                         recorded_by=actor.user_id, recorded_at=now())
    session.add(row)
    session.flush()
    return row


def consent_history(session: Session, actor: Actor, patient_id: uuid.UUID,
                    context: AuditContext | None = None) -> list[PatientConsent]:
    grant = authz.access_patient(session, actor, patient_id, Purpose.CARE, action="read", object_type="consent",
                                 context=context)
    p = repo.patient(session, grant.patient_id)
    if p is None:
        raise NotFound()
    return list(repo.consents_of(session, repo.group_ids(session, _root(session, p).id)))


def recorder_names(session: Session, history: Sequence[PatientConsent]) -> dict[uuid.UUID, str]:
    """Who recorded each choice of a history the caller has already been given (names of professionals)."""
    return repo.user_names(session, (row.recorded_by for row in history))


def consent_states(history: Sequence[PatientConsent]) -> list[ConsentStateView]:
    """The current choice per purpose from a history (newest first), for a record already accessed."""
    latest: dict[str, PatientConsent] = {}
    for row in history:
        latest.setdefault(row.purpose, row)
    return [ConsentStateView(purpose, latest[purpose.value].decision if purpose.value in latest else None,
                             latest[purpose.value].recorded_at if purpose.value in latest else None)
            for purpose in ConsentPurpose]


def objects_to_data_reuse(session: Session) -> set[uuid.UUID]:
    """Every patient record whose person objects to the reuse of their data for steering and research.

    A person is all the records merged together; their latest data-reuse choice, on whichever record, decides.
    Analytics extracts exclude these ids. This returns ids only (no patient data), so it needs no actor.
    """
    links = dict(repo.merge_links(session))

    def root(pid: uuid.UUID) -> uuid.UUID:
        seen = {pid}
        while pid in links and links[pid] not in seen:
            pid = links[pid]
            seen.add(pid)
        return pid

    objecting_records: set[uuid.UUID] = set(session.scalars(repo.latest_data_reuse_objections(session)))
    if not objecting_records:
        return set()
    latest_by_root: dict[uuid.UUID, tuple[dt.datetime, str]] = {}
    for row in repo.consents_of(session, list(objecting_records | set(links) | set(links.values()))):
        if row.purpose != ConsentPurpose.DATA_REUSE:
            continue
        r = root(row.patient_id)
        if r not in latest_by_root or row.recorded_at > latest_by_root[r][0]:
            latest_by_root[r] = (row.recorded_at, row.decision)
    objecting_roots = {r for r, (_, decision) in latest_by_root.items() if decision == ConsentDecision.OBJECTION}
    result = {pid for pid in objecting_records if root(pid) in objecting_roots}
    result |= objecting_roots
    result |= {pid for pid in links if root(pid) in objecting_roots}
    return result


def has_consent(session: Session, patient_id: uuid.UUID, purpose: ConsentPurpose) -> bool:
    """Whether the person's latest choice for this purpose is a consent (for a record already accessed by the
    caller: this returns a yes/no, never the history)."""
    p = repo.patient(session, patient_id)
    if p is None:
        return False
    history = repo.consents_of(session, repo.group_ids(session, _root(session, p).id))
    latest = next((row for row in history if row.purpose == purpose.value), None)
    return latest is not None and latest.decision == ConsentDecision.CONSENT


def records_select() -> Any:
    """Every recorded consent or objection as rows (id, patient_id, origin, purpose, decision, at, active), the latest
    per patient and purpose active: for the FHIR door's ``Consent``, which scopes and audits what it reads."""
    c = PatientConsent
    later = aliased(PatientConsent)
    newer = (select(func.count()).select_from(later)
             .where(later.patient_id == c.patient_id, later.purpose == c.purpose,
                    later.recorded_at > c.recorded_at).scalar_subquery())
    return select(c.id.label("id"), c.patient_id.label("patient_id"),
                  literal("patient_consent", String).label("origin"), c.purpose.label("purpose"),
                  c.decision.label("decision"), c.recorded_at.label("at"), (newer == 0).label("active"))
