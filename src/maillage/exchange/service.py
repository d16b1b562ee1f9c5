"""Use cases of the MSSanté exchange.

**Out.** ``send_document`` and ``send_teleexpertise_report`` read the document through its own service (scoped and
audited there), build the IHE XDM archive (the PDF, its CDA R2 level-1 wrapper, METADATA.XML) with the patient's INS
only when the identity is qualified, keep the archive encrypted in the vault, record the send (audited) and queue the
job ``exchange.deliver_mssante`` after commit. The job sends it once: the outbox ledger (``mail_delivery``) holds the
send's key, checked before and written with the job's completion.

**In.** ``poll_mailbox`` (job ``exchange.poll_mssante``) reads the applicative mailbox after the last UID handled,
keeps each new message encrypted, and files its documents to the patient whose **qualified** INS it carries, through
``document.service.store_upload`` acting as the designated filing account for identity vigilance; otherwise the
message waits in the reception inbox, or is refused with a French reason. Each message is handled once: unique by
Message-ID and by mailbox + UIDVALIDITY + UID, and the mailbox's position moves in the same transaction.

**Reception inbox.** The identity officer sees the messages waiting, the records that may match the identity the
sender declared, and files a message to one of them (``match``, audited through the document service) or sets it
aside (``dismiss``).
"""

from __future__ import annotations

import datetime as dt
import ssl
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from maillage.audit import service as audit
from maillage.config import Settings, get_settings
from maillage.directory import service as directory
from maillage.document import rules as document_rules
from maillage.document import service as documents
from maillage.exceptions import MaillageError, NotFound, PermissionDenied, ValidationFailed
from maillage.exchange import inbound, rules
from maillage.exchange import repository as repo
from maillage.integrations.mssante import (
    Attachment,
    ImapSmtpTransport,
    MssanteTransport,
    MssMessage,
    ReceivedMail,
    xdm,
)
from maillage.kit.clock import now
from maillage.kit.db import new_id
from maillage.kit.ids import as_uuid
from maillage.kit.logging import get_logger
from maillage.kit.pagination import PageParams
from maillage.models.mssante import MssanteMailbox, MssanteReceived, MssanteSend
from maillage.models.outbox import MailDelivery
from maillage.outbox import repository as outbox
from maillage.outbox.service import message_id as stable_message_id
from maillage.patient import exchange as identities
from maillage.patient import service as patients
from maillage.patient.views import PatientView
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows
from maillage.security.purposes import Purpose
from maillage.security.roles import Role
from maillage.teleexpertise import service as teleexpertise
from maillage.vault import service as vault
from maillage.worker.queue import enqueue_job

log = get_logger("maillage.exchange")

SEND_OBJECT = "mssante_send"
RECEIVED_OBJECT = "mssante_received"
DELIVER_JOB = "exchange.deliver_mssante"
POLL_JOB = "exchange.poll_mssante"
POLL_BATCH = 20
SUBJECT = "Document de santé transmis par Maillage"
TEXT = ("Bonjour,\n\nVous trouverez ci-joint un document de santé au format IHE XDM (archive IHE_XDM.ZIP : le document "
        "en PDF, son enveloppe CDA R2 et ses métadonnées XDS).\n\nCe message a été envoyé par la boîte applicative "
        "MSSanté de Maillage à la demande de {author}.\n")

_installed: list[MssanteTransport] = []


# -- the transport -----------------------------------------------------------------------------------------------


def transport_from_settings(settings: Settings) -> MssanteTransport | None:
    if not settings.mssante_enabled:
        return None
    context = ssl.create_default_context(cafile=settings.mssante_ca_file or None)
    return ImapSmtpTransport(
        sender=settings.mssante_address, smtp_host=settings.mssante_smtp_host, smtp_port=settings.mssante_smtp_port,
        smtp_security=settings.mssante_smtp_security, imap_host=settings.mssante_imap_host,
        imap_port=settings.mssante_imap_port, imap_security=settings.mssante_imap_security,
        username=settings.mssante_username, password=settings.mssante_password.get_secret_value(),
        timeout=settings.mssante_timeout_seconds, ssl_context=context)


