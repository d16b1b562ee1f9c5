"""Care relationships and break-the-glass accesses: the data that decides whose patient data an actor sees."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, UTCDateTime, new_id
from maillage.kit.sealed import SealedText

RELATIONSHIP_KINDS_SQL = (
    "'requester', 'expert', 'care_team', 'participant', 'prescriber', 'dispenser', 'care_unit', 'attending'"
)


class CareRelationship(Base):
    __tablename__ = "care_relationship"
    __table_args__ = (
        CheckConstraint(f"kind in ({RELATIONSHIP_KINDS_SQL})", name="kind_known"),
        CheckConstraint("ends_at is null or ends_at > starts_at", name="ends_after_start"),
        Index("ix_care_relationship_user_patient", "user_id", "patient_id"),
        Index("ix_care_relationship_source", "source_type", "source_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="CASCADE"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="RESTRICT"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    source_type: Mapped[str | None] = mapped_column(String(64), default=None)
    source_id: Mapped[str | None] = mapped_column(String(64), default=None)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


# Why an exceptional access was opened: an emergency (bris de glace), or joining an identity already in the GHT
# without a care act (the creator knew the strict traits). Both carry a reason, expire and go to the review list.
BREAK_GLASS_GROUNDS_SQL = "'emergency', 'identity_attach'"


class BreakGlassAccess(Base):
    __tablename__ = "break_glass_access"
    __table_args__ = (
        Index("ix_break_glass_user_patient", "user_id", "patient_id"),
        CheckConstraint("expires_at > starts_at", name="expires_after_start"),
        CheckConstraint(f"ground in ({BREAK_GLASS_GROUNDS_SQL})", name="ground_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="CASCADE"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    reason: Mapped[str] = mapped_column(SealedText("break_glass_access.reason"))
    ground: Mapped[str] = mapped_column(String(32), default="emergency", server_default="emergency")
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    review_comment: Mapped[str | None] = mapped_column(SealedText("break_glass_access.review_comment"), default=None)
