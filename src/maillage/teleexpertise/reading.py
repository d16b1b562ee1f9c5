"""Reading tele-expertise: one request with its timeline, the requester's list, a line's worklist and admissions,
what a new request may choose from, whom a coordinator may assign. Lists are audited once per page
(``authz.audit_list``); one request through the access gate."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.exceptions import NotFound
from maillage.kit.clock import now
from maillage.kit.ids import as_uuid
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
from maillage.patient import labels as patient_labels
from maillage.patient import service as patients
from maillage.patient import views
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose
from maillage.teleexpertise import notify, steps
from maillage.teleexpertise import repository as repo
from maillage.teleexpertise.rules import Status


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
    req = steps.load(session, actor, request_id, action="read", context=context)
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
    steps.need(actor, Permission.TELEEXPERTISE_REQUEST)
    rows = repo.of_requester(session, actor.user_id, limit=limit, offset=offset)
    authz.audit_list(session, actor, object_type=steps.OBJECT_TYPE, count=len(rows), purpose=Purpose.TELEEXPERTISE,
                     patient_ids=[r.patient_id for r in rows], context=context)
    return rows


def my_lines(session: Session, actor: Actor) -> list[SpecialtyLine]:
    steps.need(actor, Permission.TELEEXPERTISE_ANSWER)
    return repo.lines_of_user(session, actor.user_id)


def worklist(session: Session, actor: Actor, line_id: uuid.UUID | str, *, limit: int, offset: int,
             context: AuditContext | None = None) -> list[TeleexpertiseRequest]:
    """The open requests of a line the actor answers, by urgency then due time; another line is NotFound."""
    steps.need(actor, Permission.TELEEXPERTISE_ANSWER)
    lid = as_uuid(line_id)
    if actor.user_id not in repo.line_user_ids(session, lid):
        raise NotFound("Ligne de spécialité introuvable.")
    rows = repo.worklist(session, lid, limit=limit, offset=offset)
    authz.audit_list(session, actor, object_type=steps.OBJECT_TYPE, count=len(rows), purpose=Purpose.TELEEXPERTISE,
                     patient_ids=[r.patient_id for r in rows], context=context)
    return rows


def patient_view(session: Session, actor: Actor, req: TeleexpertiseRequest,
                 context: AuditContext | None = None) -> views.PatientView | None:
    """The patient (for the banner) for a party with a care relationship (requester, specialist), else None."""
    if actor.user_id not in (req.requester_id, req.assignee_id):
        return None
    try:
        return patients.get_patient(session, actor, req.patient_id, purpose=Purpose.TELEEXPERTISE, context=context)
    except NotFound:
        return None


@dataclass(frozen=True)
class RowFacts:
    """What a list row says about a request besides its status: who, for whom, to which line."""

    line: str
    requester: str
    establishment: str | None
    patient: str | None  # "NOM Prénom" when the actor may see the patient now
    age: str
    sex: str


def list_facts(session: Session, actor: Actor, rows: list[TeleexpertiseRequest]) -> dict[uuid.UUID, RowFacts]:
    """Per request of a list the service already returned and audited (``my_requests``, ``worklist``): the line, the
    requester and their establishment, the patient's age and sex (what triage needs, read by
    ``patient.labels.age_and_sex_for_audited_request_rows`` for these audited rows), and the patient's name only
    where the actor may see the patient now (``patient.labels.short_labels``, under ``authz``)."""
    lines = {lid: repo.line(session, lid) for lid in {r.line_id for r in rows}}
    users = repo.users_by_ids(session, [r.requester_id for r in rows])
    places = repo.establishment_names(session, [r.requester_establishment_id for r in rows])
    people = patient_labels.age_and_sex_for_audited_request_rows(session, [r.patient_id for r in rows])
    names = patient_labels.short_labels(session, actor, people.keys())
    out = {}
    for r in rows:
        line, user, person = lines.get(r.line_id), users.get(r.requester_id), people.get(r.patient_id)
        out[r.id] = RowFacts(
            line=line.title if line else "—", requester=user.display_name if user else "—",
            establishment=places.get(r.requester_establishment_id) if r.requester_establishment_id else None,
            patient=names.get(r.patient_id), age=person.age if person else "—", sex=person.sex if person else "—")
    return out


@dataclass(frozen=True)
class NewRequestOptions:
    patients: list[views.PatientView]
    lines: list[SpecialtyLine]


def new_request_options(session: Session, actor: Actor, context: AuditContext | None = None) -> NewRequestOptions:
    """What a requester may choose from: the patients they follow and the lines open to tele-expertise."""
    steps.need(actor, Permission.TELEEXPERTISE_REQUEST)
    return NewRequestOptions(patients=patients.my_patients(session, actor, context=context),
                             lines=repo.open_lines(session))

# --- Admission follow-up and assignment (pages) --------------------------------------------------------------------


@dataclass(frozen=True)
class AdmissionRow:
    admission: TeleexpertiseAdmission
    request: TeleexpertiseRequest


def _line_of_staff(session: Session, actor: Actor, line_id: uuid.UUID | str) -> uuid.UUID:
    lid = as_uuid(line_id)
    if actor.user_id not in repo.line_user_ids(session, lid):
        raise NotFound("Ligne de spécialité introuvable.")
    return lid


def line_admissions(session: Session, actor: Actor, line_id: uuid.UUID | str, *, limit: int = 200,
                    context: AuditContext | None = None) -> list[AdmissionRow]:
    """The admission requests the line's opinions opened, for its team to follow (one audit entry for the list);
    another line is NotFound."""
    steps.need(actor, Permission.TELEEXPERTISE_ANSWER)
    lid = _line_of_staff(session, actor, line_id)
    rows = repo.admissions_of_line(session, lid, limit=limit)
    authz.audit_list(session, actor, object_type=steps.OBJECT_TYPE, count=len(rows), purpose=Purpose.TELEEXPERTISE,
                     patient_ids=[r.patient_id for _, r in rows], context=context)
    return [AdmissionRow(admission=a, request=r) for a, r in rows]


@dataclass(frozen=True)
class Assignable:
    professional_id: uuid.UUID
    name: str


def assignable_specialists(session: Session, actor: Actor, line_id: uuid.UUID | str) -> list[Assignable]:
    """Whom a coordinator of the line may give a request to: its answering specialists with an active account."""
    steps.need(actor, Permission.TELEEXPERTISE_COORDINATE)
    lid = _line_of_staff(session, actor, line_id)
    return [Assignable(professional_id=pid, name=name) for pid, name in repo.line_members(session, lid)]
