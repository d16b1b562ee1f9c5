"""Use cases of secure messaging between professionals.

A thread is reached by its participants only: a person named in it, or a current member of a team mailbox named in
it. Anyone else gets ``NotFound`` — the answer for a thread that does not exist — and the refused attempt is
audited (``authz.record_refusal``). A thread about a patient also asks ``authz.access_patient`` on every read and
write (purpose: coordination), so every participant needs a care relationship with that patient: a person added to
such a thread is given a time-limited one for that thread (``rules.PARTICIPANT_ACCESS``), audited with who added
them and why; a team's members get theirs when the team is added (and a member who joins the team later, at their
first opening, within the same term); removal ends it.

Services flush, never commit; live updates leave after commit (``live.publish_on_commit``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.authz import service as authz
from maillage.authz.rules import RelationshipKind
from maillage.config import Settings, get_settings
from maillage.document import inspect as document_inspect
from maillage.document import rules as document_rules
from maillage.document import service as documents
from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import PARIS, now
from maillage.kit.db import new_id
from maillage.kit.ids import as_uuid
from maillage.messaging import live, rules
from maillage.messaging import repository as repo
from maillage.messaging.repository import Filters, Team
from maillage.messaging.rules import Change, TeamKind, ThreadKind
from maillage.models.auth import UserAccount
from maillage.models.document import Document
from maillage.models.messaging import (
    Message,
    MessageAttachment,
    MessageParticipant,
    MessageRead,
    MessageRevision,
    MessageThread,
)
from maillage.patient import labels as patient_labels
from maillage.patient import service as patients
from maillage.patient.views import PatientView
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows
from maillage.security.purposes import Purpose
from maillage.security.roles import Role
from maillage.vault import service as vault

OBJECT_TYPE = "message_thread"
ATTACHMENT_OBJECT = "message_attachment"
RELATIONSHIP_SOURCE = "message_thread"
PURPOSE = Purpose.COORDINATION
THREAD_MESSAGES = 200          # the last messages a thread's page shows
MESSAGING_ROLES = ("physician", "midwife", "nurse", "coordinating_nurse", "pharmacist")
SUBJECT_INDEX_LABEL = b"maillage.messaging.subject-terms.v1"


def _require(actor: Actor) -> None:
    if not role_allows(actor.role, Permission.PATIENT_READ):
        raise PermissionDenied()


def subject_key(settings: Settings | None = None) -> bytes:
    """The key of the subjects' search terms, derived from the application secret (kept outside the database)."""
    s = settings or get_settings()
    return hmac.new(s.secret_key.encode("utf-8"), SUBJECT_INDEX_LABEL, hashlib.sha256).digest()


def _topics(session: Session, thread_id: uuid.UUID) -> list[str]:
    out = []
    for p in repo.participants(session, thread_id):
        out.append(live.user_topic(p.user_id) if p.user_id else live.team_topic(p.team_id))
    return out


def _changed(session: Session, thread_id: uuid.UUID) -> None:
    live.publish_on_commit(session, _topics(session, thread_id), thread_id)


@dataclass(frozen=True)
class Access:
    """Proof that the actor takes part in the thread now, and through which participant row."""

    thread: MessageThread
    through: MessageParticipant
    teams: tuple[Team, ...]


def _reach(session: Session, actor: Actor, thread_id: uuid.UUID | str, *, action: str,
           context: AuditContext | None, object_type: str = OBJECT_TYPE, object_id: str | None = None) -> Access:
    """The thread if the actor takes part in it now (and, for a thread about a patient, may see that patient now:
    audited); ``NotFound`` otherwise, the refusal audited."""
    _require(actor)
    try:
        tid = as_uuid(thread_id)
    except (ValueError, TypeError):
        raise NotFound() from None
    thread = repo.get_thread(session, tid)
    teams = tuple(repo.teams_of(session, actor.user_id, actor.role.value))
    through = repo.membership(session, tid, actor.user_id, teams) if thread is not None else None
    if thread is None or through is None:
        authz.record_refusal(session, actor, action=action, object_type=object_type, object_id=object_id or str(tid),
                             patient_id=thread.patient_id if thread else None, purpose=PURPOSE, context=context)
        raise NotFound()
    if thread.patient_id is not None:
        if through.team_id is not None:
            _grant_late_member(session, actor, thread, through, context)
        # Taking part in a thread (reading, answering) is coordination: every clinical role may, the pharmacist
        # included; what writes to the record itself (filing into the documents) asks for more on its own path.
        authz.access_patient(session, actor, thread.patient_id, PURPOSE, action=action, object_type=object_type,
                             object_id=object_id or str(thread.id), permission=Permission.PATIENT_READ,
                             context=context)
    return Access(thread, through, teams)


