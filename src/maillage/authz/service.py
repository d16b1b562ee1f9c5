"""The only way to reach patient data: access functions bound to an actor, audited in the same transaction.

An actor sees a patient's data only through a current care relationship (requester, expert, care
team, participant, prescriber, dispenser, care unit, attending physician) or a live break-the-glass
access. Anything else is ``NotFound`` — the same answer as a patient that does not exist — and the
refused attempt is audited in its own transaction after the request's rollback.
A role that may never do the action gets ``PermissionDenied`` (403): it can know the function exists.
A request between professionals (tele-expertise) is reached by its parties only (``access_request``), under the
same answers. Every refused attempt is audited through ``record_refusal``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.authz import repository as repo
from maillage.authz.rules import (
    BreakGlassGround,
    RelationshipKind,
    RequestParties,
    break_glass_reason_problems,
    is_request_party,
)
from maillage.config import Settings, get_settings
from maillage.exceptions import NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import now
from maillage.kit.http import after_rollback
from maillage.kit.ids import as_uuid
from maillage.models.authz import BreakGlassAccess, CareRelationship
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows
from maillage.security.purposes import Purpose


@dataclass(frozen=True)
class AccessGrant:
    """Proof that the actor may touch this patient's data now, and on what ground."""

    actor: Actor
    patient_id: uuid.UUID
    purpose: Purpose
    break_glass: BreakGlassAccess | None = None


def record_refusal(
    session: Session,
    actor: Actor,
    *,
    action: str,
    object_type: str,
    purpose: Purpose | str,
    object_id: str | None = None,
    patient_id: uuid.UUID | str | None = None,
    context: AuditContext | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit a refused attempt (outcome ``denied``) so that it survives the refusal: the entry is written in its own
    transaction after the request's rollback (``kit.http.after_rollback``), since the caller raises next. The one way
    a capability records a refusal; the answer it then raises (404, 403) is its own."""
    fields: dict[str, Any] = dict(
        action=action, object_type=object_type, object_id=object_id,
        patient_id=str(patient_id) if patient_id is not None else None, purpose=Purpose(purpose).value,
        context=context, details=details, **actor.audit_fields,
    )

    def audit_denied(s: Session) -> None:
        record(s, outcome="denied", **fields)

    after_rollback(session, audit_denied)


def access_patient(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID | str,
    purpose: Purpose | str,
    *,
    action: str = "read",
    object_type: str = "patient",
    object_id: str | None = None,
    permission: Permission | None = None,
    context: AuditContext | None = None,
) -> AccessGrant:
    """Check that ``actor`` may ``action`` this patient's data now, and audit it in the caller's transaction."""
    reading = action in ("read", "search", "export")
    needed = permission or (Permission.PATIENT_READ if reading else Permission.PATIENT_WRITE)
    if not role_allows(actor.role, needed):
        raise PermissionDenied()
    pid = as_uuid(patient_id)
    purpose = Purpose(purpose)
    at = now()
    glass: BreakGlassAccess | None = None
    allowed = repo.has_current_relationship(session, actor.user_id, pid, at)
    if not allowed:
        glass = repo.active_break_glass(session, actor.user_id, pid, at)
        allowed = glass is not None
    if not allowed and purpose is Purpose.IDENTITY_VIGILANCE and role_allows(actor.role, Permission.IDENTITY_MERGE):
        # The identity officer reaches any identity for identity vigilance (duplicates, merges), audited as such.
        allowed = True
    if not allowed:
        record_refusal(session, actor, action=action, object_type=object_type, object_id=object_id or str(pid),
                       patient_id=pid, purpose=purpose, context=context)
        raise NotFound()
    record(session, action=action, object_type=object_type, object_id=object_id or str(pid), patient_id=str(pid),
           purpose=(Purpose.EMERGENCY if glass else purpose).value, context=context, outcome="success",
           break_glass=glass is not None, reason=glass.reason if glass else None, **actor.audit_fields)
    return AccessGrant(actor, pid, purpose, glass)


def access_request(
    session: Session,
    actor: Actor,
    parties: RequestParties,
    *,
    action: str,
    object_type: str,
    object_id: str,
    purpose: Purpose | str,
    context: AuditContext | None = None,
    not_found: str | None = None,
) -> None:
    """Check that ``actor`` is a party to this request (``rules.is_request_party``) and audit the access in the
    caller's transaction. Anyone else gets ``NotFound`` (``not_found`` as its message), the answer for a request that
    does not exist, and the refused attempt is audited after the rollback.

    Being a party opens the request, not the patient's record: what the request shows of the patient (a name, a
    report) still goes through ``access_patient``, which asks for a care relationship.
    """
    if not is_request_party(actor.user_id, parties):
        record_refusal(session, actor, action=action, object_type=object_type, object_id=object_id,
                       patient_id=parties.patient_id, purpose=purpose, context=context)
        raise NotFound(not_found) if not_found else NotFound()
    record(session, action=action, object_type=object_type, object_id=object_id, patient_id=str(parties.patient_id),
           purpose=Purpose(purpose).value, context=context, **actor.audit_fields)


def has_access(session: Session, actor: Actor, patient_id: uuid.UUID) -> bool:
    """Whether the actor may see this patient now (relationship or live break-the-glass), without auditing:
    to decide what a refusal may say or whether an act may start, never to return patient data."""
    at = now()
    return (repo.has_current_relationship(session, actor.user_id, patient_id, at)
            or repo.active_break_glass(session, actor.user_id, patient_id, at) is not None)


def access_ends_at(session: Session, actor: Actor, patient_id: uuid.UUID) -> dt.datetime | None:
    """When the actor's current access to this patient ends: None while a lasting care relationship holds it,
    else the latest end of their bounded relationships and live break-the-glass accesses (now when there is none).
    A relationship granted on the strength of a bounded access must not outlive it."""
    at = now()
    lasting, ends = repo.current_access_ends(session, actor.user_id, patient_id, at)
    if lasting:
        return None
    return max(ends, default=at)


def cared_for(session: Session, actor: Actor, patient_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Those of ``patient_ids`` the actor cares for now through a relationship, not through an exceptional access:
    what may found a lasting commitment (an enrolment that grants the care team relationships)."""
    return repo.cared_for_ids(session, actor.user_id, patient_ids, now())


