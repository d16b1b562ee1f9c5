"""Telesurveillance: operator teams, devices, enrolments (with pauses and assigned devices), readings, the
per-patient rule state, alerts and their history, green receipts, escalation notifications, monthly forfaits.

Enrolments and alerts reference the patient record (``ON DELETE RESTRICT``). Readings and forfaits carry a
``patient_id`` without a key: they hang on their enrolment, which has one. A reading carries ``patient_id`` only
so that the patient's timeline reads one index; a foreign key there would make every reading insert of the
ingestion's hot path check (and on PostgreSQL share-lock) the patient row, for an id the ingestion copies from the
enrolment it has just resolved. Readings have no foreign key to their enrolment either, for the same reason
(revision 20261128_1750). See ``docs/monitoring.md``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, PortableJSON, UTCDateTime, new_id
from maillage.kit.sealed import SealedText

# A 64-bit identity on PostgreSQL, SQLite's rowid alias on SQLite.
ReadingId = BigInteger().with_variant(Integer(), "sqlite")

ENROLMENT_STATUSES_SQL = "'active', 'paused', 'ended'"
SEVERITIES_SQL = "'red', 'orange', 'green'"
OPEN_ALERT = text("status = 'open'")


class MonitoringTeam(Base):
    """An operator: the declared medical team of an establishment that runs telesurveillance."""

    __tablename__ = "monitoring_team"
    __table_args__ = (UniqueConstraint("establishment_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    establishment_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    name: Mapped[str] = mapped_column(String(200))
    ars_declaration: Mapped[str | None] = mapped_column(String(64), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class MonitoringTeamMember(Base):
    __tablename__ = "monitoring_team_member"
    __table_args__ = (
        UniqueConstraint("team_id", "user_id"),
        CheckConstraint("role in ('physician', 'nurse')", name="role_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    team_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("monitoring_team.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class MonitoringDevice(Base):
    """A connected device or gateway. ``identifier`` is the credential's device identifier (gateways) or the
    serial the gateway names in its readings (devices behind a gateway)."""

    __tablename__ = "monitoring_device"
    __table_args__ = (CheckConstraint("kind in ('device', 'gateway')", name="kind_known"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    identifier: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="device")
    label: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("monitoring_team.id", ondelete="CASCADE"), index=True)
    gateway_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("monitoring_device.id", ondelete="SET NULL"), default=None, index=True
    )
    credential_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("device_credential.id", ondelete="SET NULL"), default=None
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class MonitoringEnrolment(Base):
    __tablename__ = "monitoring_enrolment"
    __table_args__ = (
        CheckConstraint(f"status in ({ENROLMENT_STATUSES_SQL})", name="status_known"),
        CheckConstraint("duration_months >= 1 and duration_months <= 12", name="duration_at_most_one_year"),
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        Index("ix_monitoring_enrolment_patient_programme", "patient_id", "programme"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="RESTRICT"))
    team_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("monitoring_team.id"), index=True)
    programme: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    prescribed_on: Mapped[dt.date] = mapped_column(Date)
    prescriber_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    duration_months: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    consent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reference_values: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    overrides: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    enhanced_periods: Mapped[list[dict[str, Any]]] = mapped_column(PortableJSON, default=list)
    watch_from: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # start, or the last resumption
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class MonitoringRuleState(Base):
    """The rule engine's state for one enrolment, locked while a batch of readings is evaluated.

    Rewritten at every batch that brings its patient a reading: on PostgreSQL its pages keep a third free
    (``fillfactor`` 70) so that the new version stays on the page (a heap-only update, no index entry written)."""

    __tablename__ = "monitoring_rule_state"
    __table_args__ = ({"postgresql_with": {"fillfactor": 70}},)

    enrolment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("monitoring_enrolment.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[dict[str, Any]] = mapped_column(PortableJSON, default=dict)
    # When the next non-transmission alert falls due, for the scheduled check (None: nothing to watch).
    silence_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class MonitoringPause(Base):
    __tablename__ = "monitoring_pause"
    __table_args__ = (
        CheckConstraint("reason in ('hospitalisation', 'holidays', 'other')", name="reason_known"),
        CheckConstraint("ends_at is null or ends_at > starts_at", name="ends_after_start"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    enrolment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("monitoring_enrolment.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)


class MonitoringDeviceAssignment(Base):
    """A device lent to an enrolled patient; ``active_device_id`` is set while current (one patient at a time)."""

    __tablename__ = "monitoring_device_assignment"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    enrolment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("monitoring_enrolment.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("monitoring_device.id"), index=True)
    active_device_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, unique=True, default=None)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class MonitoringReading(Base):
    """One stored reading, in the programme's canonical unit; unique per (device, device's own reading id).

    A time-series table: ``device_id`` and ``enrolment_id`` carry no foreign key. They are validated at ingest,
    in the batch's transaction, by the one lookup that resolves the sending device, the devices behind it and the
    enrolment each was assigned to when the reading was taken (``repository.devices_with_assignments``): a reading
    of an unknown, foreign or unassigned device is refused before anything is written. Devices and enrolments are
    never deleted (a device is deactivated, an enrolment ended), so nothing can orphan a reading afterwards; the
    two per-row referential checks cost about a third of the insert of a scattered batch (docs/monitoring.md).
    """

    __tablename__ = "monitoring_reading"
    __table_args__ = (
        UniqueConstraint("device_id", "external_id"),
        CheckConstraint("status in ('monitored', 'paused', 'ended')", name="status_known"),
        Index("ix_monitoring_reading_patient_measure_taken", "patient_id", "measure", "taken_at"),
    )

    id: Mapped[int] = mapped_column(ReadingId, primary_key=True, autoincrement=True)
    device_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # no foreign key: checked at ingest (see above)
    external_id: Mapped[str] = mapped_column(String(128))
    enrolment_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # no foreign key: checked at ingest (see above)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # no foreign key: copied from the enrolment (module doc)
    measure: Mapped[str] = mapped_column(String(24))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    original_value: Mapped[float] = mapped_column(Float)
    original_unit: Mapped[str] = mapped_column(String(24))
    taken_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    local_day: Mapped[dt.date] = mapped_column(Date)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="monitored")  # paused / ended: stored, not alerted


class MonitoringGreenReceipt(Base):
    """"Acknowledge all green": who, when, how many, for which team."""

    __tablename__ = "monitoring_green_receipt"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    actor_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    count: Mapped[int] = mapped_column(Integer)


class MonitoringAlert(Base):
    """An alert. ``open_key`` ("enrolment:condition") is set while open: the unique index on ``(enrolment_id,
    open_key)`` keeps one open alert per patient and condition on both engines (NULLs never collide).

    Every index is written for each alert of a first reading, so there are only those a query reads: the primary
    key (updates by id, the timeline's and notifications' keys), ``enrolment_id, open_key`` (unique: the invariant;
    ingestion's open alerts, without the closed ones; the patient page's timeline), ``patient_id,
    opened_at`` of the open alerts only (the worklist, "acknowledge all green": a partial index, a fraction of the
    table) and ``updated_at`` (the live streams' change mark). No query filters on ``team_id``, nor on closed alerts
    by patient.

    No foreign key on ``enrolment_id``, as on the reading: alerts are written by ingestion and the scheduled check
    from the enrolment they have just read, and enrolments are never deleted (they end). The referential check
    looked the enrolment up and locked its row for each new alert, about a third of the alert's insert.
    ``patient_id`` does reference the patient record (issue 16: an alert is about a person). That check costs about
    a third of an alert's insert (``benchmarks/monitoring_alert_patient_key.py``), paid only when an alert opens:
    a repeated alert is an update that leaves ``patient_id`` alone.
    """

    __tablename__ = "monitoring_alert"
    __table_args__ = (
        CheckConstraint(f"severity in ({SEVERITIES_SQL})", name="severity_known"),
        CheckConstraint("status in ('open', 'closed')", name="status_known"),
        CheckConstraint("(status = 'open') = (open_key is not null)", name="open_key_when_open"),
        # The open alerts only: the worklist and "acknowledge all green" read nothing else by patient.
        Index("ix_monitoring_alert_open_patient", "patient_id", "opened_at", postgresql_where=OPEN_ALERT,
              sqlite_where=OPEN_ALERT),
        # Ingestion's open alerts of an enrolment: ``open_key IS NOT NULL`` decided in the index, so the closed
        # alerts of its history (a green a day) are never fetched; also the patient page's history.
        # Also the invariant: one open alert per patient and condition (``open_key`` is "enrolment:condition";
        # NULLs, the closed alerts, never collide). No query reads ``open_key`` alone.
        Index("ix_monitoring_alert_enrolment_open_key", "enrolment_id", "open_key", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    enrolment_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # no foreign key: written from a row just read (above)
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("patient.id", ondelete="RESTRICT"))
    team_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    condition: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    silence: Mapped[bool] = mapped_column(Boolean, default=False)  # a non-transmission alert ("data missing")
    status: Mapped[str] = mapped_column(String(8), default="open")
    open_key: Mapped[str | None] = mapped_column(String(80), default=None)
    message: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, default="")
    measure: Mapped[str | None] = mapped_column(String(24), default=None)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    reading_key: Mapped[str | None] = mapped_column(String(128), default=None)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    close_reason: Mapped[str | None] = mapped_column(String(16), default=None)
    comment: Mapped[str | None] = mapped_column(SealedText("monitoring_alert.comment"), default=None)
    receipt_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("monitoring_green_receipt.id", ondelete="SET NULL"), default=None
    )
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    escalated_to: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    escalated_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now, index=True)


class MonitoringAlertEvent(Base):
    """What happened to an alert after it opened: escalated, acknowledged, cleared. Its opening is the alert row
    itself (``opened_at``, and ``occurrences`` / ``last_seen_at`` for its repeats): no row here for it, so a first
    reading of a patient (a green "received" alert, one per patient) writes one row less."""

    __tablename__ = "monitoring_alert_event"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    alert_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("monitoring_alert.id", ondelete="CASCADE"),
                                                index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    comment: Mapped[str | None] = mapped_column(SealedText("monitoring_alert_event.comment"), default=None)


class MonitoringNotification(Base):
    """An escalated alert waiting for the physician of the care team."""

    __tablename__ = "monitoring_notification"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("monitoring_alert.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class MonitoringForfait(Base):
    """The operator forfait due for one enrolled patient and one month, recorded for billing."""

    __tablename__ = "monitoring_forfait"
    __table_args__ = (
        UniqueConstraint("enrolment_id", "month"),
        CheckConstraint("level in ('1', '2', 'enhanced_1', 'enhanced_2')", name="level_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    enrolment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("monitoring_enrolment.id", ondelete="CASCADE"))
    patient_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    team_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    month: Mapped[dt.date] = mapped_column(Date, index=True)
    level: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(Integer)
    monitored_days: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