@contextmanager
def use_transport(transport: MssanteTransport) -> Iterator[MssanteTransport]:
    """Talk to ``transport`` instead of the configured mailbox while the block runs (tests, demo)."""
    _installed.append(transport)
    try:
        yield transport
    finally:
        _installed.remove(transport)


def current_transport(settings: Settings | None = None) -> MssanteTransport | None:
    if _installed:
        return _installed[-1]
    return transport_from_settings(settings or get_settings())


def enabled(settings: Settings | None = None) -> bool:
    return bool(_installed) or (settings or get_settings()).mssante_enabled


def trusted_domains(settings: Settings) -> tuple[str, ...]:
    return tuple(d.strip().lower() for d in settings.mssante_trusted_domains.split(",") if d.strip())


# -- out ---------------------------------------------------------------------------------------------------------


def _recipient(session: Session, recipient: str | None, professional_id: str | None, settings: Settings) -> str:
    if professional_id:
        pro = repo.professional(session, as_uuid(professional_id))
        if pro is None or not pro.mssante or not pro.active:
            raise ValidationFailed("Ce professionnel n'a pas d'adresse MSSanté dans l'annuaire.")
        return rules.check_address(pro.mssante, trusted_domains(settings))
    return rules.check_address(recipient, trusted_domains(settings))


def _identity(view: PatientView, settings: Settings) -> xdm.PatientIdentity:
    qualified = view.matricule is not None and view.patient.ins_oid is not None
    return xdm.PatientIdentity(
        identifier=view.matricule if qualified and view.matricule else str(view.patient.id),
        authority=view.patient.ins_oid if qualified and view.patient.ins_oid else rules.LOCAL_PATIENT_OID,
        birth_name=view.patient.birth_name, given_names=view.patient.given_names,
        birth_date=view.patient.birth_date, sex=view.patient.sex, is_ins=qualified)


def _queue(session: Session, actor: Actor, *, patient_id: uuid.UUID, purpose: Purpose, source_type: str,
           source_id: str, pdf: bytes, title: str, type_code: rules.DocCode, created_at: dt.datetime,
           recipient: str, context: AuditContext | None, settings: Settings) -> MssanteSend:
    view = patients.get_patient(session, actor, patient_id, purpose=purpose, context=context)
    identity = _identity(view, settings)
    pro = directory.professional_of_user(session, actor.user_id)
    send_id = new_id()
    unique_id = f"2.25.{send_id.int}"
    submission = xdm.Submission(
        document=xdm.OutgoingDocument(
            data=pdf, media_type="application/pdf", title=title,
            type_code=xdm.Code(type_code.code, type_code.system, type_code.display),
            class_code=xdm.Code(rules.CLASS_REPORT.code, rules.CLASS_REPORT.system, rules.CLASS_REPORT.display),
            created_at=created_at, unique_id=unique_id),
        patient=identity, author=xdm.Author(name=actor.display_name, rpps=pro.rpps if pro else None,
                          family=pro.last_name if pro else None, given=pro.first_name if pro else None),
        source_id=settings.mssante_source_oid, intended_recipient=recipient, submitted_at=now())
    archive = xdm.build(submission)
    key = f"mssante_send:{send_id}"
    blob = vault.store_blob(session, object_type=SEND_OBJECT, object_id=str(send_id), data=archive,
                            media_type="application/zip")
    row = MssanteSend(id=send_id, patient_id=view.patient.id, source_type=source_type, source_id=source_id,
                      recipient=recipient, delivery_key=key,
                      message_id=stable_message_id(key, settings.mssante_address), with_ins=identity.is_ins,
                      cda_code=type_code.code, xdm_blob_id=blob.id, status="queued", sent_by=actor.user_id,
                      created_at=now())
    repo.add(session, row)
    audit.record(session, action="send", object_type=SEND_OBJECT, object_id=str(send_id),
                 patient_id=str(view.patient.id), purpose=purpose.value, context=context,
                 details={"source": source_type, "with_ins": identity.is_ins}, **actor.audit_fields)
    enqueue_job(session, DELIVER_JOB, send_id=str(send_id), dedupe_key=key)
    log.info("mssante.queued", send_id=str(send_id), source=source_type)
    return row


