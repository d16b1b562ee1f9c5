"""What an export of one document says, gathered once by the service and handed to the pure mappings
(``document.fhir``, ``document.cda``): plain values, no session, no model.

The patient's INS is here only when the identity is qualified (``patient.rules.can_share_matricule``): the
mappings never see an unqualified matricule, so they cannot leak one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class PatientFacts:
    id: uuid.UUID
    family: str               # used name, else birth name
    given: str                # first given name
    birth_date: dt.date
    sex: str                  # M / F (INS trait)
    ins: str | None = None    # matricule INS, only for a qualified identity
    ins_oid: str | None = None


@dataclass(frozen=True)
class AuthorFacts:
    user_id: uuid.UUID
    name: str
    family: str
    given: str | None
    rpps: str | None          # 11 digits; IdNat_PS is "8" + RPPS (DOMAIN §1.3)


@dataclass(frozen=True)
class CustodianFacts:
    name: str
    finess: str | None        # FINESS (géographique); IdNat_Struct is "1" + FINESS


@dataclass(frozen=True)
class DocumentFacts:
    id: uuid.UUID
    series_id: uuid.UUID
    version: int
    replaces_id: uuid.UUID | None
    type_code: str
    title: str
    status: str               # rules.Status value
    confidentiality: str      # rules.Confidentiality value
    act_date: dt.date
    created_at: dt.datetime
    media_type: str
    size_bytes: int
    sha256: str               # hex
    file_name: str
    sha1: str | None = None   # hex; None only before it is known (then the mapping computes it from the content)


@dataclass(frozen=True)
class ExportFacts:
    document: DocumentFacts
    patient: PatientFacts
    author: AuthorFacts
    custodian: CustodianFacts | None
    content: bytes | None     # None when the export needs only the metadata (a DocumentReference)
