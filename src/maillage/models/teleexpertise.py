"""Tele-expertise: requests to a specialty line, their thread and timeline, admissions they open, billable acts.

Statuses, orientations and tariffs are those of ``maillage.teleexpertise.rules`` (the Confluences status model).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, PortableJSON, UTCDateTime, new_id
from maillage.kit.sealed import SealedText

STATUSES_SQL = "'draft', 'published', 'in_progress', 'awaiting_information', 'completed', 'declined', 'cancelled'"
ORIENTATIONS_SQL = (
    "'advice_only', 'act_relevant', 'act_not_relevant', 'teleconsultation', 'consultation', "
    "'scheduled_hospitalisation', 'urgent_transfer'"
)
ADMISSION_STATUSES_SQL = "'requested', 'accepted', 'refused', 'arrived', 'cancelled'"


class TeleexpertiseRequest(Base):
    """A request from a requester (requérant) to a specialty line, optionally to a named specialist (requis)."""

    __tablename__ = "teleexpertise_request"
    __table_args__ = (
        CheckConstraint(f"status in ({STATUSES_SQL})", name="status_known"),
        CheckConstraint("urgency in ('routine', 'urgent', 'very_urgent')", name="urgency_known"),
        CheckConstraint(f"orientation is null or orientation in ({ORIENTATIONS_SQL})", name="orientation_known"),
        CheckConstraint("committed_minutes is null or committed_minutes > 0", name="committed_minutes_positive"),
        # The specialists' worklist: a line's open requests by urgency then due time, read in index order. Partial
        # (open requests only, a small share of the table) on both engines; the query repeats the predicate.
        Index("ix_teleexpertise_request_worklist", "line_id", "worklist_rank", "due_at", "id",
              postgresql_where=text("worklist_rank is not null"), sqlite_where=text("worklist_rank is not null")),
        # The worker's deadline sweeps (reminders, escalations) over open requests, earliest due first.
        Index("ix_teleexpertise_request_open_due", "due_at",
              postgresql_where=text("worklist_rank is not null"), sqlite_where=text("worklist_rank is not null")),
        # The coordinator's board: a line's requests submitted over the period, with every column the board reads
        # (an index-only scan: the wide rows are not visited).
        Index("ix_teleexpertise_request_board", "line_id", "submitted_at", "requester_establishment_id", "signed_at",
              "orientation"),
        # "Mes demandes": a requester's requests, most recently changed first.
        Index("ix_teleexpertise_request_requester_updated", "requester_id", "updated_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="RESTRICT"), index=True)
    line_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("specialty_line.id", ondelete="RESTRICT"))
    requester_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"))
    requester_establishment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    named_expert_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None, index=True
    )
    status: Mapped[str] = mapped_column(String(24), default="draft")
    urgency: Mapped[str] = mapped_column(String(16), default="routine")
    # 0 very urgent, 1 urgent, 2 routine while the request is open (published, in progress, awaiting information),
    # null otherwise (draft, completed, declined, cancelled): the worklist's sort key, kept by the repository on every
    # status change (``repository.worklist_rank``).
    worklist_rank: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    # Sealed (encrypted at rest, ``maillage.kit.sealed``). Lists show the question and the closing reason only: the
    # context, the opinion and the act are loaded (one query, their group) and decrypted when a page reads them.
    question: Mapped[str] = mapped_column(SealedText("teleexpertise_request.question"), default="")
    clinical_context: Mapped[str] = mapped_column(SealedText("teleexpertise_request.clinical_context"), default="",
                                                  deferred=True, deferred_group="detail_text")
    # What the requester declares joined (ECG, treatments...); photos are counted from the attachments.
    provided: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    patient_inpatient: Mapped[bool] = mapped_column(Boolean, default=False)
    committed_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    reminder_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    # The signed opinion (compte rendu content) or the reason of a refusal / cancellation.
    answer: Mapped[str | None] = mapped_column(SealedText("teleexpertise_request.answer"), default=None,
                                               deferred=True, deferred_group="detail_text")
    orientation: Mapped[str | None] = mapped_column(String(32), default=None)
    act: Mapped[str | None] = mapped_column(SealedText("teleexpertise_request.act"), default=None,
                                            deferred=True, deferred_group="detail_text")
    delay_days: Mapped[int | None] = mapped_column(Integer, default=None)
    signed_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    signed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    closing_reason: Mapped[str | None] = mapped_column(SealedText("teleexpertise_request.closing_reason"), default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class TeleexpertiseMessage(Base):
    """The thread: a specialist's question (pauses the due time until answered) and the requester's reply."""

    __tablename__ = "teleexpertise_message"
    __table_args__ = (CheckConstraint("kind in ('question', 'reply')", name="kind_known"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("teleexpertise_request.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(SealedText("teleexpertise_message.body"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    # For a question: when the requester replied (the end of the pause).
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class TeleexpertiseEvent(Base):
    """One step of a request's timeline (who did what, when, from which status to which, and why)."""

    __tablename__ = "teleexpertise_event"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("teleexpertise_request.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24), default=None)
    to_status: Mapped[str | None] = mapped_column(String(24), default=None)
    target_user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    reason: Mapped[str | None] = mapped_column(SealedText("teleexpertise_event.reason"), default=None)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class TeleexpertiseAdmission(Base):
    """An admission request opened by a hospitalisation or transfer orientation, tracked to the patient's arrival."""

    __tablename__ = "teleexpertise_admission"
    __table_args__ = (
        CheckConstraint(f"status in ({ADMISSION_STATUSES_SQL})", name="status_known"),
        CheckConstraint(
            "orientation in ('scheduled_hospitalisation', 'urgent_transfer')", name="orientation_known"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("teleexpertise_request.id", ondelete="CASCADE"), unique=True
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="RESTRICT"), index=True)
    establishment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("establishment.id", ondelete="RESTRICT"), index=True
    )
    orientation: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="requested")
    planned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    reason: Mapped[str | None] = mapped_column(SealedText("teleexpertise_admission.reason"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class TeleexpertiseAct(Base):
    """A tele-expertise act recorded at completion (TE2 for the specialist, RQD for the requester), priced at the
    act date; the billing export reads this table."""

    __tablename__ = "teleexpertise_act"
    __table_args__ = (
        UniqueConstraint("request_id", "code"),
        CheckConstraint("code in ('TE2', 'RQD')", name="code_known"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        Index("ix_teleexpertise_act_cap", "patient_id", "professional_user_id", "code", "act_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    request_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("teleexpertise_request.id", ondelete="RESTRICT"), index=True
    )
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="RESTRICT"))
    professional_user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="RESTRICT")
    )
    professional_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("professional.id", ondelete="SET NULL"), default=None
    )
    code: Mapped[str] = mapped_column(String(8))
    act_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    tariff_source: Mapped[str] = mapped_column(String(200))
    billable: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(200))
    exported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class TeleexpertiseNotification(Base):
    """An in-app notice to a professional about a request (new question, opinion ready, reminder, escalation)."""

    __tablename__ = "teleexpertise_notification"
    __table_args__ = (
        CheckConstraint(
            "kind in ('submitted', 'question', 'reply', 'answered', 'declined', 'reminder', 'escalation')",
            name="kind_known",
        ),
        Index("ix_teleexpertise_notification_user_unread", "user_id", "read_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="CASCADE"))
    request_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("teleexpertise_request.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class TeleexpertiseBoardSnapshot(Base):
    """The coordinator's board as last computed: one row per line (``whole_line``) and one per line and requesting
    establishment (``establishment_id`` None: requesters attached to no establishment), for a period of
    ``period_days`` days plus the requests still open. Recomputed by the worker every few minutes and on demand
    when absent or stale; the page reads it with one indexed query. Counts and delays only, no patient data."""

    __tablename__ = "teleexpertise_board_snapshot"
    __table_args__ = (
        Index("ix_teleexpertise_board_snapshot_line", "line_id", "period_days"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    line_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("specialty_line.id", ondelete="CASCADE"))
    period_days: Mapped[int] = mapped_column(Integer)
    whole_line: Mapped[bool] = mapped_column(Boolean)
    establishment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    volume: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)
    median_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    p90_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    open_count: Mapped[int] = mapped_column(Integer)
    overdue: Mapped[int] = mapped_column(Integer)
    # Orientation (rules value) -> number of signed opinions with it; kinds never given are absent.
    orientations: Mapped[dict[str, int]] = mapped_column(PortableJSON, default=dict)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
