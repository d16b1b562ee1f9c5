"""Patient identity (strict traits, INS, identity status), consents and objections, identity-vigilance merges.

The strict traits are stored as received; the ``*_norm`` columns and ``duplicate_key`` hold their comparison form
(``maillage.patient.rules.normalise_name`` / ``duplicate_key``) so searches and duplicate detection are indexed.
A record merged into another keeps its data and points at the kept record (``merged_into_id``): the merge is
reversible.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, PortableJSON, UTCDateTime, new_id
from maillage.kit.sealed import SealedText

IDENTITY_STATUSES_SQL = "'PROV', 'RECUP', 'VALI', 'QUAL'"
CONSENT_PURPOSES_SQL = "'teleexpertise', 'teleconsultation', 'telesurveillance', 'data_reuse'"
IDENTITY_DOCUMENTS_SQL = "'passport', 'identity_card', 'residence_permit', 'birth_certificate', 'family_record_book'"


class Patient(Base):
    __tablename__ = "patient"
    __table_args__ = (
        CheckConstraint("sex in ('M', 'F')", name="sex_known"),
        CheckConstraint(f"identity_status in ({IDENTITY_STATUSES_SQL})", name="identity_status_known"),
        CheckConstraint("(ins_matricule is null) = (ins_oid is null)", name="ins_complete"),
        CheckConstraint(
            f"identity_document is null or identity_document in ({IDENTITY_DOCUMENTS_SQL})",
            name="identity_document_known",
        ),
        CheckConstraint("merged_into_id is null or merged_into_id <> id", name="not_merged_into_itself"),
        Index("ix_patient_names", "birth_name_norm", "first_given_name_norm"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # The five strict traits (DOMAIN §1.2), as received.
    birth_name: Mapped[str] = mapped_column(String(100))
    given_names: Mapped[str] = mapped_column(String(200))  # birth given names, space-separated, first one first
    birth_date: Mapped[dt.date] = mapped_column(Date, index=True)
    sex: Mapped[str] = mapped_column(String(1))
    birthplace: Mapped[str] = mapped_column(String(5))  # COG code of the place of birth (99 + country abroad)
    # Used identity (nom et prénom utilisés), for people to call the patient.
    used_name: Mapped[str | None] = mapped_column(String(100), default=None)
    used_given_name: Mapped[str | None] = mapped_column(String(100), default=None)
    # Comparison forms.
    birth_name_norm: Mapped[str] = mapped_column(String(100))
    first_given_name_norm: Mapped[str] = mapped_column(String(100))
    used_name_norm: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    duplicate_key: Mapped[str] = mapped_column(String(300), index=True)
    # Identity reliability and the INS.
    identity_status: Mapped[str] = mapped_column(String(5), default="PROV")
    identity_attributes: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    ins_matricule: Mapped[str | None] = mapped_column(String(15), default=None, index=True)
    ins_oid: Mapped[str | None] = mapped_column(String(32), default=None)
    insi_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    document_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    identity_document: Mapped[str | None] = mapped_column(String(32), default=None)
    # Contact and residence.
    phone: Mapped[str | None] = mapped_column(String(30), default=None)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    address_line: Mapped[str | None] = mapped_column(String(200), default=None)
    postcode: Mapped[str | None] = mapped_column(String(5), default=None)
    commune_insee: Mapped[str | None] = mapped_column(String(5), default=None, index=True)
    # Médecin traitant (a professional of the directory).
    attending_professional_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("professional.id", ondelete="SET NULL"), default=None, index=True
    )
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("patient.id", ondelete="SET NULL"), default=None, index=True
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class PatientConsent(Base):
    """One consent or objection, as recorded: rows are only added, so the history is kept; the latest per purpose
    is the patient's current choice."""

    __tablename__ = "patient_consent"
    __table_args__ = (
        CheckConstraint(f"purpose in ({CONSENT_PURPOSES_SQL})", name="purpose_known"),
        CheckConstraint("decision in ('consent', 'objection')", name="decision_known"),
        CheckConstraint("source in ('oral', 'written', 'patient_portal', 'legal_representative')", name="source_known"),
        Index("ix_patient_consent_patient_purpose", "patient_id", "purpose", "recorded_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    decision: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32), default="oral")
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class IdentityMerge(Base):
    """A merge of two records of one person by the identity officer; undoing it sets ``unmerged_at``."""

    __tablename__ = "identity_merge"
    __table_args__ = (CheckConstraint("kept_patient_id <> merged_patient_id", name="distinct_records"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kept_patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="CASCADE"), index=True)
    merged_patient_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("patient.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(SealedText("identity_merge.reason"))
    merged_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    merged_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    relationships_copied: Mapped[int] = mapped_column(default=0)
    unmerged_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    unmerged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    unmerge_reason: Mapped[str | None] = mapped_column(SealedText("identity_merge.unmerge_reason"), default=None)


class IdentityPairReview(Base):
    """Two records the identity officer found to be two different people (homonyms): left off the worklist."""

    __tablename__ = "identity_pair_review"
    __table_args__ = (
        UniqueConstraint("first_patient_id", "second_patient_id"),
        CheckConstraint("first_patient_id <> second_patient_id", name="distinct_records"),
        CheckConstraint("decision in ('distinct')", name="decision_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    first_patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="CASCADE"))
    second_patient_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("patient.id", ondelete="CASCADE"), index=True
    )
    decision: Mapped[str] = mapped_column(String(16), default="distinct")
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    reviewed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


ALLERGY_KINDS_SQL = "'allergy', 'intolerance'"
ALLERGY_CRITICALITIES_SQL = "'low', 'high', 'unable-to-assess'"


class PatientAllergy(Base):
    """An allergy or intolerance of the patient (FHIR AllergyIntolerance: type, criticality, verification status).

    The substance and the reaction are health data, sealed; the substance code is the public drug database's
    (``CIS_COMPO``) when the substance was chosen from it. An entry is never deleted: a wrong one is marked
    entered in error, with who and when.
    """

    __tablename__ = "patient_allergy"
    __table_args__ = (
        CheckConstraint(f"kind in ({ALLERGY_KINDS_SQL})", name="kind_known"),
        CheckConstraint(f"criticality in ({ALLERGY_CRITICALITIES_SQL})", name="criticality_known"),
        CheckConstraint("status in ('active', 'entered-in-error')", name="status_known"),
        CheckConstraint("(status = 'entered-in-error') = (entered_in_error_at is not null)", name="error_dated"),
        Index("ix_patient_allergy_patient", "patient_id", "recorded_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="CASCADE"))
    substance: Mapped[str] = mapped_column(SealedText("patient_allergy.substance"))
    substance_code: Mapped[str | None] = mapped_column(String(12), default=None)
    reaction: Mapped[str | None] = mapped_column(SealedText("patient_allergy.reaction"), default=None)
    kind: Mapped[str] = mapped_column(String(16), default="allergy")
    criticality: Mapped[str] = mapped_column(String(24), default="unable-to-assess")
    status: Mapped[str] = mapped_column(String(24), default="active")
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    entered_in_error_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    entered_in_error_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
