"""audit: the patients each list read returned (audit_entry_patient)

Revision ID: 20261207_0170
Revises: 20261207_0150
Create Date: 2026-12-07 03:45:00+00:00

A list read (a search, "my patients", a worklist) is one audit entry; the ids of the patients it returned are
rows of ``audit_entry_patient``, keyed by patient first so "who saw this patient" reads one index range. The
entry's hashed details hold their count and digest, so the chain covers them.

Append-only like the trail: triggers refuse UPDATE (and TRUNCATE on PostgreSQL); a DELETE passes only for a
row whose entry is gone or covered by a purge anchor (the cascade of the purge's delete of the entry), and on
PostgreSQL only while the purge's transaction-local setting ``maillage.audit_purge`` is 'on'.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_0170"
down_revision = "20261207_0150"
branch_labels = None
depends_on = None

PG_FUNCTION = """
CREATE FUNCTION maillage_audit_patient_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('maillage.audit_purge', true) = 'on' THEN
    IF COALESCE((SELECT seq FROM audit_entry WHERE id = OLD.entry_id), 0)
       <= (SELECT COALESCE(MAX(through_seq), 0) FROM audit_anchor) THEN
      RETURN OLD;
    END IF;
  END IF;
  RAISE EXCEPTION 'traces d''accès en ajout seul : % refusé sur %', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$
"""

PG_TRIGGERS = [
    "CREATE TRIGGER audit_entry_patient_append_only BEFORE UPDATE OR DELETE ON audit_entry_patient "
    "FOR EACH ROW EXECUTE FUNCTION maillage_audit_patient_refuse_change()",
    "CREATE TRIGGER audit_entry_patient_no_truncate BEFORE TRUNCATE ON audit_entry_patient "
    "FOR EACH STATEMENT EXECUTE FUNCTION maillage_audit_patient_refuse_change()",
]

SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_entry_patient_no_update BEFORE UPDATE ON audit_entry_patient "
    "BEGIN SELECT RAISE(ABORT, 'traces d''accès en ajout seul : UPDATE refusé sur audit_entry_patient'); END",
    "CREATE TRIGGER audit_entry_patient_no_delete BEFORE DELETE ON audit_entry_patient "
    "WHEN COALESCE((SELECT seq FROM audit_entry WHERE id = OLD.entry_id), 0) "
    "> (SELECT COALESCE(MAX(through_seq), 0) FROM audit_anchor) "
    "BEGIN SELECT RAISE(ABORT, 'traces d''accès en ajout seul : DELETE refusé sur audit_entry_patient'); END",
]


def upgrade() -> None:
    op.create_table(
        "audit_entry_patient",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["entry_id"], ["audit_entry.id"], name=op.f("fk_audit_entry_patient_entry_id_audit_entry"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("patient_id", "entry_id", name=op.f("pk_audit_entry_patient")),
    )
    op.create_index(op.f("ix_audit_entry_patient_entry_id"), "audit_entry_patient", ["entry_id"], unique=False)
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    elif dialect == "sqlite":
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    # Dropping the table drops its triggers on both engines.
    op.drop_index(op.f("ix_audit_entry_patient_entry_id"), table_name="audit_entry_patient")
    op.drop_table("audit_entry_patient")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS maillage_audit_patient_refuse_change()")
