"""patient foreign keys: documents, care relationships, monitoring enrolments and alerts reference the patient

Revision ID: 20261207_0200
Revises: 20261207_0120
Create Date: 2026-12-07 02:00:00+00:00

Their ``patient_id`` was a plain UUID while the patient table was built on another branch. Each now references
``patient.id`` (``ON DELETE RESTRICT``: records are merged, never deleted). The readings keep no key (a check and,
on PostgreSQL, a share lock of the patient row on every insert of the ingestion's hot path, for an id copied from
the enrolment just resolved; docs/monitoring.md).

The upgrade first counts, table by table, the rows whose patient does not exist; if there is any, it stops with
a message listing the counts and changes nothing: an orphan is a fact to investigate (a record deleted by hand, a
restore of part of the database), not something a migration may delete or invent a patient for.

SQLite cannot add a foreign key to an existing table, and the batch mode's copy-and-drop of the table would, with
``PRAGMA foreign_keys=ON`` (set on every connection, and without effect inside a transaction), fire the
``ON DELETE CASCADE`` of the child tables (an enrolment's pauses, devices and forfaits; an alert's events and
notifications) and empty them. A constraint changes no stored row, so on SQLite the key is written into the
table's definition in ``sqlite_master`` (the procedure of the SQLite documentation, "Making other kinds of table
schema changes", with the schema version bumped so every connection re-reads it) after the orphan check above.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "20261207_0200"
down_revision = "20261207_0120"
branch_labels = None
depends_on = None

TABLES = ("document", "care_relationship", "monitoring_enrolment", "monitoring_alert")


def _fk(table: str) -> str:
    return f"fk_{table}_patient_id_patient"


def orphan_counts() -> dict[str, int]:
    """Rows of each table whose ``patient_id`` names no patient record."""
    bind = op.get_bind()
    patient = sa.table("patient", sa.column("id"))
    counts = {}
    for table in TABLES:
        rows = sa.table(table, sa.column("patient_id"))
        n = bind.execute(sa.select(sa.func.count()).select_from(rows)
                         .where(~sa.exists().where(patient.c.id == rows.c.patient_id))).scalar_one()
        if n:
            counts[table] = int(n)
    return counts


def _clause(table: str) -> str:
    """The constraint as SQLAlchemy renders it in a CREATE TABLE (so a later batch rebuild writes the same text)."""
    return f"CONSTRAINT {_fk(table)} FOREIGN KEY(patient_id) REFERENCES patient (id) ON DELETE RESTRICT"


def _rewrite_sqlite_definition(table: str, add: bool) -> None:
    bind = op.get_bind()
    sql = bind.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
                       {"t": table}).scalar_one()
    if add:
        body = sql.rstrip()
        if not body.endswith(")"):
            raise RuntimeError(f"définition de la table {table} inattendue : clé étrangère non ajoutée")
        new = f"{body[:-1].rstrip()}, \n\t{_clause(table)}\n)"
    else:
        new, found = re.subn(rf",\s*CONSTRAINT {_fk(table)} FOREIGN KEY\s*\(patient_id\)[^,]*?ON DELETE RESTRICT",
                             "", sql)
        if found != 1:
            raise RuntimeError(f"clé étrangère {_fk(table)} introuvable dans la définition de la table {table}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.execute(sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :t"),
                     {"sql": new, "t": table})
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    # The checks SQLite's procedure asks for: the file is sound and the new key holds for every row; otherwise the
    # exception rolls the whole migration back (the rewrite included).
    problems = [row[0] for row in bind.exec_driver_sql("PRAGMA quick_check").all() if row[0] != "ok"]
    if problems or bind.exec_driver_sql(f'PRAGMA foreign_key_check("{table}")').first() is not None:
        raise RuntimeError(f"table {table} : contrôle après modification en échec ({'; '.join(problems[:3])})")


def upgrade() -> None:
    orphans = orphan_counts()
    if orphans:
        listed = ", ".join(f"{table} : {n}" for table, n in orphans.items())
        raise RuntimeError(
            "Migration 20261207_0200 refusée, rien n'a été modifié : des lignes désignent un patient absent de la "
            f"table patient ({listed}). Retrouvez ou restaurez ces dossiers patients (ou corrigez ces lignes) "
            "avant de relancer la mise à jour."
        )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in TABLES:
        if sqlite:
            _rewrite_sqlite_definition(table, add=True)
        else:
            op.create_foreign_key(_fk(table), table, "patient", ["patient_id"], ["id"], ondelete="RESTRICT")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in reversed(TABLES):
        if sqlite:
            _rewrite_sqlite_definition(table, add=False)
        else:
            op.drop_constraint(_fk(table), table, type_="foreignkey")