def _grant_late_member(session: Session, actor: Actor, thread: MessageThread, team: MessageParticipant,
                       context: AuditContext | None) -> None:
    """A member who joined the team after it was added gets the team's relationship for this thread, until the
    team's term, audited as granted by the one who added the team."""
    assert thread.patient_id is not None
    at = now()
    if authz.has_access(session, actor, thread.patient_id):
        return
    if team.access_ends_at is None or team.access_ends_at <= at:
        return
    authz.grant_relationship(session, user_id=actor.user_id, patient_id=thread.patient_id,
                             kind=RelationshipKind.PARTICIPANT, source_type=RELATIONSHIP_SOURCE,
                             source_id=str(thread.id), starts_at=at, ends_at=team.access_ends_at)
    record(session, action="grant", object_type="care_relationship", object_id=str(thread.id),
           patient_id=str(thread.patient_id), purpose=PURPOSE.value, context=context,
           details={"source": RELATIONSHIP_SOURCE, "user_id": str(actor.user_id),
                    "added_by": str(team.added_by) if team.added_by else None, "through_team": str(team.team_id)},
           actor_id=str(actor.user_id), actor_role=actor.role.value,
           establishment_id=str(actor.current_establishment_id) if actor.current_establishment_id else None)


# --- Creating a thread and adding participants ------------------------------------------------------------------------


@dataclass(frozen=True)
class NewThread:
    subject: str
    body: str
    people: tuple[uuid.UUID, ...] = ()
    teams: tuple[Team, ...] = ()
    patient_id: uuid.UUID | None = None
    reason: str | None = None


def _check_person(session: Session, user_id: uuid.UUID) -> UserAccount:
    user = repo.users_by_ids(session, [user_id]).get(user_id)
    if user is None or user.status != "active" or user.role not in MESSAGING_ROLES:
        raise ValidationFailed("Ce destinataire n'est pas un professionnel joignable par la messagerie.",
                               details=[{"field": "participants", "message": "Destinataire inconnu."}])
    return user


def _grant(session: Session, actor: Actor, thread: MessageThread, user_id: uuid.UUID, reason: str,
           starts_at: dt.datetime, ends_at: dt.datetime | None, context: AuditContext | None) -> None:
    """Open the thread's patient to ``user_id`` for this thread, unless a care relationship already does."""
    assert thread.patient_id is not None
    other = Actor(user_id=user_id, username="", display_name="", role=actor.role)
    if authz.has_access(session, other, thread.patient_id):
        return
    authz.grant_relationship(session, user_id=user_id, patient_id=thread.patient_id,
                             kind=RelationshipKind.PARTICIPANT, source_type=RELATIONSHIP_SOURCE,
                             source_id=str(thread.id), starts_at=starts_at, ends_at=ends_at)
    record(session, action="grant", object_type="care_relationship", object_id=str(thread.id),
           patient_id=str(thread.patient_id), purpose=PURPOSE.value, reason=reason, context=context,
           details={"source": RELATIONSHIP_SOURCE, "user_id": str(user_id)}, **actor.audit_fields)