def _may_send(actor: Actor, settings: Settings) -> None:
    if not role_allows(actor.role, Permission.PATIENT_WRITE) or actor.role is Role.IDENTITY_OFFICER:
        raise PermissionDenied("L'envoi par MSSanté est réservé aux professionnels de santé.")
    if not enabled(settings):
        raise ValidationFailed("La messagerie MSSanté n'est pas configurée sur cette installation.")


def send_document(session: Session, actor: Actor, *, document_id: uuid.UUID | str, recipient: str | None = None,
                  professional_id: str | None = None, context: AuditContext | None = None,
                  settings: Settings | None = None) -> MssanteSend:
    """Send one of the patient's PDF documents to an MSSanté address."""
    s = settings or get_settings()
    _may_send(actor, s)
    address = _recipient(session, recipient, professional_id, s)
    document, data = documents.read(session, actor, document_id, Purpose.CARE, context=context)
    if document.media_type != "application/pdf":
        raise ValidationFailed("Seuls les documents PDF s'envoient par MSSanté (l'enveloppe CDA porte un PDF).")
    return _queue(session, actor, patient_id=document.patient_id, purpose=Purpose.CARE, source_type="document",
                  source_id=str(document.id), pdf=data, title=document.title or document.display_name,
                  type_code=_type_of(document.type_code), created_at=document.uploaded_at, recipient=address,
                  context=context, settings=s)


def _type_of(code: str | None) -> rules.DocCode:
    """The document's own LOINC type for the XDM entry and the CDA, the generic summary when it has none."""
    known = document_rules.DOCUMENT_TYPES.get(code or "")
    return rules.DocCode(known.code, rules.LOINC, known.label) if known else rules.GENERIC_DOCUMENT


def send_teleexpertise_report(session: Session, actor: Actor, *, request_id: uuid.UUID | str,
                              recipient: str | None = None, professional_id: str | None = None,
                              context: AuditContext | None = None, settings: Settings | None = None) -> MssanteSend:
    """Send the compte rendu of a signed tele-expertise opinion to an MSSanté address."""
    s = settings or get_settings()
    _may_send(actor, s)
    address = _recipient(session, recipient, professional_id, s)
    pdf = teleexpertise.compte_rendu(session, actor, request_id, context=context)
    detail = teleexpertise.get_request(session, actor, request_id, context=context)
    req = detail.request
    return _queue(session, actor, patient_id=req.patient_id, purpose=Purpose.TELEEXPERTISE,
                  source_type="teleexpertise_report", source_id=str(req.id), pdf=pdf,
                  title="Compte rendu de téléexpertise", type_code=rules.TELEEXPERTISE_REPORT,
                  created_at=req.signed_at or now(), recipient=address, context=context, settings=s)


def sends_for(session: Session, actor: Actor, *, source_type: str, source_id: str) -> list[MssanteSend]:
    """The sends of a document or report the actor has just been allowed to read (the caller checked access)."""
    return repo.sends_for_source(session, source_type, source_id)


class Delivery:
    SENT = "sent"
    ALREADY_SENT = "already_sent"
    DISABLED = "disabled"
    MISSING = "missing"


def deliver(session: Session, send_id: uuid.UUID | str, transport: MssanteTransport | None = None) -> str:
    """Send a queued message once (job). Errors of the transport propagate: the worker retries with back-off."""
    row = repo.send(session, as_uuid(send_id))
    if row is None:
        return Delivery.MISSING
    if outbox.delivery(session, row.delivery_key) is not None:
        return Delivery.ALREADY_SENT
    t = transport or current_transport()
    if t is None:
        return Delivery.DISABLED
    assert row.xdm_blob_id is not None
    archive = vault.read_blob(session, row.xdm_blob_id, object_type=SEND_OBJECT, object_id=str(row.id))
    author = repo.user_name(session, row.sent_by)
    message = MssMessage(
        to=row.recipient, subject=SUBJECT, text=TEXT.format(author=author), message_id=row.message_id,
        attachments=(Attachment("IHE_XDM.ZIP", "application/zip", archive),),
        headers=rules.mss_headers([row.cda_code] if row.cda_code else [], row.with_ins))
    t.send(message)
    outbox.add(session, MailDelivery(key=row.delivery_key, user_id=None, status="sent", message_id=row.message_id,
                                     created_at=now()))
    row.status, row.sent_at = "sent", now()
    session.flush()
    log.info("mssante.sent", send_id=str(row.id))
    return Delivery.SENT


