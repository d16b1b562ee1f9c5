"""Billing: the ledger of billable telemedicine acts (every source) and the monthly statements computed from it.

Statuses, sources and rejection reasons are those of ``maillage.billing.rules``. An entry is never deleted nor its
amount edited: a correction is a new entry pointing at the one it corrects, which is kept (status ``corrected``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, PortableJSON, UTCDateTime, new_id

ENTRY_STATUSES_SQL = "'to_bill', 'billed', 'rejected', 'not_billable', 'corrected'"
SOURCES_SQL = "'teleexpertise', 'teleconsultation', 'monitoring', 'correction'"


class BillingEntry(Base):
    """One act in the ledger: who performed it (RPPS), for which establishment (FINESS), for which patient, the
    code and amount at the act's date (Paris), its status and the act it comes from (``source``, ``source_id``;
    ``source_key`` makes collecting an act twice impossible)."""

    __tablename__ = "billing_entry"
    __table_args__ = (
        UniqueConstraint("source_key", name="uq_billing_entry_source_key"),
        CheckConstraint(f"status in ({ENTRY_STATUSES_SQL})", name="status_known"),
        CheckConstraint(f"source in ({SOURCES_SQL})", name="source_known"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        CheckConstraint("(status in ('rejected', 'not_billable')) = (reason is not null)", name="reason_when_refused"),
        Index("ix_billing_entry_establishment_month", "establishment_id", "month", "code"),
        # The page's list of a month's entries, in its keyset order (act date, code, id), with or without a status.
        Index("ix_billing_entry_page", "establishment_id", "month", "act_date", "code", "id"),
        Index("ix_billing_entry_page_status", "establishment_id", "month", "status", "act_date", "code", "id"),
        Index("ix_billing_entry_professional_month", "professional_user_id", "month"),
        Index("ix_billing_entry_source", "source_id", "source"),
        Index("ix_billing_entry_cap", "patient_id", "professional_user_id", "code", "act_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    source: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    source_key: Mapped[str | None] = mapped_column(String(80), default=None)
    corrects_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("billing_entry.id", ondelete="RESTRICT"), default=None, index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="RESTRICT"))
    professional_user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"), default=None)
    rpps: Mapped[str | None] = mapped_column(String(11), default=None)
    establishment_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("establishment.id", ondelete="RESTRICT"), default=None)
    finess: Mapped[str | None] = mapped_column(String(9), default=None)
    code: Mapped[str] = mapped_column(String(8))
    act_date: Mapped[dt.date] = mapped_column(Date)
    month: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    tariff_source: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32), default=None)  # a code of rules.Reason, never free text
    cap_reached: Mapped[bool] = mapped_column(Boolean, default=False)  # the last act the yearly cap allows
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None)


class BillingStatement(Base):
    """A monthly statement as computed by the worker on the 1st (or on demand): per establishment or per
    professional, the counts and amounts per code and status (``lines``). Counts and amounts only, no patient."""

    __tablename__ = "billing_statement"
    __table_args__ = (
        UniqueConstraint("scope", "scope_id", "month", name="uq_billing_statement_scope_month"),
        CheckConstraint("scope in ('establishment', 'professional')", name="scope_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    scope: Mapped[str] = mapped_column(String(16))
    scope_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    month: Mapped[dt.date] = mapped_column(Date)
    lines: Mapped[list[dict[str, object]]] = mapped_column(PortableJSON, default=list)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class BillingDeclaredActivity(Base):
    """A professional's whole activity of a calendar year (acts in person and remote, everywhere) as declared to the
    billing office: the denominator of the teleconsultation share the platform cannot see (DOMAIN.md §2.1). Dated:
    a new declaration is a new row, the latest of the year applies, the earlier ones are kept."""

    __tablename__ = "billing_declared_activity"
    __table_args__ = (
        CheckConstraint("total_acts >= 0", name="total_non_negative"),
        Index("ix_billing_declared_activity_user_year", "user_id", "year", "declared_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"))
    year: Mapped[int] = mapped_column(SmallInteger)
    total_acts: Mapped[int] = mapped_column(Integer)
    declared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    declared_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
