"""Tele-expertise use cases: draft, submit, route, claim, assign, hand back, transfer, ask/reply, answer, decline.

Who sees a request: its requester, its assignee or named specialist, and the professionals of its line (answering
or on-call backup), who work the line's pool. Anyone else gets ``NotFound``, the answer for a missing request.
Every step is written to the request's timeline and to the audit trail; care relationships are granted to the
requester (on creation) and to the specialist who takes the request (claim, assignment, transfer).
Source: DOMAIN.md §2.3 (billing) and §4 (HAS tele-expertise workflow).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from maillage.audit.service import AuditContext, record
from maillage.auth.actor import Actor
from maillage.auth.rules import Role
from maillage.authz import service as authz
from maillage.authz.policy import Permission, role_allows
from maillage.authz.rules import Purpose, RelationshipKind
from maillage.config import Settings, get_settings
from maillage.directory.specialties import REQUIREMENT_LABELS, Requirement
from maillage.document import service as documents
from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import PARIS, now
from maillage.kit.http import after_rollback
from maillage.kit.logging import get_logger
from maillage.kit.templating import format_euros
from maillage.models.auth import UserAccount
from maillage.models.directory import SpecialtyLine
from maillage.models.document import Document
from maillage.models.teleexpertise import (
    TeleexpertiseAct,
    TeleexpertiseAdmission,
    TeleexpertiseEvent,
    TeleexpertiseMessage,
    TeleexpertiseRequest,
)
from maillage.patient import consent, views
from maillage.patient import service as patients
from maillage.patient.schemas import ConsentPurpose
from maillage.teleexpertise import notify, report, rules
from maillage.teleexpertise import repository as repo
from maillage.teleexpertise.rules import Action, AdmissionStatus, Orientation, Status
from maillage.teleexpertise.schemas import (
    AdmissionUpdate,
    MessageIn,
    OpinionIn,
    RequestCreate,
)

log = get_logger(__name__)

OBJECT_TYPE = repo.OWNER_TYPE
SOURCE_TYPE = repo.OWNER_TYPE
MIN_QUESTION_CHARS = 10
MIN_REASON_CHARS = 5


# --- Helpers ---------------------------------------------------------------------------------------------------


def _need(actor: Actor, permission: Permission) -> None:
    if not role_allows(actor.role, permission):
        raise PermissionDenied()


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound() from None


def _audit(session: Session, actor: Actor, req: TeleexpertiseRequest, action: str,
           context: AuditContext | None, **details: Any) -> None:
    record(session, action=action, object_type=OBJECT_TYPE, object_id=str(req.id), patient_id=str(req.patient_id),
           purpose=Purpose.TELEEXPERTISE.value, context=context, details=details or None, **actor.audit_fields)


def _event(session: Session, req: TeleexpertiseRequest, actor: Actor | None, action: str, *,
           from_status: str | None = None, to_status: str | None = None, target: uuid.UUID | None = None,
           reason: str | None = None) -> None:
    repo.add(session, TeleexpertiseEvent(request_id=req.id, actor_id=actor.user_id if actor else None,
                                         action=action, from_status=from_status, to_status=to_status,
                                         target_user_id=target, reason=reason, at=now()))


def _reason(reason: str | None, action: Action) -> str:
    text = " ".join((reason or "").split())
    if len(text) < MIN_REASON_CHARS:
        raise ValidationFailed(
            f"Indiquez un motif pour {rules.ACTION_LABELS[action]} ({MIN_REASON_CHARS} caractères au moins).",
            details=[{"field": "reason", "message": "Motif obligatoire."}])
    return text


def _line_staff(session: Session, req: TeleexpertiseRequest) -> set[uuid.UUID]:
    return repo.line_user_ids(session, req.line_id)


def _is_party(session: Session, actor: Actor, req: TeleexpertiseRequest) -> bool:
    if req.status == Status.DRAFT:
        return actor.user_id == req.requester_id  # a draft is its author's until it is sent
    if actor.user_id in (req.requester_id, req.assignee_id, req.named_expert_id):
        return True
    return actor.user_id in _line_staff(session, req)


def _load(session: Session, actor: Actor, request_id: uuid.UUID | str, *, action: str,
          context: AuditContext | None) -> TeleexpertiseRequest:
    """The request if the actor is one of its parties (audited), else NotFound (audited as denied)."""
    req = repo.get(session, _as_uuid(request_id))
    if req is None:
        raise NotFound("Demande de téléexpertise introuvable.")
    if not _is_party(session, actor, req):
        fields: dict[str, Any] = dict(action=action, object_type=OBJECT_TYPE, object_id=str(req.id),
                                      patient_id=str(req.patient_id), purpose=Purpose.TELEEXPERTISE.value,
                                      context=context, **actor.audit_fields)

        def audit_denied(s: Session) -> None:
            record(s, outcome="denied", **fields)

        after_rollback(session, audit_denied)
        raise NotFound("Demande de téléexpertise introuvable.")
    _audit(session, actor, req, action, context)
    return req


def _member_user(session: Session, req: TeleexpertiseRequest, professional_id: uuid.UUID) -> uuid.UUID:
    """The account of a professional answering the request's line, or a French error."""
    target = repo.line_member_account(session, req.line_id, professional_id)
    if target is None:
        raise ValidationFailed("Ce professionnel ne répond pas aux demandes de cette ligne.",
                               details=[{"field": "to_professional_id", "message": "Professionnel hors de la ligne."}])
    return target