# -- in ----------------------------------------------------------------------------------------------------------


@dataclass
class PollResult:
    read: int = 0
    filed: int = 0
    pending: int = 0
    refused: int = 0
    skipped: int = 0


def _filing_actor(session: Session, settings: Settings) -> Actor | None:
    """The account documents are filed under automatically: an active identity officer, designated in settings."""
    if not settings.mssante_filing_username:
        return None
    user = repo.user_by_username(session, settings.mssante_filing_username)
    if user is None or user.status != "active" or user.role != Role.IDENTITY_OFFICER.value:
        log.warning("mssante.filing_account_unusable")
        return None
    return Actor(user_id=user.id, username=user.username, display_name=user.display_name,
                 role=Role(user.role), auth_method="service")


def _file(session: Session, actor: Actor, row: MssanteReceived, reading: inbound.Reading, patient_id: uuid.UUID,
          context: AuditContext | None, settings: Settings) -> None:
    """File every document of the message to the patient, all or none (``MaillageError`` leaves nothing)."""
    with session.begin_nested():
        for part in reading.parts:
            documents.store_upload(
                session, actor, patient_id=patient_id, filename=part.filename, data=part.data,
                declared_type=part.media_type, purpose=Purpose.IDENTITY_VIGILANCE, owner_type=RECEIVED_OBJECT,
                owner_id=str(row.id), context=context, title=_title(part.title), settings=settings,
                type_code=part.type_code if part.type_code in document_rules.DOCUMENT_TYPES else None,
                source=document_rules.Source.MAIL, origin=(RECEIVED_OBJECT, str(row.id)))


def _title(value: str | None) -> str | None:
    if not value:
        return None
    cleaned = " ".join(value.split())[:200]
    return cleaned or None


def receive_one(session: Session, mail: ReceivedMail, *, mailbox: str, uidvalidity: int,
                filer: Actor | None, settings: Settings) -> str | None:
    """Handle one message of the mailbox, once; returns its status, or None when it was already handled."""
    reading = inbound.read(mail.raw, uid_fallback_id=f"<{uidvalidity}.{mail.uid}@{mailbox}>",
                           max_bytes=settings.mssante_max_message_bytes)
    if repo.already_received(session, message_id=reading.message_id, mailbox=mailbox, uidvalidity=uidvalidity,
                             uid=mail.uid):
        return None
    row = MssanteReceived(id=new_id(), mailbox=mailbox, uidvalidity=uidvalidity, uid=mail.uid,
                          message_id=reading.message_id, sender=reading.sender, subject=reading.subject,
                          declared_identity=reading.declared_name or None,
                          declared_birth_name=reading.declared_family or None,
                          declared_birth_date=reading.declared_birth_date, size_bytes=len(mail.raw),
                          document_count=len(reading.parts), status="pending", received_at=now())
    blob = vault.store_blob(session, object_type=RECEIVED_OBJECT, object_id=str(row.id), data=mail.raw,
                            media_type="message/rfc822")
    row.raw_blob_id = blob.id
    repo.add(session, row)
    if reading.refusal is not None:
        row.status, row.reason_code, row.reason = "refused", reading.refusal.value, reading.reason
    else:
        _route(session, row, reading, filer, settings)
    session.flush()
    audit.record(session, action="receive", object_type=RECEIVED_OBJECT, object_id=str(row.id),
                 patient_id=str(row.patient_id) if row.patient_id else None, outcome="success",
                 details={"status": row.status, "reason": row.reason_code, "documents": row.document_count},
                 actor_id=str(filer.user_id) if filer and row.status == "filed" else None, actor_role="system")
    log.info("mssante.received", received_id=str(row.id), status=row.status, reason=row.reason_code)
    return row.status