def _add_participant(session: Session, actor: Actor, thread: MessageThread, *, user_id: uuid.UUID | None = None,
                     team: Team | None = None, reason: str | None, context: AuditContext | None) -> MessageParticipant:
    at = now()
    ends = rules.participant_access_ends(at) if thread.patient_id else None
    p = MessageParticipant(thread_id=thread.id, user_id=user_id, team_kind=team[0].value if team else None,
                           team_id=team[1] if team else None, added_by=actor.user_id, added_at=at, reason=reason,
                           access_ends_at=ends, last_message_at=thread.last_message_at)
    repo.add(session, p)
    if thread.patient_id is not None and user_id != actor.user_id:
        assert reason is not None
        members = [user_id] if user_id else sorted(repo.team_members(session, team[0], team[1]) if team else [])
        for member in members:
            if member is not None and member != actor.user_id:
                _grant(session, actor, thread, member, reason, at, ends, context)
    record(session, action="add_participant", object_type=OBJECT_TYPE, object_id=str(thread.id),
           patient_id=str(thread.patient_id) if thread.patient_id else None, purpose=PURPOSE.value,
           reason=reason if thread.patient_id else None, context=context,
           details={"user_id": str(user_id) if user_id else None, "team_kind": team[0].value if team else None,
                    "team_id": str(team[1]) if team else None}, **actor.audit_fields)
    return p


def create_thread(session: Session, actor: Actor, data: NewThread, *, context: AuditContext | None = None,
                  settings: Settings | None = None) -> MessageThread:
    """Start a thread with its first message. About a patient: the author must follow that patient, and says why
    the others should see them (``reason``)."""
    _require(actor)
    subject = rules.clean_subject(data.subject)
    body = rules.clean_body(data.body)
    people = tuple(dict.fromkeys(p for p in data.people if p != actor.user_id))
    teams = tuple(dict.fromkeys(data.teams))
    rules.check_participants(len(people), len(teams))
    for person in people:
        _check_person(session, person)
    for kind, team_id in teams:
        if not repo.team_exists(session, kind, team_id):
            raise ValidationFailed("Cette équipe n'existe pas dans l'annuaire.",
                                   details=[{"field": "teams", "message": "Équipe inconnue."}])
    reason = rules.clean_reason(data.reason) if data.patient_id is not None else None
    thread_id = new_id()
    if data.patient_id is not None:
        authz.access_patient(session, actor, data.patient_id, PURPOSE, action="create", object_type=OBJECT_TYPE,
                             object_id=str(thread_id), permission=Permission.PATIENT_READ, context=context)
    at = now()
    thread = MessageThread(id=thread_id, kind=rules.thread_kind(len(people), len(teams)).value, subject=subject,
                           subject_terms=rules.subject_terms(subject_key(settings), subject),
                           patient_id=data.patient_id, created_by=actor.user_id, created_at=at, last_message_at=at,
                           last_seq=0)
    repo.add(session, thread)
    _add_participant(session, actor, thread, user_id=actor.user_id, reason=None, context=context)
    for person in people:
        _add_participant(session, actor, thread, user_id=person, reason=reason, context=context)
    for team in teams:
        _add_participant(session, actor, thread, team=team, reason=reason, context=context)
    _append(session, actor, thread, body, context)
    return thread


def add_participant(session: Session, actor: Actor, thread_id: uuid.UUID | str, *, user_id: uuid.UUID | None = None,
                    team: Team | None = None, reason: str | None = None,
                    context: AuditContext | None = None) -> MessageParticipant:
    access = _reach(session, actor, thread_id, action="add_participant", context=context)
    thread = access.thread
    if (user_id is None) == (team is None):
        raise ValidationFailed("Ajoutez un professionnel ou une équipe.")
    current = repo.participants(session, thread.id)
    if len(current) + 1 > rules.MAX_PARTICIPANTS:
        raise ValidationFailed(f"Une conversation réunit au plus {rules.MAX_PARTICIPANTS} participants.")
    if user_id is not None:
        _check_person(session, user_id)
        if any(p.user_id == user_id for p in current):
            raise Conflict("Ce professionnel participe déjà à la conversation.")
    if team is not None:
        if not repo.team_exists(session, team[0], team[1]):
            raise ValidationFailed("Cette équipe n'existe pas dans l'annuaire.")
        if any(p.team_id == team[1] and p.team_kind == team[0].value for p in current):
            raise Conflict("Cette équipe participe déjà à la conversation.")
    clean = rules.clean_reason(reason) if thread.patient_id is not None else None
    if thread.kind == ThreadKind.DIRECT.value:
        thread.kind = (ThreadKind.TEAM if team else ThreadKind.GROUP).value
    elif team is not None:
        thread.kind = ThreadKind.TEAM.value
    p = _add_participant(session, actor, thread, user_id=user_id, team=team, reason=clean, context=context)
    _changed(session, thread.id)
    return p


