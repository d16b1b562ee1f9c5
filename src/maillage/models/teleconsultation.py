"""Teleconsultation: a practitioner's availability, the appointments booked in it and the patient's links.

Statuses and availability rules are those of ``maillage.teleconsultation.rules``.
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
from maillage.kit.db import Base, UTCDateTime, new_id
from maillage.kit.sealed import SealedText

STATUSES_SQL = "'booked', 'waiting', 'in_consultation', 'done', 'cancelled', 'rescheduled', 'no_show'"
# Statuses that hold their slot: the appointment's start is then unique for its practitioner.
HOLDS_SLOT_SQL = "status not in ('cancelled', 'rescheduled')"
FOLLOW_UPS_SQL = "'teleconsultation', 'in_person', 'teleexpertise'"
NOTICE_KINDS_SQL = ("'reminder_day', 'reminder_hour', 'rescheduled', 'report_sent', 'follow_up', "
                    "'booked_for_you'")
# The nurse's accompaniment codes (NGAP art. 14.9.5), beside the practitioner's teleconsultation codes.
ASSISTANCE_SQL = "'TLS', 'TLL', 'TLD'"


class TeleconsultationAvailability(Base):
    """One range of a practitioner's availability: weekly (a weekday), an addition on one day, or an absence.

    Times are minutes from midnight, Paris time (the practitioner's wall clock); an absence covers every line and
    place of the practitioner on that day between its two times."""

    __tablename__ = "teleconsultation_availability"
    __table_args__ = (
        CheckConstraint("kind in ('weekly', 'extra', 'absence')", name="kind_known"),
        CheckConstraint("start_minute >= 0 and start_minute < end_minute and end_minute <= 1440",
                        name="minutes_ordered"),
        CheckConstraint("(kind = 'weekly' and weekday between 0 and 6 and day is null) or "
                        "(kind <> 'weekly' and weekday is null and day is not null)", name="weekday_or_day"),
        CheckConstraint("(kind = 'absence' and slot_minutes is null and line_id is null) or "
                        "(kind <> 'absence' and slot_minutes between 5 and 120 and line_id is not null)",
                        name="slots_or_absence"),
        Index("ix_teleconsultation_availability_practitioner", "practitioner_id", "kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    practitioner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="CASCADE"))
    line_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("specialty_line.id", ondelete="CASCADE"), default=None, index=True)
    place: Mapped[str] = mapped_column(String(100), default="remote")
    kind: Mapped[str] = mapped_column(String(8))
    weekday: Mapped[int | None] = mapped_column(SmallInteger, default=None)  # 0 Monday … 6 Sunday
    day: Mapped[dt.date | None] = mapped_column(Date, default=None)
    start_minute: Mapped[int] = mapped_column(SmallInteger)
    end_minute: Mapped[int] = mapped_column(SmallInteger)
    slot_minutes: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class TeleconsultationAppointment(Base):
    """A slot of a practitioner booked for a patient by a requester; its state follows ``rules.Status``."""

    __tablename__ = "teleconsultation_appointment"
    __table_args__ = (
        CheckConstraint(f"status in ({STATUSES_SQL})", name="status_known"),
        CheckConstraint("starts_at < ends_at", name="slot_ordered"),
        # Double booking is impossible: one live appointment per practitioner and start. Two concurrent bookings of
        # one slot: the second insert waits for the first transaction, then fails on this index (exactly one wins).
        Index("uq_teleconsultation_appointment_slot", "practitioner_id", "starts_at", unique=True,
              postgresql_where=text(HOLDS_SLOT_SQL), sqlite_where=text(HOLDS_SLOT_SQL)),
        Index("ix_teleconsultation_appointment_practitioner_day", "practitioner_id", "starts_at"),
        Index("ix_teleconsultation_appointment_requester", "requester_id", "starts_at"),
        CheckConstraint(f"follow_up_kind is null or follow_up_kind in ({FOLLOW_UPS_SQL})", name="follow_up_known"),
        Index("ix_teleconsultation_appointment_line_day", "line_id", "starts_at"),
        CheckConstraint(f"assistance is null or assistance in ({ASSISTANCE_SQL})", name="assistance_known"),
        CheckConstraint("(assistance is null) = (assisting_nurse_id is null)", name="assistance_has_nurse"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="RESTRICT"), index=True)
    practitioner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"))
    line_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("specialty_line.id", ondelete="RESTRICT"))
    requester_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"))
    teleexpertise_request_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("teleexpertise_request.id", ondelete="SET NULL"), default=None, index=True)
    place: Mapped[str] = mapped_column(String(100), default="remote")
    # A teleconsultation room of an establishment (the USMP's room): the booking held it too (``assisted``).
    place_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("teleconsultation_place.id", ondelete="RESTRICT"), default=None, index=True)
    # Assisted: a nurse with the patient opens the patient's side from their own account (no patient link), and the
    # accompaniment code (TLS, TLL, TLD) for their billing record.
    assistance: Mapped[str | None] = mapped_column(String(3), default=None)
    assisting_nurse_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"), default=None, index=True)
    consent_recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="booked")
    # Sealed (encrypted at rest): the reason of the consultation, and the reason of a cancellation or rescheduling.
    reason: Mapped[str] = mapped_column(SealedText("teleconsultation_appointment.reason"), default="")
    closing_reason: Mapped[str | None] = mapped_column(
        SealedText("teleconsultation_appointment.closing_reason"), default=None)
    rescheduled_to_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    third_party_present: Mapped[bool | None] = mapped_column(Boolean, default=None)
    arrived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    admitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    # The compte rendu (CSP R6316-4): the practitioner's report, the acts and prescriptions made, the technical
    # incidents; sealed at rest. Signed once; the signed PDF is a document of the patient.
    report: Mapped[str | None] = mapped_column(SealedText("teleconsultation_appointment.report"), default=None,
                                               deferred=True, deferred_group="report_text")
    report_prescriptions: Mapped[str | None] = mapped_column(
        SealedText("teleconsultation_appointment.report_prescriptions"), default=None, deferred=True,
        deferred_group="report_text")
    report_incidents: Mapped[str | None] = mapped_column(
        SealedText("teleconsultation_appointment.report_incidents"), default=None, deferred=True,
        deferred_group="report_text")
    report_signed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    report_document_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("document.id", ondelete="SET NULL"), default=None)
    # Scheduling and after-care (teleconsultation/scheduling.py, reminders.py, aftercare.py).
    rescheduled_from_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    booked_by_coordinator: Mapped[bool] = mapped_column(Boolean, default=False)
    reminder_day_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    reminder_hour_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    report_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    follow_up_kind: Mapped[str | None] = mapped_column(String(16), default=None)
    follow_up_note: Mapped[str | None] = mapped_column(SealedText("teleconsultation_appointment.follow_up_note"),
                                                      default=None)
    follow_up_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class TeleconsultationLink(Base):
    """The patient's way in: a random token handed once to the requester, stored as its SHA-256 only.

    Opening it (once) starts a link session, a second random secret kept in a cookie (its hash stored here) that
    opens that appointment's pages and room only, within the link's window."""

    __tablename__ = "teleconsultation_link"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    appointment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("teleconsultation_appointment.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class TeleconsultationPlace(Base):
    """A teleconsultation room of an establishment (the USMP's room, an EHPAD's dedicated room), managed by the
    accounts acting for that establishment; its opening hours are ``TeleconsultationPlaceRange`` rows."""

    __tablename__ = "teleconsultation_place"
    __table_args__ = (UniqueConstraint("establishment_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    establishment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("establishment.id", ondelete="CASCADE"), index=True)
    care_unit_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("care_unit.id", ondelete="SET NULL"), default=None)
    name: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class TeleconsultationPlaceRange(Base):
    """When a place is open: weekly (a weekday), an addition on one day, or a closure (``absence``) on one day;
    minutes from midnight, Paris time, as a practitioner's ranges (``rules.place_open``)."""

    __tablename__ = "teleconsultation_place_range"
    __table_args__ = (
        CheckConstraint("kind in ('weekly', 'extra', 'absence')", name="kind_known"),
        CheckConstraint("start_minute >= 0 and start_minute < end_minute and end_minute <= 1440",
                        name="minutes_ordered"),
        CheckConstraint("(kind = 'weekly' and weekday between 0 and 6 and day is null) or "
                        "(kind <> 'weekly' and weekday is null and day is not null)", name="weekday_or_day"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    place_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("teleconsultation_place.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    weekday: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    day: Mapped[dt.date | None] = mapped_column(Date, default=None)
    start_minute: Mapped[int] = mapped_column(SmallInteger)
    end_minute: Mapped[int] = mapped_column(SmallInteger)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class TeleconsultationAct(Base):
    """A teleconsultation act recorded when the report is signed (TCG for the practitioner), priced at the act's date
    from the dated tariff table (``maillage.directory.tariffs``); the billing export reads this table. An assisted
    consultation also records, when it ends, the nurse's accompaniment act (TLS, TLL or TLD) for the nurse."""

    __tablename__ = "teleconsultation_act"
    __table_args__ = (
        UniqueConstraint("appointment_id", "code"),
        CheckConstraint(f"code in ('TCG', 'TC', {ASSISTANCE_SQL})", name="code_known"),
        CheckConstraint("amount >= 0", name="amount_non_negative"),
        Index("ix_teleconsultation_act_professional_date", "professional_user_id", "act_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    appointment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("teleconsultation_appointment.id", ondelete="RESTRICT"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="RESTRICT"), index=True)
    professional_user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="RESTRICT"))
    code: Mapped[str] = mapped_column(String(8))
    act_date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    tariff_source: Mapped[str] = mapped_column(String(200))
    exported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class TeleconsultationNotice(Base):
    """An in-app notice about an appointment for one professional (a reminder, a rescheduling, the signed report,
    a follow-up ordered): ids and a kind only, the appointment's page says the rest to whoever may read it. Its email,
    when the platform sends mail, goes through the outbox (a link only)."""

    __tablename__ = "teleconsultation_notice"
    __table_args__ = (
        UniqueConstraint("appointment_id", "user_id", "kind"),
        CheckConstraint(f"kind in ({NOTICE_KINDS_SQL})", name="kind_known"),
        Index("ix_teleconsultation_notice_user", "user_id", "read_at", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="CASCADE"))
    appointment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("teleconsultation_appointment.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class TeleconsultationEvent(Base):
    """The appointment's timeline: what happened to it, when, by whom (no free text: the reasons are sealed on the
    appointment)."""

    __tablename__ = "teleconsultation_event"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    appointment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("teleconsultation_appointment.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    other_appointment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class TeleconsultationActivity(Base):
    """The practitioner's declared in-person activity of a calendar year (consultations and visits), the part of the
    yearly teleconsultation share's denominator the platform cannot see (DOMAIN.md §2.1)."""

    __tablename__ = "teleconsultation_activity"
    __table_args__ = (
        UniqueConstraint("user_id", "year"),
        CheckConstraint("in_person_count >= 0", name="count_non_negative"),
        CheckConstraint("other_teleconsultations >= 0", name="other_non_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(SmallInteger)
    in_person_count: Mapped[int] = mapped_column(Integer)
    other_teleconsultations: Mapped[int] = mapped_column(Integer, default=0)
    declared_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
class TeleconsultationLateNotice(Base):
    """A practitioner's late notice to the patients of their day: a delay in minutes chosen from a list (no free
    text, so no health data), shown live in the waiting rooms and to the patients who arrive after it."""

    __tablename__ = "teleconsultation_late_notice"
    __table_args__ = (
        CheckConstraint("minutes between 1 and 240", name="minutes_bounded"),
        Index("ix_teleconsultation_late_notice_practitioner", "practitioner_id", "sent_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    practitioner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="CASCADE"))
    minutes: Mapped[int] = mapped_column(SmallInteger)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class TeleconsultationQualitySample(Base):
    """One sample of a room's connection quality as a browser measured it (``getStats``): round-trip time, packet
    loss, jitter and the received video's resolution. Figures only: nothing of the media is kept."""

    __tablename__ = "teleconsultation_quality_sample"
    __table_args__ = (
        CheckConstraint("role in ('practitioner', 'patient', 'guest')", name="role_known"),
        Index("ix_teleconsultation_quality_sample_appointment", "appointment_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    appointment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("teleconsultation_appointment.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    rtt_ms: Mapped[float | None] = mapped_column(Float, default=None)
    loss_pct: Mapped[float | None] = mapped_column(Float, default=None)
    jitter_ms: Mapped[float | None] = mapped_column(Float, default=None)
    width: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    height: Mapped[int | None] = mapped_column(SmallInteger, default=None)


class TeleconsultationGuest(Base):
    """A third participant invited to a consultation (interpreter, family member, nurse, second specialist): by a
    one-time link (only its hash stored; opening it starts a session whose hash is kept, as the patient's link) or by
    account (``user_id``). They consent, then the patient accepts (or refuses) them before they are admitted."""

    __tablename__ = "teleconsultation_guest"
    __table_args__ = (
        CheckConstraint("capacity in ('interpreter', 'family', 'nurse', 'specialist')", name="capacity_known"),
        CheckConstraint("(token_hash is null) <> (user_id is null)", name="link_or_account"),
        CheckConstraint("patient_decision is null or patient_decision in ('accepted', 'refused')",
                        name="decision_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    appointment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("teleconsultation_appointment.id", ondelete="CASCADE"), index=True)
    capacity: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="CASCADE"), default=None, index=True)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    session_hash: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    patient_decision: Mapped[str | None] = mapped_column(String(8), default=None)
    patient_decision_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
