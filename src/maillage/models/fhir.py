"""What the FHIR door keeps of its own: the business identifiers clients give the resources they create.

A conditional create (``If-None-Exist: identifier=system|value``) must create one resource however many times, and
however concurrently, it is sent: the unique key on (type, system, value) is what makes the second sender find the
first one's resource instead of creating a twin. The resource itself lives in its capability's tables.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, PortableJSON, UTCDateTime, new_id


class FhirIdentifier(Base):
    __tablename__ = "fhir_identifier"
    __table_args__ = (UniqueConstraint("resource_type", "system", "value", name="uq_fhir_identifier_key"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    resource_type: Mapped[str] = mapped_column(String(40))
    system: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(String(200))
    resource_id: Mapped[str] = mapped_column(String(64), index=True)
    created_by: Mapped[uuid.UUID] = mapped_column(Uuid)  # the account or service token that created it
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class FhirExport(Base):
    """A Bulk Data export (FHIR Bulk Data Access IG v2): asked by one client, run by the worker, its files kept
    encrypted in the vault until ``expires_at``. Only the client that asked (``client_id``: the service token) sees
    it; any other gets 404, as for a job that does not exist."""

    __tablename__ = "fhir_export"
    __table_args__ = (
        CheckConstraint("level in ('system', 'patient', 'group')", name="level_known"),
        CheckConstraint("status in ('queued', 'running', 'done', 'failed', 'cancelled')", name="status_known"),
        Index("ix_fhir_export_client", "client_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    client_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the actor's id (a service token's own id)
    token_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    level: Mapped[str] = mapped_column(String(8))
    group_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    types: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    request_url: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    progress: Mapped[str | None] = mapped_column(String(200), default=None)
    error: Mapped[str | None] = mapped_column(String(500), default=None)  # a French message, never health data
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class FhirExportFile(Base):
    """One NDJSON file of an export: one resource type (a large type is split), encrypted in the vault."""

    __tablename__ = "fhir_export_file"
    __table_args__ = (CheckConstraint("count >= 0", name="count_non_negative"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    export_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("fhir_export.id", ondelete="CASCADE"), index=True)
    resource_type: Mapped[str] = mapped_column(String(40))
    part: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # the type's files, in writing order
    count: Mapped[int] = mapped_column(Integer)
    blob_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("vault_blob.id"), unique=True)