def remove_participant(session: Session, actor: Actor, thread_id: uuid.UUID | str, participant_id: uuid.UUID,
                       context: AuditContext | None = None) -> MessageParticipant:
    """End a participation (one's own, or one the actor added); the relationships it opened end with it."""
    access = _reach(session, actor, thread_id, action="remove_participant", context=context)
    thread = access.thread
    p = repo.get_participant(session, participant_id)
    if p is None or p.thread_id != thread.id or p.removed_at is not None:
        raise NotFound("Ce participant ne fait pas partie de la conversation.")
    if p.user_id != actor.user_id and p.added_by != actor.user_id:
        raise PermissionDenied("Seul le professionnel qui a ajouté ce participant, ou le participant lui-même, peut "
                               "le retirer.")
    remaining = [q for q in repo.participants(session, thread.id) if q.id != p.id]
    if not remaining:
        raise Conflict("Le dernier participant ne peut pas quitter la conversation.")
    p.removed_at = now()
    p.removed_by = actor.user_id
    session.flush()
    if thread.patient_id is not None:
        users = [p.user_id] if p.user_id else sorted(repo.team_members(session, TeamKind(p.team_kind or ""),
                                                                     p.team_id) if p.team_id else [])
        staying = {q.user_id for q in remaining if q.user_id}
        for u in users:
            if u is not None and u not in staying:
                authz.end_relationships(session, source_type=RELATIONSHIP_SOURCE, source_id=str(thread.id), user_id=u)
    record(session, action="remove_participant", object_type=OBJECT_TYPE, object_id=str(thread.id),
           patient_id=str(thread.patient_id) if thread.patient_id else None, purpose=PURPOSE.value, context=context,
           details={"participant_id": str(p.id)}, **actor.audit_fields)
    _changed(session, thread.id)
    live.publish_on_commit(session, [live.user_topic(p.user_id) if p.user_id else live.team_topic(p.team_id)],
                           thread.id)
    return p


# --- Messages ------------------------------------------------------------------------------------------------------


def _append(session: Session, actor: Actor, thread: MessageThread, body: str,
            context: AuditContext | None) -> Message:
    locked = repo.lock_thread(session, thread.id)
    assert locked is not None
    at = now()
    locked.last_seq += 1
    locked.last_message_at = at
    message = Message(thread_id=thread.id, seq=locked.last_seq, author_id=actor.user_id, body=body, created_at=at)
    repo.add(session, message)
    repo.touch_participants(session, thread.id, at)
    _mark_read(session, thread.id, actor.user_id, locked.last_seq)
    record(session, action="send", object_type="message", object_id=str(message.id),
           patient_id=str(thread.patient_id) if thread.patient_id else None, purpose=PURPOSE.value, context=context,
           details={"thread_id": str(thread.id), "seq": message.seq}, **actor.audit_fields)
    _changed(session, thread.id)
    return message


def post_message(session: Session, actor: Actor, thread_id: uuid.UUID | str, body: str,
                 context: AuditContext | None = None) -> Message:
    text = rules.clean_body(body)
    access = _reach(session, actor, thread_id, action="send", context=context)
    return _append(session, actor, access.thread, text, context)


def _own_message(session: Session, actor: Actor, message_id: uuid.UUID | str, action: str,
                 context: AuditContext | None) -> tuple[Access, Message]:
    try:
        mid = as_uuid(message_id)
    except (ValueError, TypeError):
        raise NotFound() from None
    message = repo.get_message(session, mid)
    if message is None:
        _require(actor)
        raise NotFound()
    access = _reach(session, actor, message.thread_id, action=action, context=context, object_type="message",
                    object_id=str(message.id))
    return access, message


def edit_message(session: Session, actor: Actor, message_id: uuid.UUID | str, body: str,
                 context: AuditContext | None = None) -> Message:
    """Correct one's message within the window; the earlier text is kept and shown as its history."""
    text = rules.clean_body(body)
    access, message = _own_message(session, actor, message_id, "edit", context)
    at = now()
    rules.check_change(Change.EDIT, author_id=message.author_id, actor_id=actor.user_id, sent_at=message.created_at,
                       withdrawn_at=message.withdrawn_at, at=at)
    if text == message.body:
        return message
    repo.add(session, MessageRevision(message_id=message.id, kind=Change.EDIT.value, body=message.body,
                                      replaced_at=at))
    message.body = text
    message.edited_at = at
    session.flush()
    _changed(session, access.thread.id)
    return message


