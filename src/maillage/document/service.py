"""Use cases of patient documents: store an upload, read it, list a patient's documents, delete one.

Every function goes through ``authz.access_patient`` (404 without a care relationship, audited in the
caller's transaction) and flushes, never commits. Other capabilities attach files through
``store_upload`` with their own ``owner_type``/``owner_id`` and purpose (a tele-expertise request
attaches photos with ``owner_type="teleexpertise_request"``, ``purpose="teleexpertise"``).

An upload is checked completely before anything is written: the name, the size, the type sniffed
from the content against the extension and the declared type, then the content itself
(``maillage.document.inspect``). Only then is the content — re-encoded for images — encrypted into
the vault and the row added. The whole use case runs in a savepoint, so a refused file leaves
nothing behind, not even the audit entry of the attempt.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.authz import service as authz
from maillage.config import Settings, get_settings
from maillage.directory import service as directory
from maillage.document import inspect, repository, rules
from maillage.document.facts import AuthorFacts, CustodianFacts, DocumentFacts, ExportFacts, PatientFacts
from maillage.exceptions import NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import now, today_paris
from maillage.kit.db import new_id
from maillage.kit.ids import as_uuid
from maillage.kit.logging import get_logger
from maillage.kit.pagination import PageParams
from maillage.models.document import Document
from maillage.patient import labels as patient_labels
from maillage.patient import service as patients
from maillage.patient.views import PatientView
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows
from maillage.security.purposes import Purpose
from maillage.vault import service as vault

log = get_logger("maillage.document")

PATIENT_OWNER = "patient"


def _require(actor: Actor, permission: Permission) -> None:
    if not role_allows(actor.role, permission):
        raise PermissionDenied()


def _purpose(purpose: Purpose | str) -> Purpose:
    try:
        return Purpose(purpose)
    except ValueError:
        raise ValidationFailed("Finalité d'accès inconnue.") from None


def store_upload(
    session: Session,
    actor: Actor,
    *,
    patient_id: uuid.UUID | str,
    filename: str | None,
    data: bytes,
    declared_type: str | None,
    purpose: Purpose | str,
    owner_type: str,
    owner_id: str,
    context: AuditContext | None = None,
    title: str | None = None,
    settings: Settings | None = None,
    type_code: str | None = None,
    act_date: dt.date | None = None,
    source: rules.Source = rules.Source.UPLOAD,
    origin: tuple[str, str] | None = None,
    confidentiality: rules.Confidentiality | str = rules.Confidentiality.NORMAL,
    replaces: Document | None = None,
) -> Document:
    """Check an uploaded file and store it encrypted for this patient; ``FileRefused`` (French) otherwise.

    ``type_code`` is a LOINC code of ``rules.DOCUMENT_TYPES`` (by default from the file: a photograph or a
    summary); ``act_date`` the day of the act (today by default); ``source`` and ``origin`` say where it comes from
    and what produced it (``("teleconsultation", appointment id)``, ``("message_attachment", attachment id)``).
    ``replaces`` makes it the next version of that document (``new_version``)."""
    s = settings or get_settings()
    _require(actor, Permission.PATIENT_WRITE)
    why = _purpose(purpose)
    rules.check_owner(owner_type, owner_id)
    if origin is not None:
        rules.check_owner(*origin)
    clean_title = rules.clean_title(title)
    if type_code is not None:
        rules.document_type(type_code)
    try:
        secrecy = rules.Confidentiality(confidentiality)
    except ValueError:
        raise ValidationFailed("Confidentialité inconnue.") from None
    day = rules.check_act_date(act_date, today_paris()) if act_date is not None else today_paris()
    document_id = new_id()
    with session.begin_nested():
        grant = authz.access_patient(session, actor, patient_id, why, action="upload",
                                     object_type=rules.OBJECT_TYPE, object_id=str(document_id), context=context)
        rules.check_owner_count(repository.count_live_for_owner(session, owner_type, owner_id),
                                s.document_max_per_owner)
        name = rules.check_filename(filename)
        shown = name or "document"
        rules.check_size(shown, len(data), s.document_max_bytes)
        kind = rules.sniff(data)
        if not kind.allowed:
            raise rules.refuse_kind(shown, kind, name, declared_type)
        rules.check_claims(shown, kind, name, declared_type)
        checked = inspect.check_content(kind, bytes(data), shown, max_pixels=s.document_max_image_pixels,
                                        max_pages=s.document_max_pdf_pages)
        blob = vault.store_blob(session, object_type=rules.OBJECT_TYPE, object_id=str(document_id),
                                data=checked.data, media_type=checked.media_type)
        document = repository.add(session, Document(
            id=document_id, patient_id=grant.patient_id, owner_type=owner_type, owner_id=owner_id,
            display_name=rules.display_name(name, kind), title=clean_title, media_type=checked.media_type,
            size_bytes=blob.size_bytes, sha256=blob.sha256, sha1=_sha1(checked.data), blob_id=blob.id,
            width=checked.width, height=checked.height, page_count=checked.page_count, purpose=why.value,
            uploaded_by=actor.user_id,
            uploaded_at=now(), type_code=type_code or rules.default_type_for(checked.media_type), act_date=day,
            author_id=actor.user_id, source=source.value, origin_type=origin[0] if origin else None,
            origin_id=origin[1] if origin else None, status=rules.Status.CURRENT.value,
            series_id=replaces.series_id if replaces is not None else document_id,
            version=repository.last_version(session, replaces.series_id) + 1 if replaces is not None else 1,
            replaces_id=replaces.id if replaces is not None else None, confidentiality=secrecy.value,
            legal_hold=False,
        ))
    log.info("document.stored", document_id=str(document.id), media_type=document.media_type,
             size_bytes=document.size_bytes, received_bytes=len(data))
    return document


def generated_from(session: Session, origin_type: str, origin_id: str) -> Document | None:
    """The live document an object of the platform produced (a signed opinion's report), for the capability that
    produced it to file it once; no access check, as the caller holds the producing object under its own rules."""
    rules.check_owner(origin_type, origin_id)
    return repository.live_generated_from(session, origin_type, origin_id)


def _visible(session: Session, actor: Actor, document_id: uuid.UUID | str, purpose: Purpose, *, action: str,
             object_type: str, permission: Permission, context: AuditContext | None) -> Document:
    """The live document if the actor may reach its patient now (audited); ``NotFound`` otherwise.

    A missing document and another patient's document get the same answer.
    """
    try:
        document = repository.get_live(session, as_uuid(document_id))
    except (ValueError, TypeError):
        raise NotFound() from None
    if document is None:
        raise NotFound()
    if not _may_see(session, actor, document):
        authz.record_refusal(session, actor, action=action, object_type=object_type, object_id=str(document.id),
                             patient_id=document.patient_id, purpose=purpose, context=context,
                             details={"confidentiality": document.confidentiality})
        raise NotFound()
    authz.access_patient(session, actor, document.patient_id, purpose, action=action, object_type=object_type,
                         object_id=str(document.id), permission=permission, context=context)
    return document


def _may_see(session: Session, actor: Actor, document: Document) -> bool:
    secrecy = rules.Confidentiality(document.confidentiality)
    if secrecy is rules.Confidentiality.NORMAL or document.author_id == actor.user_id:
        return True
    return rules.may_see(secrecy, author_id=document.author_id, actor_id=actor.user_id,
                         same_team=authz.shares_team(session, actor.user_id, document.author_id))


def get(session: Session, actor: Actor, document_id: uuid.UUID | str, purpose: Purpose | str,
        context: AuditContext | None = None) -> Document:
    """A document's metadata."""
    _require(actor, Permission.PATIENT_READ)
    return _visible(session, actor, document_id, _purpose(purpose), action="read", object_type=rules.OBJECT_TYPE,
                    permission=Permission.PATIENT_READ, context=context)


def read(session: Session, actor: Actor, document_id: uuid.UUID | str, purpose: Purpose | str,
         context: AuditContext | None = None) -> tuple[Document, bytes]:
    """A document and its decrypted content (audited as a download)."""
    _require(actor, Permission.PATIENT_READ)
    document = _visible(session, actor, document_id, _purpose(purpose), action="download",
                        object_type=rules.OBJECT_TYPE, permission=Permission.PATIENT_READ, context=context)
    assert document.blob_id is not None  # a live document has content (check constraint)
    data = vault.read_blob(session, document.blob_id, object_type=rules.OBJECT_TYPE, object_id=str(document.id))
    return document, data


def list_documents(
    session: Session,
    actor: Actor,
    patient_id: uuid.UUID | str,
    *,
    purpose: Purpose | str,
    page: PageParams,
    owner_type: str | None = None,
    owner_id: str | None = None,
    filters: repository.Filters | None = None,
    context: AuditContext | None = None,
) -> tuple[list[Document], bool]:
    """A page of the patient's live documents, newest act first, and whether more follow (one audit entry).
    Documents restricted to their author's team are left out for anyone else."""
    _require(actor, Permission.PATIENT_READ)
    if owner_type is not None or owner_id is not None:
        rules.check_owner(owner_type or "", owner_id or "")
    grant = authz.access_patient(session, actor, patient_id, _purpose(purpose), action="search",
                                 object_type=rules.OBJECT_TYPE, context=context)
    f = filters or repository.Filters(owner_type=owner_type, owner_id=owner_id)
    rows = repository.list_live_for_patient(session, grant.patient_id, limit=page.limit + 1, offset=page.offset,
                                            filters=f, actor_id=actor.user_id,
                                            teammates=authz.teammates(actor.user_id))
    return rows[: page.limit], len(rows) > page.limit


def delete(session: Session, actor: Actor, document_id: uuid.UUID | str, purpose: Purpose | str,
           context: AuditContext | None = None) -> Document:
    """Delete a document: the row stays (who, when), the encrypted content goes (its file after commit)."""
    _require(actor, Permission.PATIENT_WRITE)
    document = _visible(session, actor, document_id, _purpose(purpose), action="delete",
                        object_type=rules.OBJECT_TYPE, permission=Permission.PATIENT_WRITE, context=context)
    rules.check_may_delete(document.uploaded_by, actor.user_id)
    document.deleted_at = now()
    document.deleted_by = actor.user_id
    document.blob_id = None
    session.flush()
    vault.delete_object(session, object_type=rules.OBJECT_TYPE, object_id=str(document.id))
    log.info("document.deleted", document_id=str(document.id))
    return document


# --- versions, status, hold ------------------------------------------------------------------------------------------


def new_version(
    session: Session,
    actor: Actor,
    document_id: uuid.UUID | str,
    *,
    filename: str | None,
    data: bytes,
    declared_type: str | None,
    title: str | None = None,
    act_date: dt.date | None = None,
    context: AuditContext | None = None,
    settings: Settings | None = None,
) -> Document:
    """Store a new version of a current document: same patient, type, owner and confidentiality; the previous one
    becomes superseded and stays readable."""
    _require(actor, Permission.PATIENT_WRITE)
    previous = _visible(session, actor, document_id, Purpose.CARE, action="update", object_type=rules.OBJECT_TYPE,
                        permission=Permission.PATIENT_WRITE, context=context)
    rules.check_new_version_of(rules.Status(previous.status))
    previous.status = rules.check_transition(rules.Status(previous.status), rules.Status.SUPERSEDED).value
    previous.status_changed_at = now()
    previous.status_changed_by = actor.user_id
    session.flush()
    document = store_upload(
        session, actor, patient_id=previous.patient_id, filename=filename, data=data, declared_type=declared_type,
        purpose=Purpose.CARE, owner_type=previous.owner_type, owner_id=previous.owner_id, context=context,
        title=title if title and title.strip() else previous.title, settings=settings, type_code=previous.type_code,
        act_date=act_date or previous.act_date, source=rules.Source.UPLOAD,
        confidentiality=previous.confidentiality, replaces=previous)
    log.info("document.new_version", document_id=str(document.id), replaces=str(previous.id),
             version=document.version)
    return document


def mark_entered_in_error(session: Session, actor: Actor, document_id: uuid.UUID | str, reason: str | None,
                          context: AuditContext | None = None) -> Document:
    """Mark a version entered in error, with a reason (sealed): it stays, shown as such, and leaves the list of
    documents in force. Its author, or anyone who shares their team, may do it."""
    _require(actor, Permission.PATIENT_WRITE)
    text = rules.clean_error_reason(reason)
    document = _visible(session, actor, document_id, Purpose.CARE, action="update", object_type=rules.OBJECT_TYPE,
                        permission=Permission.PATIENT_WRITE, context=context)
    if not authz.shares_team(session, actor.user_id, document.author_id):
        raise PermissionDenied("Seuls l'auteur du document et son équipe peuvent le déclarer saisi par erreur.")
    document.status = rules.check_transition(rules.Status(document.status), rules.Status.ENTERED_IN_ERROR).value
    document.status_reason = text
    document.status_changed_at = now()
    document.status_changed_by = actor.user_id
    session.flush()
    log.info("document.entered_in_error", document_id=str(document.id))
    return document


def set_legal_hold(session: Session, actor: Actor, document_id: uuid.UUID | str, held: bool,
                   context: AuditContext | None = None) -> Document:
    """Put a document under legal hold (the purge skips it) or lift the hold; audited like any change."""
    _require(actor, Permission.PATIENT_WRITE)
    document = _visible(session, actor, document_id, Purpose.CARE, action="update", object_type=rules.OBJECT_TYPE,
                        permission=Permission.PATIENT_WRITE, context=context)
    document.legal_hold = held
    session.flush()
    return document


def versions(session: Session, actor: Actor, document: Document) -> list[Document]:
    """Every kept version of a document the actor already reached (``get``), newest first."""
    return [d for d in repository.series(session, document.series_id) if _may_see(session, actor, d)]


# --- retention ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeItem:
    document_id: uuid.UUID
    patient_id: uuid.UUID
    document_class: rules.DocumentClass
    last_care: dt.date
    retained_until: dt.date
    held: bool


def purge_candidates(session: Session, today: dt.date | None = None) -> list[PurgeItem]:
    """Every kept document past its retention (``rules.RETENTION_RULES``), held ones included (marked ``held``)."""
    day = today or today_paris()
    cares = repository.last_care_by_patient(session)
    births = patient_labels.birth_dates_for_retention(session, [c.patient_id for c in cares])
    last_care: dict[uuid.UUID, dt.date] = {c.patient_id: c.last_act for c in cares}
    out: list[PurgeItem] = []
    for document in repository.kept_for_patients(session, list(last_care)):
        last = last_care[document.patient_id]
        klass = rules.document_type(document.type_code).document_class
        rule = rules.retention_rule(klass, day)
        until = rules.retained_until(rule, last_care=last, birth_date=births[document.patient_id])
        if rules.may_purge(retained_until_day=until, today=day, legal_hold=False):  # held ones are listed too
            out.append(PurgeItem(document.id, document.patient_id, klass, last, until, document.legal_hold))
    return out


def purge(session: Session, *, dry_run: bool, today: dt.date | None = None) -> list[PurgeItem]:
    """List (``dry_run``) or delete the documents past retention: content and vault blob go, the row stays with no
    title; held documents are skipped. Each deletion is audited (system actor) in this transaction."""
    items = purge_candidates(session, today)
    if dry_run:
        return items
    at = now()
    for item in items:
        if item.held:
            continue
        document = repository.get_live(session, item.document_id)
        if document is None:  # purged by a concurrent run
            continue
        document.deleted_at = at
        document.deleted_by = None
        document.blob_id = None
        document.title = None
        document.status_reason = None
        document.display_name = "document"
        session.flush()
        vault.delete_object(session, object_type=rules.OBJECT_TYPE, object_id=str(document.id))
        record(session, action="purge", object_type=rules.OBJECT_TYPE, object_id=str(document.id),
               patient_id=str(document.patient_id), purpose=Purpose.CARE.value, outcome="success",
               actor_id=None, actor_role="system", establishment_id=None,
               details={"retained_until": item.retained_until.isoformat(), "class": item.document_class.value})
        log.info("document.purged", document_id=str(document.id))
    return items


# --- exports -----------------------------------------------------------------------------------------------------


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()  # noqa: S324 (FHIR R4's Attachment.hash is SHA-1; not a security use)


def _content(session: Session, document: Document) -> bytes:
    """The decrypted content; fills the SHA-1 of a row stored before it was kept at upload."""
    assert document.blob_id is not None
    data = vault.read_blob(session, document.blob_id, object_type=rules.OBJECT_TYPE, object_id=str(document.id))
    if document.sha1 is None:
        document.sha1 = _sha1(data)
    return data


def _patient_facts(view: PatientView) -> PatientFacts:
    p = view.patient
    return PatientFacts(id=p.id, family=(p.used_name or p.birth_name).upper(),
                        given=p.used_given_name or p.given_names.split(" ")[0], birth_date=p.birth_date, sex=p.sex,
                        ins=view.matricule, ins_oid=p.ins_oid if view.matricule else None)


def _custodian(session: Session, actor: Actor) -> CustodianFacts | None:
    if actor.current_establishment_id is None:
        return None
    place = directory.get_establishment(session, actor.current_establishment_id)
    return CustodianFacts(name=place.name, finess=place.finess_et)


def _document_facts(document: Document) -> DocumentFacts:
    return DocumentFacts(
        id=document.id, series_id=document.series_id, version=document.version, replaces_id=document.replaces_id,
        type_code=document.type_code, title=document.title or rules.document_type(document.type_code).label,
        status=document.status, confidentiality=document.confidentiality, act_date=document.act_date,
        created_at=document.uploaded_at, media_type=document.media_type, size_bytes=document.size_bytes,
        sha256=document.sha256, file_name=document.display_name, sha1=document.sha1)


def _facts_of(session: Session, actor: Actor, documents: Sequence[Document],
              views: dict[uuid.UUID, PatientView], *, with_content: bool) -> list[ExportFacts]:
    """The facts of documents already checked and audited: authors and custodian read once for all of them."""
    authors = {d.author_id for d in documents}
    names = repository.user_names(session, authors)
    professionals = directory.professionals_of_users(session, authors)
    custodian = _custodian(session, actor)
    out = []
    for document in documents:
        professional = professionals.get(document.author_id)
        name = names.get(document.author_id, "-")
        author = AuthorFacts(user_id=document.author_id, name=name,
                             family=professional.last_name if professional else name,
                             given=professional.first_name if professional else None,
                             rpps=professional.rpps if professional else None)
        content = _content(session, document) if with_content or document.sha1 is None else None
        out.append(ExportFacts(document=_document_facts(document), patient=_patient_facts(views[document.patient_id]),
                               author=author, custodian=custodian, content=content if with_content else None))
    return out


def export_facts(session: Session, actor: Actor, document_id: uuid.UUID | str,
                 context: AuditContext | None = None, *, with_content: bool = True) -> ExportFacts:
    """Everything an export of one document says (audited as an export of the document and a read of the patient):
    the INS only for a qualified identity, the author's RPPS, the actor's establishment as custodian."""
    _require(actor, Permission.PATIENT_READ)
    document = _visible(session, actor, document_id, Purpose.CARE, action="export", object_type=rules.OBJECT_TYPE,
                        permission=Permission.PATIENT_READ, context=context)
    view = patients.get_patient(session, actor, document.patient_id, purpose=Purpose.CARE, context=context)
    return _facts_of(session, actor, [document], {document.patient_id: view}, with_content=with_content)[0]


def export_facts_page(session: Session, actor: Actor, documents: Sequence[Document], *, with_content: bool,
                      context: AuditContext | None = None) -> list[ExportFacts]:
    """The facts of one page of a search whose query was already restricted to the documents the actor may see
    (``authz.accessible_patients`` and ``repository.visible_to``): one audit entry for the page, listing its
    patients; one query for the patients, one for the authors. The content is decrypted only when asked for (a
    ``Binary``), or once for a row stored before its SHA-1 was kept."""
    _require(actor, Permission.PATIENT_READ)
    if not documents:
        return []
    authz.audit_list(session, actor, object_type=rules.OBJECT_TYPE, count=len(documents), purpose=Purpose.CARE,
                     patient_ids=sorted({d.patient_id for d in documents}), context=context)
    views = patients.views_in_scope(session, actor, {d.patient_id for d in documents})
    shown = [d for d in documents if d.patient_id in views]
    return _facts_of(session, actor, shown, views, with_content=with_content)


# --- views for pages ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentView:
    """A document as a page shows it: labels and names, no identifiers."""

    document: Document
    type: rules.DocumentType
    author: str
    status: rules.Status
    source: rules.Source
    confidentiality: rules.Confidentiality
    status_changed_by: str | None = None

    @property
    def title(self) -> str:
        return self.document.title or self.type.label

    @property
    def is_pdf(self) -> bool:
        return self.document.media_type == "application/pdf"

    @property
    def is_image(self) -> bool:
        return self.document.media_type.startswith("image/")


def views_of(session: Session, documents: list[Document]) -> list[DocumentView]:
    """Pages' views of documents, with the names of their authors (one query)."""
    names = repository.user_names(session, {d.author_id for d in documents}
                                  | {d.status_changed_by for d in documents if d.status_changed_by})
    return [DocumentView(document=d, type=rules.document_type(d.type_code), author=names.get(d.author_id, "-"),
                         status=rules.Status(d.status), source=rules.Source(d.source),
                         confidentiality=rules.Confidentiality(d.confidentiality),
                         status_changed_by=names.get(d.status_changed_by) if d.status_changed_by else None)
            for d in documents]
