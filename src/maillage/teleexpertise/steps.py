"""What every step of a tele-expertise request shares: the access gate (through ``authz.access_request``), the
permission and party checks, the timeline, the guarded status transition, the specialist's care relationship."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.authz.rules import RelationshipKind, RequestParties
from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import now
from maillage.kit.ids import as_uuid
from maillage.models.teleexpertise import (
    TeleexpertiseEvent,
    TeleexpertiseRequest,
)
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows
from maillage.security.purposes import Purpose
from maillage.teleexpertise import repository as repo
from maillage.teleexpertise import rules
from maillage.teleexpertise.rules import Action, Status

OBJECT_TYPE = repo.OWNER_TYPE
SOURCE_TYPE = repo.OWNER_TYPE
MIN_QUESTION_CHARS = 10
MIN_REASON_CHARS = 5
NOT_FOUND = "Demande de téléexpertise introuvable."


def need(actor: Actor, permission: Permission) -> None:
    if not role_allows(actor.role, permission):
        raise PermissionDenied()


def event(session: Session, req: TeleexpertiseRequest, actor: Actor | None, action: str, *,
          from_status: str | None = None, to_status: str | None = None, target: uuid.UUID | None = None,
          reason: str | None = None) -> None:
    repo.add(session, TeleexpertiseEvent(request_id=req.id, actor_id=actor.user_id if actor else None,
                                         action=action, from_status=from_status, to_status=to_status,
                                         target_user_id=target, reason=reason, at=now()))


def reason_text(reason: str | None, action: Action) -> str:
    text = " ".join((reason or "").split())
    if len(text) < MIN_REASON_CHARS:
        raise ValidationFailed(
            f"Indiquez un motif pour {action.label} ({MIN_REASON_CHARS} caractères au moins).",
            details=[{"field": "reason", "message": "Motif obligatoire."}])
    return text


def line_staff(session: Session, req: TeleexpertiseRequest) -> set[uuid.UUID]:
    return repo.line_user_ids(session, req.line_id)


def load(session: Session, actor: Actor, request_id: uuid.UUID | str, *, action: str,
         context: AuditContext | None) -> TeleexpertiseRequest:
    """The request if the actor is one of its parties (``authz.access_request``, audited), else NotFound (audited
    as denied after the rollback), the same answer as a request that does not exist."""
    req = repo.get(session, as_uuid(request_id))
    if req is None:
        raise NotFound(NOT_FOUND)
    authz.access_request(session, actor, parties(session, req), action=action, object_type=OBJECT_TYPE,
                         object_id=str(req.id), purpose=Purpose.TELEEXPERTISE, context=context, not_found=NOT_FOUND)
    return req


def parties(session: Session, req: TeleexpertiseRequest) -> RequestParties:
    """The request's parties as the access policy reads them (its line's staff looked up only when needed)."""
    return RequestParties(patient_id=req.patient_id, draft=req.status == Status.DRAFT, requester_id=req.requester_id,
                          assignee_id=req.assignee_id, named_expert_id=req.named_expert_id,
                          line_staff=lambda: line_staff(session, req))


def member_user(session: Session, req: TeleexpertiseRequest, professional_id: uuid.UUID) -> uuid.UUID:
    """The account of a professional answering the request's line, or a French error."""
    target = repo.line_member_account(session, req.line_id, professional_id)
    if target is None:
        raise ValidationFailed("Ce professionnel ne répond pas aux demandes de cette ligne.",
                               details=[{"field": "to_professional_id", "message": "Professionnel hors de la ligne."}])
    return target


def move(session: Session, req: TeleexpertiseRequest, action: Action, *, values: dict[str, Any] | None = None,
         check_assignee: bool = False, assignee: uuid.UUID | None = None) -> tuple[str, str]:
    """Apply ``action`` to the request with a conditional UPDATE; Conflict if someone acted first."""
    current = Status(req.status)
    target = rules.next_status(current, action)
    stamp = now()
    fields = {"status": target.value, "updated_at": stamp, **(values or {})}
    if target in rules.TERMINAL:
        fields["closed_at"] = stamp
    if not repo.transition(session, req, expect_status=current.value, check_assignee=check_assignee,
                           assignee=assignee, values=fields):
        raise Conflict("La demande vient d'être modifiée par quelqu'un d'autre : rechargez-la avant d'agir.")
    return current.value, target.value


def grant_expert(session: Session, req: TeleexpertiseRequest, user_id: uuid.UUID) -> None:
    authz.grant_relationship(session, user_id=user_id, patient_id=req.patient_id, kind=RelationshipKind.EXPERT,
                             source_type=SOURCE_TYPE, source_id=str(req.id))


def end_expert(session: Session, req: TeleexpertiseRequest, user_id: uuid.UUID | None) -> None:
    if user_id is not None:
        authz.end_relationships(session, source_type=SOURCE_TYPE, source_id=str(req.id), user_id=user_id)


def require_assignee(actor: Actor, req: TeleexpertiseRequest) -> None:
    need(actor, Permission.TELEEXPERTISE_ANSWER)
    if req.assignee_id != actor.user_id:
        raise PermissionDenied("Seul le spécialiste qui a pris la demande en charge peut faire cela.")


def require_requester(actor: Actor, req: TeleexpertiseRequest) -> None:
    need(actor, Permission.TELEEXPERTISE_REQUEST)
    if req.requester_id != actor.user_id:
        raise PermissionDenied("Seul le requérant de la demande peut faire cela.")


def pauses(session: Session, req: TeleexpertiseRequest) -> list[rules.Pause]:
    return [rules.Pause(m.created_at, m.answered_at) for m in repo.messages(session, req.id) if m.kind == "question"]