def withdraw_message(session: Session, actor: Actor, message_id: uuid.UUID | str,
                     context: AuditContext | None = None) -> Message:
    """Withdraw one's message within the window: its text goes to the history, the thread shows it was withdrawn."""
    access, message = _own_message(session, actor, message_id, "withdraw", context)
    at = now()
    rules.check_change(Change.WITHDRAW, author_id=message.author_id, actor_id=actor.user_id,
                       sent_at=message.created_at, withdrawn_at=message.withdrawn_at, at=at)
    repo.add(session, MessageRevision(message_id=message.id, kind=Change.WITHDRAW.value, body=message.body,
                                      replaced_at=at))
    message.body = "Message retiré par son auteur."
    message.withdrawn_at = at
    session.flush()
    _changed(session, access.thread.id)
    return message


def _mark_read(session: Session, thread_id: uuid.UUID, user_id: uuid.UUID, seq: int) -> bool:
    mark = repo.read_mark(session, thread_id, user_id)
    if mark is None:
        repo.add(session, MessageRead(thread_id=thread_id, user_id=user_id, last_read_seq=seq, read_at=now()))
        return True
    if mark.last_read_seq >= seq:
        return False
    mark.last_read_seq = seq
    mark.read_at = now()
    session.flush()
    return True


# --- Attachments ---------------------------------------------------------------------------------------------------


def add_attachment(session: Session, actor: Actor, message_id: uuid.UUID | str, *, filename: str | None,
                   data: bytes, declared_type: str | None, context: AuditContext | None = None,
                   settings: Settings | None = None) -> MessageAttachment:
    """Join a file to one's own message, checked as every upload (name, size, type sniffed from the content against
    the name and the declared type, then the content itself) and stored encrypted. A refused file leaves nothing."""
    s = settings or get_settings()
    access, message = _own_message(session, actor, message_id, "attach", context)
    if message.author_id != actor.user_id:
        raise PermissionDenied("Seul l'auteur d'un message peut y joindre un fichier.")
    if message.withdrawn_at is not None:
        raise Conflict("Ce message a été retiré.")
    if repo.count_attachments(session, message.id) >= rules.MAX_ATTACHMENTS_PER_MESSAGE:
        raise document_rules.FileRefused(
            document_rules.Reason.TOO_MANY_DOCUMENTS,
            f"Un message porte au plus {rules.MAX_ATTACHMENTS_PER_MESSAGE} fichiers : envoyez les autres dans un "
            "nouveau message.", status_code=409)
    name = document_rules.check_filename(filename)
    shown = name or "document"
    document_rules.check_size(shown, len(data), s.document_max_bytes)
    kind = document_rules.sniff(data)
    if not kind.allowed:
        raise document_rules.refuse_kind(shown, kind, name, declared_type)
    document_rules.check_claims(shown, kind, name, declared_type)
    checked = document_inspect.check_content(kind, bytes(data), shown, max_pixels=s.document_max_image_pixels,
                                             max_pages=s.document_max_pdf_pages)
    attachment_id = new_id()
    with session.begin_nested():
        blob = vault.store_blob(session, object_type=ATTACHMENT_OBJECT, object_id=str(attachment_id),
                                data=checked.data, media_type=checked.media_type)
        attachment = MessageAttachment(
            id=attachment_id, message_id=message.id, thread_id=message.thread_id, blob_id=blob.id,
            display_name=document_rules.display_name(name, kind), media_type=checked.media_type,
            size_bytes=blob.size_bytes, sha256=blob.sha256, width=checked.width, height=checked.height,
            page_count=checked.page_count, created_at=now())
        repo.add(session, attachment)
    thread = access.thread
    record(session, action="attach", object_type=ATTACHMENT_OBJECT, object_id=str(attachment.id),
           patient_id=str(thread.patient_id) if thread.patient_id else None, purpose=PURPOSE.value, context=context,
           details={"message_id": str(message.id), "media_type": attachment.media_type}, **actor.audit_fields)
    _changed(session, thread.id)
    return attachment