def accessible_patients(actor: Actor, at: dt.datetime | None = None) -> Select[tuple[uuid.UUID]]:
    """Subquery of patient ids the actor may see now, for scoping lists and searches in repositories."""
    return repo.accessible_patient_ids(actor.user_id, at or now())


def audit_list(session: Session, actor: Actor, *, object_type: str, count: int, purpose: Purpose | str,
               patient_ids: Iterable[uuid.UUID | str], context: AuditContext | None = None) -> None:
    """Audit a search or list over patient data: one entry per page of results, with the count of rows and the
    patients it showed (``patient_ids``, every patient whose name or data the page shows), so "who saw this
    patient" finds the list read."""
    record(session, action="search", object_type=object_type, purpose=Purpose(purpose).value, context=context,
           details={"count": count}, list_patients=patient_ids, **actor.audit_fields)


def grant_relationship(
    session: Session,
    *,
    user_id: uuid.UUID,
    patient_id: uuid.UUID,
    kind: RelationshipKind | str,
    source_type: str | None = None,
    source_id: str | None = None,
    starts_at: dt.datetime | None = None,
    ends_at: dt.datetime | None = None,
) -> CareRelationship:
    """Record that ``user_id`` cares for ``patient_id`` (idempotent for the same source)."""
    kind = RelationshipKind(kind)
    existing = repo.find_relationship(session, user_id=user_id, patient_id=patient_id, kind=kind.value,
                                      source_type=source_type, source_id=source_id)
    if existing is not None:
        if ends_at is not None:
            existing.ends_at = ends_at
        session.flush()
        return existing
    start = starts_at or now()
    if ends_at is not None and ends_at <= start:
        raise ValidationFailed("La fin de la relation de soins doit suivre son début.")
    rel = CareRelationship(user_id=user_id, patient_id=patient_id, kind=kind.value, source_type=source_type,
                           source_id=source_id, starts_at=start, ends_at=ends_at)
    session.add(rel)
    session.flush()
    return rel


