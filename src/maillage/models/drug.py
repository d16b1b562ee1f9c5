"""The drug database (``maillage.prescription``): the ANSM's public drug database (BDPM) as last imported.

One release is current at a time. An import replaces every row of the drug tables in one transaction and records a
``drug_release`` (its files' checksum, its counts, when): a prescription line keeps the release it was written
against, and an interrupted import leaves the previous release whole.

Searchable keys (``name_key``, ``substance_key``) are the names upper-cased without accents
(``prescription.bdpm.search_key``); on PostgreSQL they use the byte-order ``C`` collation so that a prefix is one
B-tree range (``key >= prefix and key < prefix || U+FFFF``), the same query SQLite answers from its own index.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, Numeric, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from maillage.kit.clock import now
from maillage.kit.db import Base, UTCDateTime, new_id


def search_key_type(length: int) -> String:
    """A key compared in byte order on every backend (SQLite's default; PostgreSQL's ``C`` collation)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class DrugRelease(Base):
    __tablename__ = "drug_release"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    checksum: Mapped[str] = mapped_column(String(64), index=True)
    encoding: Mapped[str] = mapped_column(String(16))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    current: Mapped[bool] = mapped_column(Boolean, default=False)
    speciality_count: Mapped[int] = mapped_column(Integer, default=0)
    presentation_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_line_count: Mapped[int] = mapped_column(Integer, default=0)


class DrugSpeciality(Base):
    """A speciality (``CIS_bdpm.txt``), by its 8-digit CIS code."""

    __tablename__ = "drug_speciality"
    __table_args__ = (Index("ix_drug_speciality_name_key", "name_key"),)

    cis: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    name_key: Mapped[str] = mapped_column(search_key_type(300))
    form: Mapped[str] = mapped_column(Text, default="")
    routes: Mapped[str] = mapped_column(Text, default="")
    authorisation_status: Mapped[str] = mapped_column(String(120), default="")
    marketed: Mapped[bool] = mapped_column(Boolean, default=False)
    authorised_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    bdm_status: Mapped[str] = mapped_column(String(60), default="")
    holders: Mapped[str] = mapped_column(Text, default="")
    enhanced_monitoring: Mapped[bool] = mapped_column(Boolean, default=False)


class DrugPresentation(Base):
    """A box (``CIS_CIP_bdpm.txt``), by its CIP13 code."""

    __tablename__ = "drug_presentation"
    __table_args__ = (Index("ix_drug_presentation_cis", "cis"),)

    cip13: Mapped[str] = mapped_column(String(13), primary_key=True)
    cip7: Mapped[str] = mapped_column(String(7), default="")
    cis: Mapped[str] = mapped_column(String(8), ForeignKey("drug_speciality.cis", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(Text)
    marketed: Mapped[bool] = mapped_column(Boolean, default=False)
    reimbursement_rates: Mapped[str] = mapped_column(String(60), default="")
    price_eur: Mapped[float | None] = mapped_column(Numeric(10, 2), default=None)


class DrugComposition(Base):
    """One substance of a speciality (``CIS_COMPO_bdpm.txt``): active substance (SA) or therapeutic fraction (ST)."""

    __tablename__ = "drug_composition"
    __table_args__ = (
        Index("ix_drug_composition_substance_key", "substance_key"),
        Index("ix_drug_composition_cis", "cis"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cis: Mapped[str] = mapped_column(String(8), ForeignKey("drug_speciality.cis", ondelete="CASCADE"))
    element: Mapped[str] = mapped_column(Text, default="")
    substance_code: Mapped[str] = mapped_column(String(12), default="")
    substance: Mapped[str] = mapped_column(Text)
    substance_key: Mapped[str] = mapped_column(search_key_type(300))
    dosage: Mapped[str] = mapped_column(Text, default="")
    dosage_reference: Mapped[str] = mapped_column(Text, default="")
    nature: Mapped[str] = mapped_column(String(2), default="SA")


class DrugGenericMember(Base):
    """A speciality's place in a generic group (``CIS_GENER_bdpm.txt``): 0 princeps, 1 generic,
    2 generic by complementarity of posology, 4 substitutable generic."""

    __tablename__ = "drug_generic_member"
    __table_args__ = (Index("ix_drug_generic_member_group", "group_id"),)

    cis: Mapped[str] = mapped_column(String(8), ForeignKey("drug_speciality.cis", ondelete="CASCADE"),
                                     primary_key=True)
    group_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    group_label: Mapped[str] = mapped_column(Text)
    kind: Mapped[int] = mapped_column(Integer)
    rank: Mapped[int] = mapped_column(Integer, default=0)


class DrugSearchTerm(Base):
    """One word of a speciality's name or of one of its substances (``PROPIONATE DE CLOBÉTASOL`` gives
    ``PROPIONATE`` and ``CLOBETASOL``): a search is a prefix range per word of the query. The row repeats the
    speciality's ordering (marketed first, then name) so that a search sorts its matches without reading the
    specialities; rows are inserted in term order, so one prefix reads a few neighbouring pages."""

    __tablename__ = "drug_search_term"

    term: Mapped[str] = mapped_column(search_key_type(60), primary_key=True)
    cis: Mapped[str] = mapped_column(String(8), ForeignKey("drug_speciality.cis", ondelete="CASCADE"),
                                     primary_key=True)
    marketed: Mapped[bool] = mapped_column(Boolean, default=False)
    name_key: Mapped[str] = mapped_column(search_key_type(300))


class DrugNotice(Base):
    """An important-information notice of a speciality (``CIS_InfoImportantes.txt``), shown, never blocking."""

    __tablename__ = "drug_notice"
    __table_args__ = (Index("ix_drug_notice_cis", "cis"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cis: Mapped[str] = mapped_column(String(8), ForeignKey("drug_speciality.cis", ondelete="CASCADE"))
    starts_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    ends_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    text: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(Text, default="")