def _attachment(session: Session, actor: Actor, attachment_id: uuid.UUID | str, action: str,
                context: AuditContext | None) -> tuple[Access, MessageAttachment]:
    try:
        aid = as_uuid(attachment_id)
    except (ValueError, TypeError):
        raise NotFound() from None
    attachment = repo.get_attachment(session, aid)
    if attachment is None:
        _require(actor)
        raise NotFound()
    access = _reach(session, actor, attachment.thread_id, action=action, context=context,
                    object_type=ATTACHMENT_OBJECT, object_id=str(attachment.id))
    return access, attachment


def read_attachment(session: Session, actor: Actor, attachment_id: uuid.UUID | str,
                    context: AuditContext | None = None) -> tuple[MessageAttachment, bytes]:
    _, attachment = _attachment(session, actor, attachment_id, "download", context)
    data = vault.read_blob(session, attachment.blob_id, object_type=ATTACHMENT_OBJECT, object_id=str(attachment.id))
    return attachment, data


def file_attachment(session: Session, actor: Actor, attachment_id: uuid.UUID | str, *,
                    context: AuditContext | None = None, settings: Settings | None = None) -> Document:
    """File a thread's attachment into its patient's documents, in one action (once: a second filing is 409)."""
    access, attachment = _attachment(session, actor, attachment_id, "file", context)
    thread = access.thread
    if thread.patient_id is None:
        raise Conflict("Cette conversation ne concerne pas un patient : la pièce jointe ne peut pas être classée "
                       "dans un dossier.")
    if attachment.filed_document_id is not None:
        raise Conflict("Cette pièce jointe est déjà classée dans les documents du patient.")
    data = vault.read_blob(session, attachment.blob_id, object_type=ATTACHMENT_OBJECT, object_id=str(attachment.id))
    document = documents.store_upload(
        session, actor, patient_id=thread.patient_id, filename=attachment.display_name, data=data,
        declared_type=attachment.media_type, purpose=Purpose.CARE, owner_type=documents.PATIENT_OWNER,
        owner_id=str(thread.patient_id), context=context, title=f"Reçu par messagerie : {thread.subject}"[:200],
        settings=settings, source=document_rules.Source.MESSAGE, origin=(ATTACHMENT_OBJECT, str(attachment.id)))
    attachment.filed_document_id = document.id
    attachment.filed_at = now()
    attachment.filed_by = actor.user_id
    session.flush()
    record(session, action="filed", object_type=ATTACHMENT_OBJECT, object_id=str(attachment.id),
           patient_id=str(thread.patient_id), purpose=PURPOSE.value, context=context,
           details={"document_id": str(document.id)}, **actor.audit_fields)
    _changed(session, thread.id)
    return document


# --- Reading -------------------------------------------------------------------------------------------------------


@dataclass
class ParticipantView:
    participant: MessageParticipant
    name: str
    is_team: bool


@dataclass
class MessageView:
    message: Message
    author: str
    mine: bool
    may_change: bool
    revisions: list[MessageRevision]
    attachments: list[MessageAttachment]
    read_by: list[str]


@dataclass
class ThreadView:
    thread: MessageThread
    patient: PatientView | None
    participants: list[ParticipantView]
    messages: list[MessageView]
    unread_before: int
    through_team: str | None = None
    people: dict[uuid.UUID, str] = field(default_factory=dict)


def _participant_views(session: Session, parts: Sequence[MessageParticipant]) -> list[ParticipantView]:
    users = repo.users_by_ids(session, [p.user_id for p in parts])
    titles = repo.team_titles(session, [(TeamKind(p.team_kind), p.team_id) for p in parts
                                        if p.team_kind and p.team_id])
    out = []
    for p in parts:
        if p.user_id:
            user = users.get(p.user_id)
            out.append(ParticipantView(p, user.display_name if user else "Compte supprimé", False))
        else:
            out.append(ParticipantView(p, titles.get(p.team_id, "Équipe") if p.team_id else "Équipe", True))
    return out