def _route(session: Session, row: MssanteReceived, reading: inbound.Reading, filer: Actor | None,
           settings: Settings) -> None:
    ins = {(i, a) for i, a in reading.patient_ids if a in rules.INS_OIDS}
    waiting: rules.Waiting | None = None
    patient_id = None
    if not ins:
        waiting = rules.Waiting.NO_INS
    elif len(ins) > 1:
        waiting = rules.Waiting.SEVERAL_PATIENTS
    else:
        matricule, oid = next(iter(ins))
        patient_id = identities.qualified_record_for_received_ins(session, matricule, oid)
        if patient_id is None:
            waiting = rules.Waiting.INS_NOT_QUALIFIED
        elif filer is None:
            waiting = rules.Waiting.NO_FILING_ACCOUNT
    if waiting is not None or patient_id is None or filer is None:
        row.status = "pending"
        row.reason_code = (waiting or rules.Waiting.NO_INS).value
        row.reason = rules.WAITING_TEXT[waiting or rules.Waiting.NO_INS]
        return
    try:
        _file(session, filer, row, reading, patient_id, None, settings)
    except MaillageError as exc:
        row.status, row.reason_code = "refused", rules.Refusal.REFUSED_CONTENT.value
        row.reason = f"Document refusé : {exc.message}"[:300]
        return
    row.status, row.patient_id, row.handled_by, row.handled_at = "filed", patient_id, filer.user_id, now()


def poll_mailbox(session: Session, transport: MssanteTransport | None = None, *, settings: Settings | None = None,
                 limit: int = POLL_BATCH) -> PollResult:
    """Read up to ``limit`` new messages of the applicative mailbox and handle each once (job)."""
    s = settings or get_settings()
    t = transport or current_transport(s)
    result = PollResult()
    if t is None:
        return result
    name = s.mssante_address
    state = repo.mailbox(session, name, lock=True)
    if state is None:
        state = MssanteMailbox(name=name, uidvalidity=None, last_uid=0)
        repo.add(session, state)
    batch = t.fetch_after(state.uidvalidity, state.last_uid, limit=limit)
    if state.uidvalidity != batch.uidvalidity:
        state.uidvalidity, state.last_uid = batch.uidvalidity, 0
    filer = _filing_actor(session, s)
    for mail in batch.messages:
        status = receive_one(session, mail, mailbox=name, uidvalidity=batch.uidvalidity, filer=filer, settings=s)
        result.read += 1
        if status is None:
            result.skipped += 1
        else:
            setattr(result, status, getattr(result, status) + 1)
        state.last_uid = max(state.last_uid, mail.uid)
    state.polled_at = now()
    session.flush()
    return result


# -- the reception inbox -----------------------------------------------------------------------------------------


def _require_inbox(actor: Actor) -> None:
    if not role_allows(actor.role, Permission.IDENTITY_MERGE):
        raise PermissionDenied("La réception MSSanté est tenue par le référent identitovigilance.")


WAITING_STATUSES = ("pending", "refused")


def inbox(session: Session, actor: Actor, page: PageParams, *, context: AuditContext | None = None
          ) -> tuple[list[MssanteReceived], bool]:
    """Messages waiting for a person: to match to a patient, or refused and to be set aside (audited list)."""
    _require_inbox(actor)
    rows = repo.inbox(session, statuses=WAITING_STATUSES, limit=page.limit + 1, offset=page.offset)
    audit.record(session, action="search", object_type=RECEIVED_OBJECT, purpose=Purpose.IDENTITY_VIGILANCE.value,
                 context=context, details={"count": min(len(rows), page.limit)}, **actor.audit_fields)
    return rows[: page.limit], len(rows) > page.limit


def waiting_count(session: Session, actor: Actor, *, limit: int = 200) -> int:
    """How many received messages wait for the identity officer (the home page's item); 0 for other roles."""
    if not role_allows(actor.role, Permission.IDENTITY_MERGE):
        return 0
    return len(repo.inbox(session, statuses=("pending",), limit=limit, offset=0))


def received(session: Session, actor: Actor, received_id: uuid.UUID | str, *,
             context: AuditContext | None = None) -> MssanteReceived:
    _require_inbox(actor)
    row = repo.received(session, as_uuid(received_id))
    if row is None:
        raise NotFound()
    audit.record(session, action="read", object_type=RECEIVED_OBJECT, object_id=str(row.id),
                 patient_id=str(row.patient_id) if row.patient_id else None,
                 purpose=Purpose.IDENTITY_VIGILANCE.value, context=context, **actor.audit_fields)
    return row