def _move(session: Session, req: TeleexpertiseRequest, action: Action, *, values: dict[str, Any] | None = None,
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


def _grant_expert(session: Session, req: TeleexpertiseRequest, user_id: uuid.UUID) -> None:
    authz.grant_relationship(session, user_id=user_id, patient_id=req.patient_id, kind=RelationshipKind.EXPERT,
                             source_type=SOURCE_TYPE, source_id=str(req.id))


def _end_expert(session: Session, req: TeleexpertiseRequest, user_id: uuid.UUID | None) -> None:
    if user_id is not None:
        authz.end_relationships(session, source_type=SOURCE_TYPE, source_id=str(req.id), user_id=user_id)


def _require_assignee(actor: Actor, req: TeleexpertiseRequest) -> None:
    _need(actor, Permission.TELEEXPERTISE_ANSWER)
    if req.assignee_id != actor.user_id:
        raise PermissionDenied("Seul le spécialiste qui a pris la demande en charge peut faire cela.")


def _require_requester(actor: Actor, req: TeleexpertiseRequest) -> None:
    _need(actor, Permission.TELEEXPERTISE_REQUEST)
    if req.requester_id != actor.user_id:
        raise PermissionDenied("Seul le requérant de la demande peut faire cela.")


def _pauses(session: Session, req: TeleexpertiseRequest) -> list[rules.Pause]:
    return [rules.Pause(m.created_at, m.answered_at) for m in repo.messages(session, req.id) if m.kind == "question"]


# --- Draft and submission --------------------------------------------------------------------------------------


def create_request(session: Session, actor: Actor, data: RequestCreate,
                   context: AuditContext | None = None) -> TeleexpertiseRequest:
    """A draft request by a requester who already cares for the patient."""
    _need(actor, Permission.TELEEXPERTISE_REQUEST)
    line = repo.line(session, data.line_id)
    if line is None or not (line.active and line.published and line.teleexpertise):
        raise NotFound("Ligne de spécialité introuvable ou fermée à la téléexpertise.")
    if repo.commitment_minutes(session, line.id, data.urgency) is None:
        raise ValidationFailed(f"Cette ligne ne prend pas de demande « {data.urgency} ».",
                               details=[{"field": "urgency", "message": "Urgence non proposée par la ligne."}])
    # ``provided`` is stored in clear (codes, not text): anything but a known code is refused.
    unknown = sorted(set(data.provided) - {r.value for r in Requirement})
    if unknown:
        raise ValidationFailed("Élément joint déclaré inconnu.", details=[
            {"field": "provided", "message": f"Codes attendus : {', '.join(r.value for r in Requirement)}."}])
    request_id = uuid.uuid4()
    grant = authz.access_patient(session, actor, data.patient_id, Purpose.TELEEXPERTISE, action="create",
                                 object_type=OBJECT_TYPE, object_id=str(request_id),
                                 permission=Permission.TELEEXPERTISE_REQUEST, context=context)
    req = TeleexpertiseRequest(
        id=request_id, patient_id=grant.patient_id, line_id=line.id, requester_id=actor.user_id,
        requester_establishment_id=actor.current_establishment_id, status=Status.DRAFT.value, urgency=data.urgency,
        question=data.question.strip(), clinical_context=data.clinical_context.strip(),
        provided=sorted(set(data.provided)), patient_inpatient=data.patient_inpatient, created_at=now(),
        updated_at=now(),
    )
    if data.named_professional_id is not None:
        req.named_expert_id = _member_user(session, req, data.named_professional_id)
    repo.add(session, req)
    _event(session, req, actor, "create", to_status=Status.DRAFT.value, target=req.named_expert_id)
    # A draft is seen by no one but its author: it is no care act. Written under a bounded access (break the glass,
    # joining a known identity, or another unsent draft's relationship), it keeps the patient open no longer than
    # that access; sending it is what makes the relationship last (``submit``).
    authz.grant_relationship(session, user_id=actor.user_id, patient_id=req.patient_id,
                             kind=RelationshipKind.REQUESTER, source_type=SOURCE_TYPE, source_id=str(req.id),
                             ends_at=authz.access_ends_at(session, actor, grant.patient_id))
    log.info("teleexpertise.created", request_id=str(req.id), line_id=str(line.id))
    return req


def add_attachment(session: Session, actor: Actor, request_id: uuid.UUID | str, *, filename: str | None,
                   data: bytes, declared_type: str | None, title: str | None = None,
                   context: AuditContext | None = None, settings: Settings | None = None) -> Document:
    """Attach a file (photo, report) while the request is a draft or waits for the requester's reply."""
    req = _load(session, actor, request_id, action="update", context=context)
    _require_requester(actor, req)
    if req.status not in (Status.DRAFT, Status.AWAITING_INFORMATION):
        raise Conflict("On ne peut plus joindre de fichier à cette demande.")
    doc = documents.store_upload(session, actor, patient_id=req.patient_id, filename=filename, data=data,
                                 declared_type=declared_type, purpose=Purpose.TELEEXPERTISE, owner_type=OBJECT_TYPE,
                                 owner_id=str(req.id), context=context, title=title, settings=settings)
    _event(session, req, actor, "attach")
    return doc


def missing_for_submission(session: Session, req: TeleexpertiseRequest, line: SpecialtyLine, *,
                           consent_now: bool) -> list[dict[str, str]]:
    """What the line requires and the request lacks, in French, field by field."""
    problems: list[dict[str, str]] = []
    if len(req.question.strip()) < MIN_QUESTION_CHARS:
        problems.append({"field": "question",
                         "message": f"Posez votre question ({MIN_QUESTION_CHARS} caractères au moins)."})
    for code in line.requirements or []:
        if code == Requirement.PHOTO:
            photos = sum(1 for d in repo.attachments(session, req.id) if d.media_type.startswith("image/"))
            wanted = max(1, line.min_photos)
            if photos < wanted:
                problems.append({"field": "photos", "message": f"Cette ligne demande au moins {wanted} "
                                 f"photographie(s) ; {photos} jointe(s)."})
        elif code not in req.provided:
            try:
                label = REQUIREMENT_LABELS[Requirement(code)]
            except ValueError:
                label = code
            problems.append({"field": "provided", "message": f"Élément requis par la ligne : {label}."})
    if not consent_now and not consent.has_consent(session, req.patient_id, ConsentPurpose.TELEEXPERTISE):
        problems.append({"field": "consent", "message": "Le consentement du patient à la téléexpertise n'est pas "
                         "enregistré : recueillez-le et attestez-le."})
    return problems


def submit(session: Session, actor: Actor, request_id: uuid.UUID | str, *, consent_recorded_now: bool = False,
           context: AuditContext | None = None) -> TeleexpertiseRequest:
    """Send the draft to the line (its pool, or the named specialist) once it holds what the line requires."""
    req = _load(session, actor, request_id, action="submit", context=context)
    _require_requester(actor, req)
    if not authz.has_access(session, actor, req.patient_id):
        # A draft written under an exceptional access that has since ended: sending it now would reopen the record.
        # The refusal is audited like any access refused (access_patient records it after the rollback).
        authz.access_patient(session, actor, req.patient_id, Purpose.TELEEXPERTISE, action="submit",
                             object_type=OBJECT_TYPE, object_id=str(req.id),
                             permission=Permission.TELEEXPERTISE_REQUEST, context=context)
    line = repo.line(session, req.line_id)
    minutes = repo.commitment_minutes(session, req.line_id, req.urgency)
    if line is None or minutes is None or not line.active:
        raise Conflict("La ligne ne prend plus de demande de ce niveau d'urgence.")
    rules.next_status(Status(req.status), Action.SUBMIT)
    problems = missing_for_submission(session, req, line, consent_now=consent_recorded_now)
    if problems:
        raise ValidationFailed("La demande est incomplète.", details=problems)
    if consent_recorded_now and not consent.has_consent(session, req.patient_id, ConsentPurpose.TELEEXPERTISE):
        consent.record_consent(session, actor, req.patient_id,
                               SimpleNamespace(purpose="teleexpertise", decision="consent", source="oral"),
                               context=context)
    at = now()
    before, after = _move(session, req, Action.SUBMIT, values={
        "submitted_at": at, "committed_minutes": minutes,
        "due_at": rules.due_at_minutes(at, minutes, [], at)})
    _event(session, req, actor, "submit", from_status=before, to_status=after, target=req.named_expert_id)
    # The request now goes to the line: a care act, the requester's relationship lasts (a no-op when it already does).
    authz.grant_relationship(session, user_id=req.requester_id, patient_id=req.patient_id,
                             kind=RelationshipKind.REQUESTER, source_type=SOURCE_TYPE, source_id=str(req.id))
    pool = [req.named_expert_id] if req.named_expert_id else repo.line_user_ids(session, req.line_id, ("answering",))
    notify.notify(session, pool, req.id, "submitted")
    return req


# --- The specialist's side ---------------------------------------------------------------------------------------


def claim(session: Session, actor: Actor, request_id: uuid.UUID | str,
          context: AuditContext | None = None) -> TeleexpertiseRequest:
    """Take a request from the line's pool: of two concurrent claims exactly one wins, the other gets Conflict."""
    _need(actor, Permission.TELEEXPERTISE_ANSWER)
    req = _load(session, actor, request_id, action="claim", context=context)
    if actor.user_id not in _line_staff(session, req):
        raise PermissionDenied("Vous ne répondez pas aux demandes de cette ligne.")
    if req.named_expert_id is not None and req.named_expert_id != actor.user_id:
        raise PermissionDenied("Cette demande est adressée nommément à un confrère.")
    if req.status == Status.IN_PROGRESS and req.assignee_id is not None:
        raise Conflict("Cette demande est déjà prise en charge.")
    before, after = _move(session, req, Action.CLAIM, check_assignee=True, assignee=None,
                          values={"assignee_id": actor.user_id, "claimed_at": now()})
    _event(session, req, actor, "claim", from_status=before, to_status=after, target=actor.user_id)
    _grant_expert(session, req, actor.user_id)
    return req


def assign(session: Session, actor: Actor, request_id: uuid.UUID | str, to_professional_id: uuid.UUID,
           context: AuditContext | None = None) -> TeleexpertiseRequest:
    """A coordinator of the line gives the request to one of its specialists."""
    _need(actor, Permission.TELEEXPERTISE_COORDINATE)
    req = _load(session, actor, request_id, action="assign", context=context)
    if actor.user_id not in _line_staff(session, req):
        raise PermissionDenied("Vous ne coordonnez pas cette ligne.")
    target = _member_user(session, req, to_professional_id)
    previous = req.assignee_id
    before, after = _move(session, req, Action.ASSIGN, check_assignee=True, assignee=previous,
                          values={"assignee_id": target, "claimed_at": now(), "named_expert_id": None})
    _event(session, req, actor, "assign", from_status=before, to_status=after, target=target)
    if previous != target:
        _end_expert(session, req, previous)
    _grant_expert(session, req, target)
    return req


def hand_back(session: Session, actor: Actor, request_id: uuid.UUID | str, reason: str,
              context: AuditContext | None = None) -> TeleexpertiseRequest:
    req = _load(session, actor, request_id, action="hand_back", context=context)
    _require_assignee(actor, req)
    why = _reason(reason, Action.HAND_BACK)
    before, after = _move(session, req, Action.HAND_BACK, check_assignee=True, assignee=actor.user_id,
                          values={"assignee_id": None, "claimed_at": None, "named_expert_id": None})
    _event(session, req, actor, "hand_back", from_status=before, to_status=after, reason=why)
    _end_expert(session, req, actor.user_id)
    return req


def transfer(session: Session, actor: Actor, request_id: uuid.UUID | str, to_professional_id: uuid.UUID,
             reason: str, context: AuditContext | None = None) -> TeleexpertiseRequest:
    req = _load(session, actor, request_id, action="transfer", context=context)
    _require_assignee(actor, req)
    why = _reason(reason, Action.TRANSFER)
    target = _member_user(session, req, to_professional_id)
    if target == actor.user_id:
        raise ValidationFailed("Choisissez un autre spécialiste que vous-même.")
    before, after = _move(session, req, Action.TRANSFER, check_assignee=True, assignee=actor.user_id,
                          values={"assignee_id": target, "claimed_at": now()})
    _event(session, req, actor, "transfer", from_status=before, to_status=after, target=target, reason=why)
    _end_expert(session, req, actor.user_id)
    _grant_expert(session, req, target)
    return req


def ask(session: Session, actor: Actor, request_id: uuid.UUID | str, data: MessageIn,
        context: AuditContext | None = None) -> TeleexpertiseMessage:
    """Ask the requester for more: the due time stops until the reply."""
    req = _load(session, actor, request_id, action="ask", context=context)
    _require_assignee(actor, req)
    body = data.body.strip()
    if len(body) < MIN_REASON_CHARS:
        raise ValidationFailed("Rédigez votre question.", details=[{"field": "body", "message": "Question vide."}])
    before, after = _move(session, req, Action.ASK, check_assignee=True, assignee=actor.user_id)
    message = repo.add(session, TeleexpertiseMessage(request_id=req.id, author_id=actor.user_id, kind="question",
                                                     body=body, created_at=now()))
    _event(session, req, actor, "ask", from_status=before, to_status=after)
    notify.notify(session, [req.requester_id], req.id, "question")
    return message


def reply(session: Session, actor: Actor, request_id: uuid.UUID | str, data: MessageIn,
          context: AuditContext | None = None) -> TeleexpertiseMessage:
    """The requester answers the question: the due time resumes, pushed back by the pause."""
    req = _load(session, actor, request_id, action="reply", context=context)
    _require_requester(actor, req)
    body = data.body.strip()
    if len(body) < 2:
        raise ValidationFailed("Rédigez votre réponse.", details=[{"field": "body", "message": "Réponse vide."}])
    question = repo.open_question(session, req.id)
    at = now()
    if question is not None:
        question.answered_at = at
    message = repo.add(session, TeleexpertiseMessage(request_id=req.id, author_id=actor.user_id, kind="reply",
                                                     body=body, created_at=at))
    values: dict[str, Any] = {}
    if req.submitted_at is not None and req.committed_minutes:
        values["due_at"] = rules.due_at_minutes(req.submitted_at, req.committed_minutes, _pauses(session, req), at)
    before, after = _move(session, req, Action.REPLY, values=values)
    _event(session, req, actor, "reply", from_status=before, to_status=after)
    notify.notify(session, [req.assignee_id], req.id, "reply")
    return message


def answer(session: Session, actor: Actor, request_id: uuid.UUID | str, data: OpinionIn,
           context: AuditContext | None = None, settings: Settings | None = None) -> TeleexpertiseRequest:
    """Sign the opinion: a hospitalisation or transfer opens an admission request; the acts are recorded."""
    req = _load(session, actor, request_id, action="answer", context=context)
    _require_assignee(actor, req)
    try:
        orientation = Orientation(data.orientation)
    except ValueError:
        raise ValidationFailed("Orientation inconnue.",
                               details=[{"field": "orientation", "message": "Choisissez une orientation."}]) from None
    problems = rules.check_opinion(data.answer, orientation, data.act, data.delay_days)
    if problems:
        raise ValidationFailed("L'avis est incomplet.", details=problems)
    at = now()
    before, after = _move(session, req, Action.ANSWER, check_assignee=True, assignee=actor.user_id, values={
        "answer": data.answer.strip(), "orientation": orientation.value, "act": (data.act or "").strip() or None,
        "delay_days": data.delay_days, "signed_by": actor.user_id, "signed_at": at})
    _event(session, req, actor, "answer", from_status=before, to_status=after, reason=orientation.label)
    line = repo.line(session, req.line_id)
    if orientation.opens_admission and line is not None:
        repo.add(session, TeleexpertiseAdmission(request_id=req.id, patient_id=req.patient_id,
                                                 establishment_id=line.establishment_id,
                                                 orientation=orientation.value, status=AdmissionStatus.REQUESTED.value,
                                                 created_at=at, updated_at=at))
        _event(session, req, actor, "admission_requested", reason=orientation.label)
    record_acts(session, req, settings=settings)
    notify.notify(session, [req.requester_id], req.id, "answered")
    return req


def record_acts(session: Session, req: TeleexpertiseRequest, *,
                settings: Settings | None = None) -> list[TeleexpertiseAct]:
    """TE2 (specialist) and RQD (requester) at the act date, with the billing decision (idempotent)."""
    existing = repo.acts_of(session, req.id)
    if existing or req.signed_by is None or req.signed_at is None:
        return existing
    s = settings or get_settings()
    act_date = req.signed_at.astimezone(PARIS).date()
    expert = repo.user(session, req.signed_by)
    requester = repo.user(session, req.requester_id)
    if expert is None or requester is None:
        return []
    year_start, year_end = dt.date(act_date.year, 1, 1), dt.date(act_date.year, 12, 31)
    prior = repo.count_acts(session, patient_id=req.patient_id, professional_user_id=expert.id, code="TE2",
                            start=year_start, end=year_end)
    te2 = rules.te2_billing(prior_te2_same_year=prior, cap=s.teleexpertise_yearly_cap,
                            patient_inpatient=req.patient_inpatient, expert_profession=expert.role)
    rqd = rules.rqd_billing(patient_inpatient=req.patient_inpatient, requester_profession=requester.role)
    acts = []
    for code, who, decision in (("TE2", expert, te2), ("RQD", requester, rqd)):
        tariff = rules.tariff_for(code, act_date)
        acts.append(repo.add(session, TeleexpertiseAct(
            request_id=req.id, patient_id=req.patient_id, professional_user_id=who.id, professional_id=who.person_id,
            code=code, act_date=act_date, amount=tariff.amount, tariff_source=tariff.source,
            billable=decision.billable, reason=decision.reason, created_at=now())))
    return acts


def decline(session: Session, actor: Actor, request_id: uuid.UUID | str, reason: str,
            context: AuditContext | None = None) -> TeleexpertiseRequest:
    """The line declines (out of scope, vital emergency...): the requester sees the reason at once."""
    _need(actor, Permission.TELEEXPERTISE_ANSWER)
    req = _load(session, actor, request_id, action="decline", context=context)
    if actor.user_id not in _line_staff(session, req) and actor.user_id != req.assignee_id:
        raise PermissionDenied("Vous ne répondez pas aux demandes de cette ligne.")
    why = _reason(reason, Action.DECLINE)
    before, after = _move(session, req, Action.DECLINE, values={"closing_reason": why})
    _event(session, req, actor, "decline", from_status=before, to_status=after, reason=why)
    notify.notify(session, [req.requester_id], req.id, "declined")
    return req


def cancel(session: Session, actor: Actor, request_id: uuid.UUID | str, reason: str,
           context: AuditContext | None = None) -> TeleexpertiseRequest:
    req = _load(session, actor, request_id, action="cancel", context=context)
    _require_requester(actor, req)
    why = _reason(reason, Action.CANCEL)
    before, after = _move(session, req, Action.CANCEL, values={"closing_reason": why})
    _event(session, req, actor, "cancel", from_status=before, to_status=after, reason=why)
    return req


def update_admission(session: Session, actor: Actor, request_id: uuid.UUID | str, data: AdmissionUpdate,
                     context: AuditContext | None = None) -> TeleexpertiseAdmission:
    """The line's team follows the admission request: accepted (with a date), refused (with a reason), arrived."""
    _need(actor, Permission.TELEEXPERTISE_ANSWER)
    req = _load(session, actor, request_id, action="update", context=context)
    if actor.user_id not in _line_staff(session, req):
        raise PermissionDenied("Vous ne répondez pas aux demandes de cette ligne.")
    admission = repo.admission_of(session, req.id)
    if admission is None:
        raise NotFound("Aucune demande d'admission pour cette téléexpertise.")
    try:
        target = AdmissionStatus(data.status)
    except ValueError:
        raise ValidationFailed("Statut d'admission inconnu.") from None
    rules.next_admission_status(AdmissionStatus(admission.status), target)
    if target is AdmissionStatus.ACCEPTED and data.planned_at is None:
        raise ValidationFailed("Indiquez la date d'admission prévue.",
                               details=[{"field": "planned_at", "message": "Date obligatoire."}])
    if target in (AdmissionStatus.REFUSED, AdmissionStatus.CANCELLED):
        admission.reason = _reason(data.reason, Action.DECLINE)
    if data.planned_at is not None:
        admission.planned_at = data.planned_at
    admission.status = target.value
    admission.updated_at = now()
    session.flush()
    _event(session, req, actor, f"admission_{target.value}", reason=admission.reason)
    return admission


# --- Reading -----------------------------------------------------------------------------------------------------


@dataclass
class RequestDetail:
    request: TeleexpertiseRequest
    line: SpecialtyLine | None
    messages: list[TeleexpertiseMessage]
    events: list[TeleexpertiseEvent]
    attachments: list[Document]
    admission: TeleexpertiseAdmission | None
    acts: list[TeleexpertiseAct]
    users: dict[uuid.UUID, UserAccount] = field(default_factory=dict)


def get_request(session: Session, actor: Actor, request_id: uuid.UUID | str,
                context: AuditContext | None = None) -> RequestDetail:
    req = _load(session, actor, request_id, action="read", context=context)
    notify.mark_read(session, actor, req.id)
    events = repo.events(session, req.id)
    messages = repo.messages(session, req.id)
    ids = [req.requester_id, req.assignee_id, req.named_expert_id, req.signed_by]
    ids += [e.actor_id for e in events] + [e.target_user_id for e in events] + [m.author_id for m in messages]
    return RequestDetail(request=req, line=repo.line(session, req.line_id), messages=messages, events=events,
                         attachments=repo.attachments(session, req.id), admission=repo.admission_of(session, req.id),
                         acts=repo.acts_of(session, req.id), users=repo.users_by_ids(session, ids))


def is_overdue(req: TeleexpertiseRequest, at: dt.datetime | None = None) -> bool:
    return (req.status in (Status.PUBLISHED, Status.IN_PROGRESS) and req.due_at is not None
            and req.due_at < (at or now()))


def my_requests(session: Session, actor: Actor, *, limit: int, offset: int,
                context: AuditContext | None = None) -> list[TeleexpertiseRequest]:
    """The requester's own requests, most recently changed first (one audit entry for the list)."""
    _need(actor, Permission.TELEEXPERTISE_REQUEST)
    rows = repo.of_requester(session, actor.user_id, limit=limit, offset=offset)
    authz.audit_list(session, actor, object_type=OBJECT_TYPE, count=len(rows), purpose=Purpose.TELEEXPERTISE,
                     patient_ids=[r.patient_id for r in rows], context=context)
    return rows


def my_lines(session: Session, actor: Actor) -> list[SpecialtyLine]:
    _need(actor, Permission.TELEEXPERTISE_ANSWER)
    return repo.lines_of_user(session, actor.user_id)


def worklist(session: Session, actor: Actor, line_id: uuid.UUID | str, *, limit: int, offset: int,
             context: AuditContext | None = None) -> list[TeleexpertiseRequest]:
    """The open requests of a line the actor answers, by urgency then due time; another line is NotFound."""
    _need(actor, Permission.TELEEXPERTISE_ANSWER)
    lid = _as_uuid(line_id)
    if actor.user_id not in repo.line_user_ids(session, lid):
        raise NotFound("Ligne de spécialité introuvable.")
    rows = repo.worklist(session, lid, limit=limit, offset=offset)
    authz.audit_list(session, actor, object_type=OBJECT_TYPE, count=len(rows), purpose=Purpose.TELEEXPERTISE,
                     patient_ids=[r.patient_id for r in rows], context=context)
    return rows


def patient_name(session: Session, actor: Actor, req: TeleexpertiseRequest,
                 context: AuditContext | None = None) -> str | None:
    """The patient's display name for a party with a care relationship (requester, specialist), else None."""
    if actor.user_id not in (req.requester_id, req.assignee_id):
        return None
    try:
        return patients.get_patient(session, actor, req.patient_id, purpose=Purpose.TELEEXPERTISE,
                                    context=context).display_name
    except NotFound:
        return None


@dataclass(frozen=True)
class NewRequestOptions:
    patients: list[views.PatientView]
    lines: list[SpecialtyLine]


def new_request_options(session: Session, actor: Actor, context: AuditContext | None = None) -> NewRequestOptions:
    """What a requester may choose from: the patients they follow and the lines open to tele-expertise."""
    _need(actor, Permission.TELEEXPERTISE_REQUEST)
    return NewRequestOptions(patients=patients.my_patients(session, actor, context=context),
                             lines=repo.open_lines(session))


@dataclass(frozen=True)
class BoardRow:
    """Figures over the period: volume (requests submitted in the period and those still open), response times
    (submission to signature, nearest-rank median and 90th percentile, in hours), overdue and open now, orientations."""

    volume: int
    answered: int
    median_hours: float | None
    p90_hours: float | None
    overdue: int
    open: int
    orientations: dict[str, int]


@dataclass(frozen=True)
class EstablishmentBoard(BoardRow):
    """A requesting establishment's requests to a line (None: requesters attached to no establishment)."""

    establishment_id: uuid.UUID | None
    name: str


@dataclass(frozen=True)
class LineBoard(BoardRow):
    line: SpecialtyLine
    establishments: list[EstablishmentBoard] = field(default_factory=list)  # the busiest first


@dataclass(frozen=True)
class Coordination:
    days: int
    # Every line of the coordinator; only the ``detailed`` line carries its requesting establishments.
    lines: list[LineBoard]
    detailed: uuid.UUID | None
    # When the figures shown were computed (the oldest of the lines' snapshots); None without any line.
    computed_at: dt.datetime | None

    @property
    def computed_time(self) -> str:
        """The time of ``computed_at``, Paris time, as "HH:MM" (empty without it)."""
        return self.computed_at.astimezone(PARIS).strftime("%H:%M") if self.computed_at else ""


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


def _figures(f: repo.BoardFigures) -> dict[str, Any]:
    return {"volume": f.volume, "answered": f.answered, "median_hours": _hours(f.median_seconds),
            "p90_hours": _hours(f.p90_seconds), "overdue": f.overdue, "open": f.open,
            "orientations": {o.label: f.orientations[o.value] for o in Orientation if f.orientations.get(o.value)}}


UNKNOWN_ESTABLISHMENT = "Sans établissement de rattachement"
BOARD_DAYS = 90
# The worker recomputes the snapshot of every line this often (``tasks.refresh_board``); a page finding a line's
# snapshot missing or older than BOARD_STALE_AFTER (the worker stopped, a new line) recomputes that line itself.
BOARD_REFRESH_EVERY = dt.timedelta(minutes=5)
BOARD_STALE_AFTER = dt.timedelta(minutes=10)


def refresh_board(session: Session, line_ids: list[uuid.UUID] | None = None, *, days: int = BOARD_DAYS) -> int:
    """Recompute the board snapshot of these lines (every tele-expertise line by default) from the requests, now.
    Returns the number of lines recomputed. Counts and delays only: no patient data is read or written."""
    at = now()
    ids = repo.board_line_ids(session) if line_ids is None else line_ids
    repo.lock_board_snapshot(session)
    result = repo.board_figures(session, ids, at - dt.timedelta(days=days), at, WATCHED)
    repo.replace_board_snapshot(session, result, days, at)
    return len(ids)


def _stale_lines(rows: list[Row[Any]], line_ids: list[uuid.UUID],
                 at: dt.datetime) -> list[uuid.UUID]:
    fresh = {r.line_id for r in rows if r.whole_line and at - BOARD_STALE_AFTER <= r.computed_at <= at}
    return [line_id for line_id in line_ids if line_id not in fresh]


def _current_snapshot(session: Session, line_ids: list[uuid.UUID], days: int,
                      detailed: list[uuid.UUID]) -> list[Row[Any]]:
    """The snapshot rows of these lines (per establishment for the ``detailed`` ones), the missing or stale lines
    recomputed first (once, under the lock: a refresh that ran meanwhile is used as is)."""
    at = now()
    rows = repo.board_snapshot(session, line_ids, days, detailed)
    if not _stale_lines(rows, line_ids, at):
        return rows
    repo.lock_board_snapshot(session)
    stale = _stale_lines(repo.board_snapshot(session, line_ids, days, []), line_ids, at)
    if stale:
        refresh_board(session, stale, days=days)
    return repo.board_snapshot(session, line_ids, days, detailed)


def coordination(session: Session, actor: Actor, *, line_id: uuid.UUID | str | None = None,
                 days: int = BOARD_DAYS) -> Coordination:
    """The coordinator's board over the last ``days`` days plus the requests still open, for each line they belong to
    and, for one of them (``line_id``, by default the first), for each establishment that asked it (no patient data:
    counts and delays only). Read from the snapshot (one indexed query, a few dozen rows whatever the volume),
    recomputed here for the lines whose snapshot is missing or stale. A line the coordinator is not part of: 404."""
    _need(actor, Permission.TELEEXPERTISE_COORDINATE)
    lines = repo.lines_of_user(session, actor.user_id)
    detailed = _as_uuid(line_id) if line_id is not None else (lines[0].id if lines else None)
    if detailed is not None and detailed not in {ln.id for ln in lines}:
        raise NotFound("Ligne de spécialité introuvable.")
    rows = _current_snapshot(session, [ln.id for ln in lines], days, [detailed] if detailed else [])
    names = repo.establishment_names(session, [r.establishment_id for r in rows if not r.whole_line])
    per_line: dict[uuid.UUID, repo.BoardFigures] = {}
    per_establishment: dict[uuid.UUID, list[EstablishmentBoard]] = {}
    for r in rows:
        if r.whole_line:
            per_line[r.line_id] = repo.figures_of(r)
        else:
            name = names.get(r.establishment_id, UNKNOWN_ESTABLISHMENT) if r.establishment_id else UNKNOWN_ESTABLISHMENT
            per_establishment.setdefault(r.line_id, []).append(
                EstablishmentBoard(establishment_id=r.establishment_id, name=name, **_figures(repo.figures_of(r))))
    boards = []
    for line in lines:
        establishments = sorted(per_establishment.get(line.id, []), key=lambda b: (-b.volume, b.name))
        boards.append(LineBoard(line=line, establishments=establishments,
                                **_figures(per_line.get(line.id, repo.BoardFigures()))))
    computed = [r.computed_at for r in rows if r.whole_line]
    return Coordination(days=days, lines=boards, detailed=detailed, computed_at=min(computed) if computed else None)


def board(session: Session, actor: Actor, *, days: int = BOARD_DAYS) -> list[LineBoard]:
    """The per-line figures of the coordinator's board (the first line with its requesting establishments)."""
    return coordination(session, actor, days=days).lines


# --- Deadlines (worker) ------------------------------------------------------------------------------------------

WATCHED = (Status.PUBLISHED.value, Status.IN_PROGRESS.value)


def send_reminders(session: Session) -> int:
    """Remind whoever holds a request (its specialist, or the line's pool) when a quarter of the delay remains;
    each request is reminded once (a conditional UPDATE on ``reminder_sent_at``)."""
    at = now()
    sent = 0
    for req in repo.unreminded(session, WATCHED):
        if req.due_at is None or not req.committed_minutes or req.due_at <= at:
            continue
        if rules.reminder_at(req.due_at, max(1, req.committed_minutes // 60)) > at:
            continue
        if not repo.stamp_once(session, req.id, "reminder_sent_at", at):
            continue
        holders = ([req.assignee_id] if req.assignee_id else
                   [req.named_expert_id] if req.named_expert_id else
                   sorted(repo.line_user_ids(session, req.line_id, ("answering",))))
        notify.notify(session, holders, req.id, "reminder")
        _event(session, req, None, "reminder")
        sent += 1
    return sent


def escalate_overdue(session: Session) -> int:
    """When the due time passes, tell the line's coordinators and its on-call backup, once per request."""
    at = now()
    escalated = 0
    for req in repo.overdue_unescalated(session, WATCHED, at):
        if not repo.stamp_once(session, req.id, "escalated_at", at):
            continue
        backups = repo.line_user_ids(session, req.line_id, ("backup",))
        coordinators = {u.id for u in repo.users_by_ids(session, list(repo.line_user_ids(session, req.line_id,
                                                                                         ("answering",)))).values()
                        if role_allows(Role(u.role), Permission.TELEEXPERTISE_COORDINATE) and u.id != req.assignee_id}
        notify.notify(session, backups | coordinators, req.id, "escalation")
        _event(session, req, None, "escalation")
        escalated += 1
    return escalated


# --- Compte rendu ------------------------------------------------------------------------------------------------


def compte_rendu(session: Session, actor: Actor, request_id: uuid.UUID | str,
                 context: AuditContext | None = None) -> bytes:
    """The PDF compte rendu of a signed opinion, for the requester and the specialist (audited as an export)."""
    req = _load(session, actor, request_id, action="export", context=context)
    if actor.user_id not in (req.requester_id, req.signed_by, req.assignee_id):
        raise PermissionDenied("Le compte rendu est réservé au requérant et au spécialiste.")
    if req.status != Status.COMPLETED or req.signed_by is None:
        raise Conflict("Le compte rendu existe une fois l'avis rendu.")
    view = patients.get_patient(session, actor, req.patient_id, purpose=Purpose.TELEEXPERTISE, context=context)
    d = get_request(session, actor, req.id, context=context)

    def name(user_id: uuid.UUID | None) -> str:
        user = d.users.get(user_id) if user_id else None
        return user.display_name if user else "-"

    admission = None
    if d.admission is not None:
        admission = f"{Orientation(d.admission.orientation).label} - {AdmissionStatus(d.admission.status).label}"
    acts = [f"{a.code} — {format_euros(a.amount)} — {a.act_date.strftime('%d/%m/%Y')} — "
            f"{'facturable' if a.billable else 'non facturable : ' + a.reason}" for a in d.acts]
    return report.render_pdf(report.ReportData(
        patient=view.display_name, patient_birth_date=view.patient.birth_date,
        line=d.line.title if d.line else "-", requester=name(req.requester_id), expert=name(req.signed_by),
        submitted_at=req.submitted_at, signed_at=req.signed_at, urgency=req.urgency, question=req.question,
        clinical_context=req.clinical_context,
        exchanges=[("Question du spécialiste" if m.kind == "question" else "Réponse du requérant", m.created_at,
                    m.body) for m in d.messages],
        answer=req.answer or "", orientation=Orientation(req.orientation or "advice_only").label, act=req.act,
        delay_days=req.delay_days, admission=admission, acts=acts))


# --- Admission follow-up and assignment (pages) --------------------------------------------------------------------


@dataclass(frozen=True)
class AdmissionRow:
    admission: TeleexpertiseAdmission
    request: TeleexpertiseRequest


def _line_of_staff(session: Session, actor: Actor, line_id: uuid.UUID | str) -> uuid.UUID:
    lid = _as_uuid(line_id)
    if actor.user_id not in repo.line_user_ids(session, lid):
        raise NotFound("Ligne de spécialité introuvable.")
    return lid


def line_admissions(session: Session, actor: Actor, line_id: uuid.UUID | str, *, limit: int = 200,
                    context: AuditContext | None = None) -> list[AdmissionRow]:
    """The admission requests the line's opinions opened, for its team to follow (one audit entry for the list);
    another line is NotFound."""
    _need(actor, Permission.TELEEXPERTISE_ANSWER)
    lid = _line_of_staff(session, actor, line_id)
    rows = repo.admissions_of_line(session, lid, limit=limit)
    authz.audit_list(session, actor, object_type=OBJECT_TYPE, count=len(rows), purpose=Purpose.TELEEXPERTISE,
                     patient_ids=[r.patient_id for _, r in rows], context=context)
    return [AdmissionRow(admission=a, request=r) for a, r in rows]


@dataclass(frozen=True)
class Assignable:
    professional_id: uuid.UUID
    name: str


def assignable_specialists(session: Session, actor: Actor, line_id: uuid.UUID | str) -> list[Assignable]:
    """Whom a coordinator of the line may give a request to: its answering specialists with an active account."""
    _need(actor, Permission.TELEEXPERTISE_COORDINATE)
    lid = _line_of_staff(session, actor, line_id)
    return [Assignable(professional_id=pid, name=name) for pid, name in repo.line_members(session, lid)]