def first_message_id(session: Session, thread_id: uuid.UUID) -> uuid.UUID:
    """The first message of a thread just created (its attachment goes there)."""
    first = repo.first_message(session, thread_id)
    if first is None:
        raise NotFound()
    return first.id


def message_thread_id(session: Session, actor: Actor, message_id: uuid.UUID) -> uuid.UUID:
    """The thread of a message the actor may reach (for a page to go back to it); ``NotFound`` otherwise."""
    access, _ = _own_message(session, actor, message_id, "read", None)
    return access.thread.id


def attachment_thread_id(session: Session, actor: Actor, attachment_id: uuid.UUID) -> uuid.UUID:
    access, _ = _attachment(session, actor, attachment_id, "read", None)
    return access.thread.id


def participant_name(session: Session, participant: MessageParticipant) -> str:
    return _participant_views(session, [participant])[0].name


def open_thread(session: Session, actor: Actor, thread_id: uuid.UUID | str,
                context: AuditContext | None = None) -> ThreadView:
    """The thread as its page shows it (audited for a patient thread); the actor's read mark moves to its last
    message, which is their receipt for the others."""
    access = _reach(session, actor, thread_id, action="read", context=context)
    thread = access.thread
    mark = repo.read_mark(session, thread.id, actor.user_id)
    unread_before = rules.unread(thread.last_seq, mark.last_read_seq if mark else 0)
    if _mark_read(session, thread.id, actor.user_id, thread.last_seq) and unread_before:
        _changed(session, thread.id)
    rows = repo.messages(session, thread.id, limit=THREAD_MESSAGES)
    ids = [m.id for m in rows]
    revisions = repo.revisions(session, ids)
    files = repo.attachments(session, ids)
    marks = repo.reads(session, thread.id)
    users = repo.users_by_ids(session, [m.author_id for m in rows] + [r.user_id for r in marks])
    at = now()
    views = []
    for m in rows:
        readers = [users[r.user_id].display_name for r in marks
                   if r.user_id != m.author_id and r.last_read_seq >= m.seq and r.user_id in users]
        views.append(MessageView(
            message=m, author=users[m.author_id].display_name if m.author_id in users else "Compte supprimé",
            mine=m.author_id == actor.user_id,
            may_change=rules.may_change(author_id=m.author_id, actor_id=actor.user_id, sent_at=m.created_at,
                                        withdrawn_at=m.withdrawn_at, at=at),
            revisions=revisions.get(m.id, []), attachments=files.get(m.id, []), read_by=sorted(readers)))
    patient = None
    if thread.patient_id is not None:  # the banner: read through the patient service (audited as a patient read)
        patient = patients.get_patient(session, actor, thread.patient_id, purpose=PURPOSE, context=context)
    participants = _participant_views(session, repo.participants(session, thread.id))
    through = None
    if access.through.team_id is not None:
        through = next((p.name for p in participants if p.participant.id == access.through.id), None)
    return ThreadView(thread, patient, participants, views, unread_before, through)


@dataclass
class InboxRow:
    thread: MessageThread
    unread: int
    patient: str | None  # "NOM Prénom", for a patient the actor may see now
    participants: list[str]


@dataclass(frozen=True)
class Search:
    """What the inbox is searched by (all optional): part of a participant's name or team, a patient (one the
    actor follows), words of the subject (whole words, accents ignored), the days of activity."""

    participant: str | None = None
    patient_id: uuid.UUID | None = None
    subject: str | None = None
    since: object = None   # datetime.date
    until: object = None   # datetime.date, included


def _filters(search: Search | None, settings: Settings | None) -> Filters:
    if search is None:
        return Filters()
    terms: tuple[str, ...] = ()
    if search.subject and search.subject.strip():
        terms = tuple(rules.query_terms(subject_key(settings), search.subject))
        if not terms:
            raise ValidationFailed(f"Cherchez l'objet avec des mots d'au moins {rules.MIN_TERM_CHARS} lettres.",
                                   details=[{"field": "subject", "message": "Mots trop courts."}])
    since = until = None
    if isinstance(search.since, dt.date):
        since = dt.datetime.combine(search.since, dt.time(), PARIS)
    if isinstance(search.until, dt.date):
        until = dt.datetime.combine(search.until + dt.timedelta(days=1), dt.time(), PARIS)
    if since and until and since >= until:
        raise ValidationFailed("La date de début doit précéder la date de fin.",
                               details=[{"field": "since", "message": "Période inversée."}])
    participant = " ".join((search.participant or "").split())[:100] or None
    return Filters(patient_id=search.patient_id, participant=participant, subject_terms=terms, since=since,
                   until=until)


