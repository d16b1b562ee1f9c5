"""The life of a tele-expertise request: draft, attach, submit, claim, assign, hand back, transfer, ask/reply,
answer, decline, cancel, and the admission follow-up an opinion opens.

Each step loads the request through the access gate (``steps.load``), writes the request's timeline and the audit
trail, and grants or ends the care relationships it implies: the requester's on creation, the specialist's on
claim, assignment and transfer. Source: DOMAIN.md §4 (HAS tele-expertise workflow)."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.authz.rules import RelationshipKind
from maillage.config import Settings
from maillage.directory.specialties import Requirement
from maillage.document import service as documents
from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.kit import french
from maillage.kit.clock import now
from maillage.kit.logging import get_logger
from maillage.models.directory import SpecialtyLine
from maillage.models.document import Document
from maillage.models.teleexpertise import (
    TeleexpertiseAdmission,
    TeleexpertiseMessage,
    TeleexpertiseRequest,
)
from maillage.patient import consent
from maillage.patient.schemas import ConsentPurpose
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose
from maillage.teleexpertise import acts, notify, report, rules, steps
from maillage.teleexpertise import repository as repo
from maillage.teleexpertise.rules import Action, AdmissionStatus, Orientation, Status
from maillage.teleexpertise.schemas import (
    AdmissionUpdate,
    MessageIn,
    OpinionIn,
    RequestCreate,
)

log = get_logger(__name__)


# --- Draft and submission --------------------------------------------------------------------------------------


def create_request(session: Session, actor: Actor, data: RequestCreate, context: AuditContext | None = None, *,
                   request_id: uuid.UUID | None = None) -> TeleexpertiseRequest:
    """A draft request by a requester who already cares for the patient (``request_id``: a stable id, for the
    demo's deterministic activity; a new one otherwise)."""
    steps.need(actor, Permission.TELEEXPERTISE_REQUEST)
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
    request_id = request_id or uuid.uuid4()
    grant = authz.access_patient(session, actor, data.patient_id, Purpose.TELEEXPERTISE, action="create",
                                 object_type=steps.OBJECT_TYPE, object_id=str(request_id),
                                 permission=Permission.TELEEXPERTISE_REQUEST, context=context)
    req = TeleexpertiseRequest(
        id=request_id, patient_id=grant.patient_id, line_id=line.id, requester_id=actor.user_id,
        requester_establishment_id=actor.current_establishment_id, status=Status.DRAFT.value, urgency=data.urgency,
        question=data.question.strip(), clinical_context=data.clinical_context.strip(),
        provided=sorted(set(data.provided)), patient_inpatient=data.patient_inpatient, created_at=now(),
        updated_at=now(),
    )
    if data.named_professional_id is not None:
        req.named_expert_id = steps.member_user(session, req, data.named_professional_id)
    repo.add(session, req)
    steps.event(session, req, actor, "create", to_status=Status.DRAFT.value, target=req.named_expert_id)
    # A draft is seen by no one but its author: it is no care act. Written under a bounded access (break the glass,
    # joining a known identity, or another unsent draft's relationship), it keeps the patient open no longer than
    # that access; sending it is what makes the relationship last (``submit``).
    authz.grant_relationship(session, user_id=actor.user_id, patient_id=req.patient_id,
                             kind=RelationshipKind.REQUESTER, source_type=steps.SOURCE_TYPE, source_id=str(req.id),
                             ends_at=authz.access_ends_at(session, actor, grant.patient_id))
    log.info("teleexpertise.created", request_id=str(req.id), line_id=str(line.id))
    return req


def add_attachment(session: Session, actor: Actor, request_id: uuid.UUID | str, *, filename: str | None,
                   data: bytes, declared_type: str | None, title: str | None = None,
                   context: AuditContext | None = None, settings: Settings | None = None) -> Document:
    """Attach a file (photo, report) while the request is a draft or waits for the requester's reply."""
    req = steps.load(session, actor, request_id, action="update", context=context)
    steps.require_requester(actor, req)
    if req.status not in (Status.DRAFT, Status.AWAITING_INFORMATION):
        raise Conflict("On ne peut plus joindre de fichier à cette demande.")
    doc = documents.store_upload(session, actor, patient_id=req.patient_id, filename=filename, data=data,
                                 declared_type=declared_type, purpose=Purpose.TELEEXPERTISE,
                                 owner_type=steps.OBJECT_TYPE, owner_id=str(req.id), context=context, title=title,
                                 settings=settings)
    steps.event(session, req, actor, "attach")
    return doc


def missing_for_submission(session: Session, req: TeleexpertiseRequest, line: SpecialtyLine, *,
                           consent_now: bool) -> list[dict[str, str]]:
    """What the line requires and the request lacks, in French, field by field."""
    problems: list[dict[str, str]] = []
    if len(req.question.strip()) < steps.MIN_QUESTION_CHARS:
        problems.append({"field": "question",
                         "message": f"Posez votre question ({steps.MIN_QUESTION_CHARS} caractères au moins)."})
    for code in line.requirements or []:
        if code == Requirement.PHOTO:
            photos = sum(1 for d in repo.attachments(session, req.id) if d.media_type.startswith("image/"))
            wanted = max(1, line.min_photos)
            if photos < wanted:
                problems.append({"field": "photos", "message": f"Cette ligne demande au moins "
                                 f"{french.count(wanted, 'photographie')} ; "
                                 f"{french.count(photos, 'jointe')} à ce jour."})
        elif code not in req.provided:
            label = Requirement.label_of(code)
            problems.append({"field": "provided", "message": f"Élément requis par la ligne : {label}."})
    if not consent_now and not consent.has_consent(session, req.patient_id, ConsentPurpose.TELEEXPERTISE):
        problems.append({"field": "consent", "message": "Le consentement du patient à la téléexpertise n'est pas "
                         "enregistré : recueillez-le et attestez-le."})
    return problems


def submit(session: Session, actor: Actor, request_id: uuid.UUID | str, *, consent_recorded_now: bool = False,
           context: AuditContext | None = None) -> TeleexpertiseRequest:
    """Send the draft to the line (its pool, or the named specialist) once it holds what the line requires."""
    req = steps.load(session, actor, request_id, action="submit", context=context)
    steps.require_requester(actor, req)
    if not authz.has_access(session, actor, req.patient_id):
        # A draft written under an exceptional access that has since ended: sending it now would reopen the record.
        # The refusal is audited like any access refused (access_patient records it after the rollback).
        authz.access_patient(session, actor, req.patient_id, Purpose.TELEEXPERTISE, action="submit",
                             object_type=steps.OBJECT_TYPE, object_id=str(req.id),
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
    before, after = steps.move(session, req, Action.SUBMIT, values={
        "submitted_at": at, "committed_minutes": minutes,
        "due_at": rules.due_at_minutes(at, minutes, [], at)})
    steps.event(session, req, actor, "submit", from_status=before, to_status=after, target=req.named_expert_id)
    # The request now goes to the line: a care act, the requester's relationship lasts (a no-op when it already does).
    authz.grant_relationship(session, user_id=req.requester_id, patient_id=req.patient_id,
                             kind=RelationshipKind.REQUESTER, source_type=steps.SOURCE_TYPE, source_id=str(req.id))
    pool = [req.named_expert_id] if req.named_expert_id else repo.line_user_ids(session, req.line_id, ("answering",))
    notify.notify(session, pool, req.id, "submitted")
    return req


# --- The specialist's side ---------------------------------------------------------------------------------------


def claim(session: Session, actor: Actor, request_id: uuid.UUID | str,
          context: AuditContext | None = None) -> TeleexpertiseRequest:
    """Take a request from the line's pool: of two concurrent claims exactly one wins, the other gets Conflict."""
    steps.need(actor, Permission.TELEEXPERTISE_ANSWER)
    req = steps.load(session, actor, request_id, action="claim", context=context)
    if actor.user_id not in steps.line_staff(session, req):
        raise PermissionDenied("Vous ne répondez pas aux demandes de cette ligne.")
    if req.named_expert_id is not None and req.named_expert_id != actor.user_id:
        raise PermissionDenied("Cette demande est adressée nommément à un confrère.")
    if req.status == Status.IN_PROGRESS and req.assignee_id is not None:
        raise Conflict("Cette demande est déjà prise en charge.")
    before, after = steps.move(session, req, Action.CLAIM, check_assignee=True, assignee=None,
                          values={"assignee_id": actor.user_id, "claimed_at": now()})
    steps.event(session, req, actor, "claim", from_status=before, to_status=after, target=actor.user_id)
    steps.grant_expert(session, req, actor.user_id)
    return req


def assign(session: Session, actor: Actor, request_id: uuid.UUID | str, to_professional_id: uuid.UUID,
           context: AuditContext | None = None) -> TeleexpertiseRequest:
    """A coordinator of the line gives the request to one of its specialists."""
    steps.need(actor, Permission.TELEEXPERTISE_COORDINATE)
    req = steps.load(session, actor, request_id, action="assign", context=context)
    if actor.user_id not in steps.line_staff(session, req):
        raise PermissionDenied("Vous ne coordonnez pas cette ligne.")
    target = steps.member_user(session, req, to_professional_id)
    previous = req.assignee_id
    before, after = steps.move(session, req, Action.ASSIGN, check_assignee=True, assignee=previous,
                          values={"assignee_id": target, "claimed_at": now(), "named_expert_id": None})
    steps.event(session, req, actor, "assign", from_status=before, to_status=after, target=target)
    if previous != target:
        steps.end_expert(session, req, previous)
    steps.grant_expert(session, req, target)
    return req


def hand_back(session: Session, actor: Actor, request_id: uuid.UUID | str, reason: str,
              context: AuditContext | None = None) -> TeleexpertiseRequest:
    req = steps.load(session, actor, request_id, action="hand_back", context=context)
    steps.require_assignee(actor, req)
    why = steps.reason_text(reason, Action.HAND_BACK)
    before, after = steps.move(session, req, Action.HAND_BACK, check_assignee=True, assignee=actor.user_id,
                          values={"assignee_id": None, "claimed_at": None, "named_expert_id": None})
    steps.event(session, req, actor, "hand_back", from_status=before, to_status=after, reason=why)
    steps.end_expert(session, req, actor.user_id)
    return req


def transfer(session: Session, actor: Actor, request_id: uuid.UUID | str, to_professional_id: uuid.UUID,
             reason: str, context: AuditContext | None = None) -> TeleexpertiseRequest:
    req = steps.load(session, actor, request_id, action="transfer", context=context)
    steps.require_assignee(actor, req)
    why = steps.reason_text(reason, Action.TRANSFER)
    target = steps.member_user(session, req, to_professional_id)
    if target == actor.user_id:
        raise ValidationFailed("Choisissez un autre spécialiste que vous-même.")
    before, after = steps.move(session, req, Action.TRANSFER, check_assignee=True, assignee=actor.user_id,
                          values={"assignee_id": target, "claimed_at": now()})
    steps.event(session, req, actor, "transfer", from_status=before, to_status=after, target=target, reason=why)
    steps.end_expert(session, req, actor.user_id)
    steps.grant_expert(session, req, target)
    return req


def ask(session: Session, actor: Actor, request_id: uuid.UUID | str, data: MessageIn,
        context: AuditContext | None = None) -> TeleexpertiseMessage:
    """Ask the requester for more: the due time stops until the reply."""
    req = steps.load(session, actor, request_id, action="ask", context=context)
    steps.require_assignee(actor, req)
    body = data.body.strip()
    if len(body) < steps.MIN_REASON_CHARS:
        raise ValidationFailed("Rédigez votre question.", details=[{"field": "body", "message": "Question vide."}])
    before, after = steps.move(session, req, Action.ASK, check_assignee=True, assignee=actor.user_id)
    message = repo.add(session, TeleexpertiseMessage(request_id=req.id, author_id=actor.user_id, kind="question",
                                                     body=body, created_at=now()))
    steps.event(session, req, actor, "ask", from_status=before, to_status=after)
    notify.notify(session, [req.requester_id], req.id, "question")
    return message


def reply(session: Session, actor: Actor, request_id: uuid.UUID | str, data: MessageIn,
          context: AuditContext | None = None) -> TeleexpertiseMessage:
    """The requester answers the question: the due time resumes, pushed back by the pause."""
    req = steps.load(session, actor, request_id, action="reply", context=context)
    steps.require_requester(actor, req)
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
        values["due_at"] = rules.due_at_minutes(req.submitted_at, req.committed_minutes, steps.pauses(session, req), at)
    before, after = steps.move(session, req, Action.REPLY, values=values)
    steps.event(session, req, actor, "reply", from_status=before, to_status=after)
    notify.notify(session, [req.assignee_id], req.id, "reply")
    return message


def answer(session: Session, actor: Actor, request_id: uuid.UUID | str, data: OpinionIn,
           context: AuditContext | None = None, settings: Settings | None = None) -> TeleexpertiseRequest:
    """Sign the opinion: a hospitalisation or transfer opens an admission request; the acts are recorded."""
    req = steps.load(session, actor, request_id, action="answer", context=context)
    steps.require_assignee(actor, req)
    try:
        orientation = Orientation(data.orientation)
    except ValueError:
        raise ValidationFailed("Orientation inconnue.",
                               details=[{"field": "orientation", "message": "Choisissez une orientation."}]) from None
    problems = rules.check_opinion(data.answer, orientation, data.act, data.delay_days)
    if problems:
        raise ValidationFailed("L'avis est incomplet.", details=problems)
    at = now()
    before, after = steps.move(session, req, Action.ANSWER, check_assignee=True, assignee=actor.user_id, values={
        "answer": data.answer.strip(), "orientation": orientation.value, "act": (data.act or "").strip() or None,
        "delay_days": data.delay_days, "signed_by": actor.user_id, "signed_at": at})
    steps.event(session, req, actor, "answer", from_status=before, to_status=after, reason=orientation.label)
    line = repo.line(session, req.line_id)
    if orientation.opens_admission and line is not None:
        repo.add(session, TeleexpertiseAdmission(request_id=req.id, patient_id=req.patient_id,
                                                 establishment_id=line.establishment_id,
                                                 orientation=orientation.value, status=AdmissionStatus.REQUESTED.value,
                                                 created_at=at, updated_at=at))
        steps.event(session, req, actor, "admission_requested", reason=orientation.label)
    acts.record_acts(session, req, settings=settings)
    report.file_report(session, actor, req, context=context)
    notify.notify(session, [req.requester_id], req.id, "answered")
    return req


def decline(session: Session, actor: Actor, request_id: uuid.UUID | str, reason: str,
            context: AuditContext | None = None) -> TeleexpertiseRequest:
    """The line declines (out of scope, vital emergency...): the requester sees the reason at once."""
    steps.need(actor, Permission.TELEEXPERTISE_ANSWER)
    req = steps.load(session, actor, request_id, action="decline", context=context)
    if actor.user_id not in steps.line_staff(session, req) and actor.user_id != req.assignee_id:
        raise PermissionDenied("Vous ne répondez pas aux demandes de cette ligne.")
    why = steps.reason_text(reason, Action.DECLINE)
    before, after = steps.move(session, req, Action.DECLINE, values={"closing_reason": why})
    steps.event(session, req, actor, "decline", from_status=before, to_status=after, reason=why)
    notify.notify(session, [req.requester_id], req.id, "declined")
    return req


def cancel(session: Session, actor: Actor, request_id: uuid.UUID | str, reason: str,
           context: AuditContext | None = None) -> TeleexpertiseRequest:
    req = steps.load(session, actor, request_id, action="cancel", context=context)
    steps.require_requester(actor, req)
    why = steps.reason_text(reason, Action.CANCEL)
    before, after = steps.move(session, req, Action.CANCEL, values={"closing_reason": why})
    steps.event(session, req, actor, "cancel", from_status=before, to_status=after, reason=why)
    return req


def update_admission(session: Session, actor: Actor, request_id: uuid.UUID | str, data: AdmissionUpdate,
                     context: AuditContext | None = None) -> TeleexpertiseAdmission:
    """The line's team follows the admission request: accepted (with a date), refused (with a reason), arrived."""
    steps.need(actor, Permission.TELEEXPERTISE_ANSWER)
    req = steps.load(session, actor, request_id, action="update", context=context)
    if actor.user_id not in steps.line_staff(session, req):
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
        admission.reason = steps.reason_text(data.reason, Action.DECLINE)
    if data.planned_at is not None:
        admission.planned_at = data.planned_at
    admission.status = target.value
    admission.updated_at = now()
    session.flush()
    steps.event(session, req, actor, f"admission_{target.value}", reason=admission.reason)
    return admission