def end_relationships(session: Session, *, source_type: str, source_id: str,
                      user_id: uuid.UUID | None = None) -> int:
    count = repo.end_relationships(session, source_type=source_type, source_id=source_id, at=now(), user_id=user_id)
    session.flush()
    return count


def break_glass(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID | str,
    reason: str,
    *,
    context: AuditContext | None = None,
    settings: Settings | None = None,
    ground: BreakGlassGround | str = BreakGlassGround.EMERGENCY,
) -> BreakGlassAccess:
    """Access without a care relationship: mandatory reason, time-limited, flagged for review.

    ``ground`` says why: an emergency, or joining an identity already in the GHT without a care act
    (``maillage.patient.service.attach_to_patient``; audited as ``attach``). A patient id that does not exist is
    ``NotFound`` and nothing is recorded: an access is only ever opened on a real record.
    """
    s = settings or get_settings()
    ground = BreakGlassGround(ground)
    if not role_allows(actor.role, Permission.BREAK_GLASS):
        raise PermissionDenied("Votre rôle ne permet pas l'accès d'urgence.")
    problems = break_glass_reason_problems(reason, s.break_glass_min_reason_chars)
    if problems:
        raise ValidationFailed("Motif insuffisant.", details=[{"field": "reason", "message": m} for m in problems])
    pid = as_uuid(patient_id)
    if not repo.patient_exists(session, pid):
        raise NotFound()
    at = now()
    access = BreakGlassAccess(user_id=actor.user_id, patient_id=pid, reason=" ".join(reason.split()),
                              ground=ground.value, starts_at=at,
                              expires_at=at + dt.timedelta(minutes=s.break_glass_minutes))
    session.add(access)
    session.flush()
    action = "attach" if ground is BreakGlassGround.IDENTITY_ATTACH else "break_glass"
    record(session, action=action, object_type="patient", object_id=str(pid), patient_id=str(pid),
           purpose=Purpose.EMERGENCY.value, break_glass=True, reason=access.reason, context=context,
           details={"minutes": s.break_glass_minutes, "ground": ground.value}, **actor.audit_fields)
    return access


def review_break_glass(session: Session, actor: Actor, access_id: uuid.UUID, comment: str,
                       context: AuditContext | None = None) -> BreakGlassAccess:
    if not role_allows(actor.role, Permission.AUDIT_READ):
        raise PermissionDenied()
    access = session.get(BreakGlassAccess, access_id)
    if access is None:
        raise NotFound("Accès d'urgence introuvable.")
    if access.reviewed_at is None:
        access.reviewed_at = now()
        access.reviewed_by = actor.user_id
        access.review_comment = comment.strip()[:2000] or None
        record(session, action="review", object_type="break_glass", object_id=str(access.id),
               patient_id=str(access.patient_id), purpose=Purpose.EMERGENCY.value, context=context,
               **actor.audit_fields)
    session.flush()
    return access


def break_glass_to_review(session: Session, actor: Actor) -> list[BreakGlassAccess]:
    if not role_allows(actor.role, Permission.AUDIT_READ):
        raise PermissionDenied()
    return list(repo.break_glass_to_review(session))


def teammates(user_id: uuid.UUID) -> Select[tuple[uuid.UUID]]:
    """The accounts sharing a team (a specialty line, a care unit) with ``user_id``, as a subquery: who may see a
    document its author restricted to their team (``maillage.document``)."""
    return repo.teammates(user_id)


def shares_team(session: Session, user_id: uuid.UUID, other_id: uuid.UUID) -> bool:
    return user_id == other_id or other_id in set(session.scalars(repo.teammates(user_id)))