def candidates(session: Session, actor: Actor, row: MssanteReceived, *, context: AuditContext | None = None
               ) -> list[PatientView]:
    """Records whose birth name and date of birth agree with what the sender declared (never filed by this alone)."""
    if not row.declared_birth_name and row.declared_birth_date is None:
        return []
    return identities.vigilance_candidates(session, actor, birth_name=row.declared_birth_name or "",
                                           birth_date=row.declared_birth_date, context=context)


def _reading_of(session: Session, row: MssanteReceived, settings: Settings) -> inbound.Reading:
    assert row.raw_blob_id is not None
    raw = vault.read_blob(session, row.raw_blob_id, object_type=RECEIVED_OBJECT, object_id=str(row.id))
    return inbound.read(raw, uid_fallback_id=row.message_id, max_bytes=settings.mssante_max_message_bytes)


def match(session: Session, actor: Actor, received_id: uuid.UUID | str, patient_id: uuid.UUID | str, *,
          context: AuditContext | None = None, settings: Settings | None = None) -> MssanteReceived:
    """File a waiting message's documents to the patient the identity officer chose (audited by the document
    service, for identity vigilance)."""
    s = settings or get_settings()
    row = received(session, actor, received_id, context=context)
    if row.status != "pending":
        raise ValidationFailed("Ce message n'attend plus de rattachement.")
    reading = _reading_of(session, row, s)
    if reading.refusal is not None or not reading.parts:
        raise ValidationFailed("Ce message ne contient aucun document à classer.")
    pid = as_uuid(patient_id)
    _file(session, actor, row, reading, pid, context, s)
    row.status, row.patient_id, row.handled_by, row.handled_at = "matched", pid, actor.user_id, now()
    session.flush()
    audit.record(session, action="match", object_type=RECEIVED_OBJECT, object_id=str(row.id), patient_id=str(pid),
                 purpose=Purpose.IDENTITY_VIGILANCE.value, context=context, **actor.audit_fields)
    return row


def dismiss(session: Session, actor: Actor, received_id: uuid.UUID | str, *,
            context: AuditContext | None = None) -> MssanteReceived:
    """Set a waiting or refused message aside: it leaves the inbox, its original stays encrypted."""
    row = received(session, actor, received_id, context=context)
    if row.status not in WAITING_STATUSES:
        raise ValidationFailed("Ce message a déjà été traité.")
    row.status, row.handled_by, row.handled_at = "dismissed", actor.user_id, now()
    session.flush()
    audit.record(session, action="dismiss", object_type=RECEIVED_OBJECT, object_id=str(row.id),
                 purpose=Purpose.IDENTITY_VIGILANCE.value, context=context, **actor.audit_fields)
    return row


def recipients(session: Session) -> list[tuple[str, str]]:
    """Directory professionals with an MSSanté address: (id, "Dr Nom Prénom — spécialité")."""
    out = []
    for p in repo.professionals_with_mssante(session):
        label = directory.display_name(p)
        if p.specialty_label:
            label += f" — {p.specialty_label}"
        out.append((str(p.id), label))
    return out


@dataclass(frozen=True)
class Source:
    """What the send page shows: the document's title and its patient (for the banner)."""

    title: str
    patient: PatientView
    sendable: bool
    why_not: str | None = None


def describe_source(session: Session, actor: Actor, kind: str, source_id: uuid.UUID,
                    context: AuditContext | None = None) -> Source:
    """The document or report about to be sent, read through its own service (scoped and audited there)."""
    if kind == "teleexpertise":
        detail = teleexpertise.get_request(session, actor, source_id, context=context)
        req = detail.request
        view = patients.get_patient(session, actor, req.patient_id, purpose=Purpose.TELEEXPERTISE, context=context)
        signed = req.signed_by is not None
        return Source("Compte rendu de téléexpertise", view, signed,
                      None if signed else "Le compte rendu existe une fois l'avis rendu.")
    document = documents.get(session, actor, source_id, Purpose.CARE, context=context)
    view = patients.get_patient(session, actor, document.patient_id, purpose=Purpose.CARE, context=context)
    pdf = document.media_type == "application/pdf"
    return Source(document.title or document.display_name, view, pdf,
                  None if pdf else "Seuls les documents PDF s'envoient par MSSanté.")
