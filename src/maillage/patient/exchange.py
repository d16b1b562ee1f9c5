"""What the exchange with the outside (``maillage.exchange``, MSSanté) may know of a patient's identity.

Two functions, each scoped as its name says:

- ``qualified_record_for_received_ins``: the receiving worker matches a document received by mail to a patient by
  a **qualified** INS only (matricule + OID of an identity whose status is ``QUAL``), never by name (RNIV, DOMAIN
  §1.2). It has no actor: it returns an id, and the caller audits the filing it does with it.
- ``vigilance_candidates``: for the identity officer matching a received document by hand, the records whose birth
  name and date of birth agree with the traits the sender declared, in the whole base (identity vigilance reaches
  any identity, audited as a list read with that purpose).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.exceptions import PermissionDenied
from maillage.models.patient import Patient
from maillage.patient import repository as repo
from maillage.patient.rules import IdentityStatus, normalise_name
from maillage.patient.views import PatientView, patient_views
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows
from maillage.security.purposes import Purpose


def qualified_record_for_received_ins(session: Session, matricule: str, oid: str) -> uuid.UUID | None:
    """The active record holding this INS with a qualified identity, or None (not found, or not qualified)."""
    found = repo.active_with_matricule(session, matricule.strip())
    if found is None or found.ins_oid != oid.strip() or found.identity_status != IdentityStatus.QUAL.value:
        return None
    return found.id


def vigilance_candidates(session: Session, actor: Actor, *, birth_name: str, birth_date: dt.date | None,
                         limit: int = 10, context: AuditContext | None = None) -> list[PatientView]:
    """Records that may be the person a received document is about, for the identity officer (audited list)."""
    if not role_allows(actor.role, Permission.IDENTITY_MERGE):
        raise PermissionDenied()
    name = normalise_name(birth_name) if birth_name else ""
    if len(name) < 2 and birth_date is None:
        return []
    found = repo.search(session, select(Patient.id), name=name or None, birth_date=birth_date, limit=limit)
    authz.audit_list(session, actor, object_type="patient", count=len(found), purpose=Purpose.IDENTITY_VIGILANCE,
                     patient_ids=[p.id for p in found], context=context)
    return patient_views(session, found)
