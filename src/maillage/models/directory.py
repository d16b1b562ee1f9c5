"""The directory: the GHT, its establishments and care units, professionals and their roles, specialty lines.

Identifiers are stored canonical (FINESS upper-case, RPPS/ADELI digits). ``search_text`` columns hold the
normalised form (upper case, no accents) that searches compare with, so a search behaves the same on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, PortableJSON, UTCDateTime, new_id

ESTABLISHMENT_KINDS_SQL = "'hospital', 'ehpad', 'usmp', 'city_practice', 'health_centre', 'pharmacy'"
GHT_ROLES_SQL = "'support', 'member', 'partner'"
SOURCES_SQL = "'manual', 'finess', 'rpps', 'demo'"


class Ght(Base):
    """A groupement hospitalier de territoire (CSP L6132-1): a convention, not a legal person."""

    __tablename__ = "ght"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    departement: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class Establishment(Base):
    __tablename__ = "establishment"
    __table_args__ = (
        CheckConstraint(f"kind in ({ESTABLISHMENT_KINDS_SQL})", name="kind_known"),
        CheckConstraint(f"ght_role is null or ght_role in ({GHT_ROLES_SQL})", name="ght_role_known"),
        CheckConstraint("ght_role is null or ght_id is not null", name="ght_role_needs_ght"),
        CheckConstraint(f"source in ({SOURCES_SQL})", name="source_known"),
        CheckConstraint("latitude is null or (latitude >= -90 and latitude <= 90)", name="latitude_range"),
        CheckConstraint("longitude is null or (longitude >= -180 and longitude <= 180)", name="longitude_range"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    ght_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("ght.id", ondelete="SET NULL"), default=None, index=True
    )
    ght_role: Mapped[str | None] = mapped_column(String(16), default=None)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # FINESS of the geographic entity (ET) and of the legal entity (EJ); a city practice or an USMP may have none.
    finess_et: Mapped[str | None] = mapped_column(String(9), unique=True, default=None)
    finess_ej: Mapped[str | None] = mapped_column(String(9), default=None, index=True)
    siret: Mapped[str | None] = mapped_column(String(14), default=None)
    category_code: Mapped[str | None] = mapped_column(String(3), default=None)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    # An USMP is a unit of the hospital it is attached to.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("establishment.id", ondelete="SET NULL"), default=None, index=True
    )
    address_line: Mapped[str | None] = mapped_column(String(200), default=None)
    postcode: Mapped[str | None] = mapped_column(String(5), default=None)
    commune_insee: Mapped[str | None] = mapped_column(String(5), default=None, index=True)
    commune_name: Mapped[str | None] = mapped_column(String(100), default=None)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    phone: Mapped[str | None] = mapped_column(String(30), default=None)
    mssante: Mapped[str | None] = mapped_column(String(254), default=None)
    search_text: Mapped[str] = mapped_column(String(400), default="", index=True)
    source: Mapped[str] = mapped_column(String(16), default="manual")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class CareUnit(Base):
    """A service or unit of an establishment (dermatologie, maternité, unité de télésurveillance...)."""

    __tablename__ = "care_unit"
    __table_args__ = (UniqueConstraint("establishment_id", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    establishment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("establishment.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    specialty_code: Mapped[str | None] = mapped_column(String(8), default=None)
    phone: Mapped[str | None] = mapped_column(String(30), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class Professional(Base):
    """A health professional. The national identifier (IdNat_PS) is derived from the RPPS or ADELI, never typed."""

    __tablename__ = "professional"
    __table_args__ = (
        CheckConstraint("rpps is not null or adeli is not null", name="identifier_present"),
        CheckConstraint(f"source in ({SOURCES_SQL})", name="source_known"),
        CheckConstraint("fee_sector is null or fee_sector in ('sector_1', 'optam', 'sector_2')",
                        name="fee_sector_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    rpps: Mapped[str | None] = mapped_column(String(11), unique=True, default=None)
    adeli: Mapped[str | None] = mapped_column(String(9), unique=True, default=None)
    national_id: Mapped[str] = mapped_column(String(12), unique=True)
    # Soft-check warnings of the identifier (a failed RPPS key is kept, with a warning to verify it).
    identifier_warnings: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    civility: Mapped[str | None] = mapped_column(String(8), default=None)
    last_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str | None] = mapped_column(String(100), default=None)
    profession_code: Mapped[str] = mapped_column(String(4), index=True)
    profession_label: Mapped[str | None] = mapped_column(String(100), default=None)
    specialty_code: Mapped[str | None] = mapped_column(String(8), default=None, index=True)
    specialty_label: Mapped[str | None] = mapped_column(String(200), default=None)
    # Conventional fee sector (sector_1, optam, sector_2): picks TCG or TC for a teleconsultation (DOMAIN.md §2.1).
    fee_sector: Mapped[str | None] = mapped_column(String(16), default=None)
    mssante: Mapped[str | None] = mapped_column(String(254), default=None)
    phone: Mapped[str | None] = mapped_column(String(30), default=None)
    search_text: Mapped[str] = mapped_column(String(300), default="", index=True)
    source: Mapped[str] = mapped_column(String(16), default="manual")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class ProfessionalRole(Base):
    """Where and as what a professional works: one activity, at an establishment of the directory when it is
    known, otherwise at the site the RPPS extract names. ``activity_key`` makes re-imports idempotent."""

    __tablename__ = "professional_role"
    __table_args__ = (
        UniqueConstraint("professional_id", "activity_key"),
        CheckConstraint("practice_mode is null or practice_mode in ('L', 'S', 'B')", name="practice_mode_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    professional_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("professional.id", ondelete="CASCADE"), index=True
    )
    establishment_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("establishment.id", ondelete="SET NULL"), default=None, index=True
    )
    care_unit_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("care_unit.id", ondelete="SET NULL"), default=None
    )
    activity_key: Mapped[str] = mapped_column(String(160))
    function_label: Mapped[str | None] = mapped_column(String(100), default=None)
    # RPPS "Code mode exercice": L libéral, S salarié, B bénévole.
    practice_mode: Mapped[str | None] = mapped_column(String(1), default=None)
    site_name: Mapped[str | None] = mapped_column(String(200), default=None)
    site_commune_insee: Mapped[str | None] = mapped_column(String(5), default=None)
    site_finess: Mapped[str | None] = mapped_column(String(9), default=None)
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class SpecialtyLine(Base):
    """A specialty line the support hospital (or a member) offers for tele-expertise and teleconsultation."""

    __tablename__ = "specialty_line"
    __table_args__ = (
        CheckConstraint("teleexpertise or teleconsultation", name="modality_present"),
        CheckConstraint("min_photos >= 0", name="min_photos_non_negative"),
        Index("ix_specialty_line_specialty_active", "specialty_code", "active"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    establishment_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("establishment.id", ondelete="CASCADE"), index=True
    )
    care_unit_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("care_unit.id", ondelete="SET NULL"), default=None
    )
    specialty_code: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    teleexpertise: Mapped[bool] = mapped_column(Boolean, default=True)
    teleconsultation: Mapped[bool] = mapped_column(Boolean, default=False)
    accepts_city: Mapped[bool] = mapped_column(Boolean, default=True)
    accepts_ehpad: Mapped[bool] = mapped_column(Boolean, default=True)
    accepts_usmp: Mapped[bool] = mapped_column(Boolean, default=True)
    accepts_ght_hospitals: Mapped[bool] = mapped_column(Boolean, default=True)
    requirements: Mapped[list[str]] = mapped_column(PortableJSON, default=list)
    min_photos: Mapped[int] = mapped_column(Integer, default=0)
    opening_hours: Mapped[str] = mapped_column(String(200), default="")
    how_to_request: Mapped[str] = mapped_column(Text, default="")
    phone: Mapped[str | None] = mapped_column(String(30), default=None)
    on_call_phone: Mapped[str | None] = mapped_column(String(30), default=None)
    search_text: Mapped[str] = mapped_column(String(600), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)


class SpecialtyLineCommitment(Base):
    """The response time a line commits to for one urgency."""

    __tablename__ = "specialty_line_commitment"
    __table_args__ = (
        UniqueConstraint("line_id", "urgency"),
        CheckConstraint("urgency in ('routine', 'urgent', 'very_urgent')", name="urgency_known"),
        CheckConstraint("response_minutes > 0", name="response_minutes_positive"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    line_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("specialty_line.id", ondelete="CASCADE"), index=True)
    urgency: Mapped[str] = mapped_column(String(16))
    response_minutes: Mapped[int] = mapped_column(Integer)


class SpecialtyLineMember(Base):
    """A professional answering a line, or its on-call backup."""

    __tablename__ = "specialty_line_member"
    __table_args__ = (
        UniqueConstraint("line_id", "professional_id", "role"),
        # coordinator: organises the line's teleconsultations (books for its practitioners, manages their
        # availability, sees the line's appointments); answers no request.
        CheckConstraint("role in ('answering', 'backup', 'coordinator')", name="role_known"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    line_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("specialty_line.id", ondelete="CASCADE"), index=True)
    professional_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("professional.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16), default="answering")