def inbox(session: Session, actor: Actor, *, limit: int = 50, offset: int = 0, search: Search | None = None,
          context: AuditContext | None = None, settings: Settings | None = None) -> list[InboxRow]:
    """A page of the actor's threads, most recent first, with their unread counts. A patient's name is shown only
    for a patient the actor may see now; the page is audited with those patients."""
    _require(actor)
    filters = _filters(search, settings)
    teams = repo.teams_of(session, actor.user_id, actor.role.value)
    rows = repo.thread_rows(session, actor.user_id, teams, limit=limit, offset=offset, filters=filters)
    patient_ids = sorted({r.thread.patient_id for r in rows if r.thread.patient_id}, key=str)
    labels = patient_labels.short_labels(session, actor, patient_ids)
    visible = sorted(labels, key=str)
    if patient_ids or (search and search.patient_id):
        authz.audit_list(session, actor, object_type=OBJECT_TYPE, count=len(rows), purpose=PURPOSE,
                         patient_ids=visible, context=context)
    parts = repo.participants_of(session, [r.thread.id for r in rows])
    named = _participant_views(session, [p for ps in parts.values() for p in ps])
    name_of = {v.participant.id: v.name for v in named}
    return [InboxRow(r.thread, rules.unread(r.thread.last_seq, r.last_read_seq),
                     labels.get(r.thread.patient_id) if r.thread.patient_id else None,
                     [name_of[p.id] for p in parts[r.thread.id] if p.user_id != actor.user_id])
            for r in rows]


def unread_count(session: Session, actor: Actor) -> int:
    """Unread messages of the actor's recent threads (the bell and the home page)."""
    if not role_allows(actor.role, Permission.PATIENT_READ):
        return 0
    return repo.unread_total(session, actor.user_id, repo.teams_of(session, actor.user_id, actor.role.value))


def stream_topics(session: Session, actor: Actor) -> list[str]:
    _require(actor)
    teams = repo.teams_of(session, actor.user_id, actor.role.value)
    return [live.user_topic(actor.user_id)] + [live.team_topic(team_id) for _, team_id in teams]


@dataclass
class NewThreadOptions:
    patients: list[PatientView]
    teams: list[tuple[TeamKind, uuid.UUID, str]]


PEOPLE_LIMIT = 12


def my_patients(session: Session, actor: Actor, context: AuditContext | None = None) -> list[PatientView]:
    """The patients the actor follows: the search's and the new message's patient picker."""
    _require(actor)
    return patients.my_patients(session, actor, context=context)


def new_thread_options(session: Session, actor: Actor, context: AuditContext | None = None) -> NewThreadOptions:
    _require(actor)
    return NewThreadOptions(patients=patients.my_patients(session, actor, context=context),
                            teams=repo.team_choices(session))


def _person_label(user: UserAccount) -> str:
    try:
        return f"{user.display_name} — {Role(user.role).label}"
    except ValueError:
        return user.display_name


def people_choices(session: Session, actor: Actor, query: str) -> list[tuple[str, str]]:
    """Professionals one may write to whose name holds every word typed (two letters at least), as (account id,
    "name — role") pairs: the new message's recipients picker. Names of professionals are directory data, not
    patient data."""
    _require(actor)
    words = query.split()[:5]
    if sum(len(w) for w in words) < 2:
        return []
    return [(str(u.id), _person_label(u)) for u in
            repo.search_professionals(session, MESSAGING_ROLES, actor.user_id, [w[:40] for w in words], PEOPLE_LIMIT)]


def people_named(session: Session, actor: Actor, ids: Sequence[uuid.UUID]) -> list[tuple[str, str]]:
    """The chosen recipients that one may write to, named: an unknown or disabled account is dropped."""
    _require(actor)
    return [(str(u.id), _person_label(u)) for u in
            repo.professionals_by_id(session, MESSAGING_ROLES, [i for i in ids if i != actor.user_id][:50])]
