"""Prescriptions (``maillage.prescription``): the prescription, its lines and their dispensations.

A prescription is written as a draft, then signed: its unique number (``prescription.rules.new_number``), the
canonical content that was signed (sealed: it holds the patient's name and treatment), the Ed25519 signature and
the id of the key that made it. A line is a speciality (CIS, optionally one box's CIP13) or a substance (DCI),
with its structured posology; ``dispensed_quantity`` is what pharmacies have delivered of it so far, moved only by
a conditional update so that two pharmacists cannot both deliver the last box. Free text (instructions,
conditions, reasons, the drug's label) is sealed through the vault.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, UTCDateTime, new_id
from maillage.kit.sealed import SealedText


class Prescription(Base):
    __tablename__ = "prescription"
    __table_args__ = (
        CheckConstraint("status in ('draft', 'signed', 'partially_dispensed', 'dispensed', 'cancelled', 'expired')",
                        name="status_known"),
        CheckConstraint("source_kind in ('patient', 'opinion', 'teleconsultation')", name="source_kind_known"),
        Index("ix_prescription_patient", "patient_id", "created_at"),
        Index("ix_prescription_prescriber", "prescriber_id", "created_at"),
        Index("ix_prescription_pharmacy", "pharmacy_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    number: Mapped[str | None] = mapped_column(String(16), unique=True, default=None)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="RESTRICT"))
    prescriber_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    source_kind: Mapped[str] = mapped_column(String(16), default="patient")
    source_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    pharmacy_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("establishment.id"), default=None)
    drug_release_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("drug_release.id"), default=None)
    instructions: Mapped[str | None] = mapped_column(SealedText("prescription.instructions"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    signed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    valid_until: Mapped[dt.date | None] = mapped_column(Date, default=None)
    signed_content: Mapped[str | None] = mapped_column(SealedText("prescription.signed_content"), default=None)
    signature: Mapped[str | None] = mapped_column(String(100), default=None)
    signing_key_id: Mapped[str | None] = mapped_column(String(64), default=None)
    verification_code: Mapped[str | None] = mapped_column(String(8), default=None)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user_account.id"), default=None)
    cancel_reason: Mapped[str | None] = mapped_column(SealedText("prescription.cancel_reason"), default=None)


class PrescriptionLine(Base):
    __tablename__ = "prescription_line"
    __table_args__ = (
        CheckConstraint("kind in ('speciality', 'substance')", name="kind_known"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("renewals >= 0 and renewals <= 11", name="renewals_in_range"),
        CheckConstraint("dispensed_quantity >= 0 and dispensed_quantity <= quantity * (renewals + 1)",
                        name="dispensed_within_prescribed"),
        CheckConstraint("non_substitution_reason is null or non_substitution_reason in ('MTE', 'EFG', 'CIF')",
                        name="non_substitution_reason_known"),
        CheckConstraint("(non_substitution_reason is not null) = non_substitutable",
                        name="non_substitution_has_reason"),
        Index("ix_prescription_line_prescription", "prescription_id", "position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    prescription_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("prescription.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))
    cis: Mapped[str | None] = mapped_column(String(8), default=None)
    cip13: Mapped[str | None] = mapped_column(String(13), default=None)
    label: Mapped[str] = mapped_column(SealedText("prescription_line.label"))
    dose: Mapped[float] = mapped_column(Numeric(10, 3))
    dose_unit: Mapped[str] = mapped_column(String(20))
    times: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(8))
    duration: Mapped[int] = mapped_column(Integer)
    duration_unit: Mapped[str] = mapped_column(String(8))
    conditions: Mapped[str | None] = mapped_column(SealedText("prescription_line.conditions"), default=None)
    quantity: Mapped[int] = mapped_column(Integer)
    renewals: Mapped[int] = mapped_column(Integer, default=0)
    non_substitutable: Mapped[bool] = mapped_column(Boolean, default=False)
    non_substitution_reason: Mapped[str | None] = mapped_column(String(3), default=None)
    ald: Mapped[bool] = mapped_column(Boolean, default=False)
    dispensed_quantity: Mapped[int] = mapped_column(Integer, default=0)


class Dispensation(Base):
    """One pharmacist's delivery (or refusal to deliver) of one line."""

    __tablename__ = "prescription_dispensation"
    __table_args__ = (
        CheckConstraint("outcome in ('delivered', 'substituted', 'not_delivered')", name="outcome_known"),
        CheckConstraint("quantity >= 0", name="quantity_non_negative"),
        CheckConstraint("(outcome = 'substituted') = (substitute_cis is not null)", name="substitute_when_substituted"),
        Index("ix_prescription_dispensation_line", "line_id"),
        Index("ix_prescription_dispensation_prescription", "prescription_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    prescription_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("prescription.id", ondelete="CASCADE"))
    line_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("prescription_line.id", ondelete="CASCADE"))
    pharmacist_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    establishment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("establishment.id"), default=None)
    outcome: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(Integer)
    substitute_cis: Mapped[str | None] = mapped_column(String(8), default=None)
    reason: Mapped[str | None] = mapped_column(SealedText("prescription_dispensation.reason"), default=None)
    dispensed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
