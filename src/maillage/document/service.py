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

import uuid

from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.config import Settings, get_settings
from maillage.document import inspect, repository, rules
from maillage.exceptions import NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import now
from maillage.kit.db import new_id
from maillage.kit.ids import as_uuid
from maillage.kit.logging import get_logger
from maillage.kit.pagination import PageParams
from maillage.models.document import Document
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
) -> Document:
    """Check an uploaded file and store it encrypted for this patient; ``FileRefused`` (French) otherwise."""
    s = settings or get_settings()
    _require(actor, Permission.PATIENT_WRITE)
    why = _purpose(purpose)
    rules.check_owner(owner_type, owner_id)
    clean_title = rules.clean_title(title)
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
            size_bytes=blob.size_bytes, sha256=blob.sha256, blob_id=blob.id, width=checked.width,
            height=checked.height, page_count=checked.page_count, purpose=why.value, uploaded_by=actor.user_id,
            uploaded_at=now(),
        ))
    log.info("document.stored", document_id=str(document.id), media_type=document.media_type,
             size_bytes=document.size_bytes, received_bytes=len(data))
    return document


def _visible(session: Session, actor: Actor, document_id: uuid.UUID | str, purpose: Purpose, *, action: str,
             object_type: str, permission: Permission, context: AuditContext | None) -> Document:
    """The live document if the actor may reach its patient now (audited); ``NotFound`` otherwise.

    A missing document and another patient's document get the same answer.
    """
    document = repository.get_live(session, as_uuid(document_id))
    if document is None:
        raise NotFound()
    authz.access_patient(session, actor, document.patient_id, purpose, action=action, object_type=object_type,
                         object_id=str(document.id), permission=permission, context=context)
    return document


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
    context: AuditContext | None = None,
) -> tuple[list[Document], bool]:
    """A page of the patient's live documents, newest first, and whether more follow (one audit entry)."""
    _require(actor, Permission.PATIENT_READ)
    if owner_type is not None or owner_id is not None:
        rules.check_owner(owner_type or "", owner_id or "")
    grant = authz.access_patient(session, actor, patient_id, _purpose(purpose), action="search",
                                 object_type=rules.OBJECT_TYPE, context=context)
    rows = repository.list_live_for_patient(session, grant.patient_id, limit=page.limit + 1, offset=page.offset,
                                            owner_type=owner_type, owner_id=owner_id)
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
