"""audit trail: hash-chained access traces and purge anchors

Revision ID: 20261128_1401
Revises: 20261128_1323
Create Date: 2026-11-28 14:01:00+00:00

Two append-only tables (see docs/adr/0004-audit-hash-chain.md). Triggers refuse UPDATE and DELETE:
on PostgreSQL a DELETE of an entry passes only while the purge's transaction-local setting
``maillage.audit_purge`` is 'on' and the entry is covered by an anchor; on SQLite only the anchor
condition applies (SQLite has no session settings). Anchors are never updated nor deleted.
A later migration that rebuilds ``audit_entry`` or ``audit_anchor`` on SQLite (batch mode copies the
table) must create these triggers again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '20261128_1401'
down_revision = '20261128_1323'
branch_labels = None
depends_on = None

PG_FUNCTION = """
CREATE FUNCTION maillage_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_entry' THEN
    IF current_setting('maillage.audit_purge', true) = 'on' THEN
      IF OLD.seq <= (SELECT COALESCE(MAX(through_seq), 0) FROM audit_anchor) THEN
        RETURN OLD;
      END IF;
    END IF;
  END IF;
  RAISE EXCEPTION 'traces d''accès en ajout seul : % refusé sur %', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$
"""

PG_TRIGGERS = [
    "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION maillage_audit_refuse_change()",
    "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION maillage_audit_refuse_change()",
    "CREATE TRIGGER audit_anchor_append_only BEFORE UPDATE OR DELETE ON audit_anchor "
    "FOR EACH ROW EXECUTE FUNCTION maillage_audit_refuse_change()",
    "CREATE TRIGGER audit_anchor_no_truncate BEFORE TRUNCATE ON audit_anchor "
    "FOR EACH STATEMENT EXECUTE FUNCTION maillage_audit_refuse_change()",
]

SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'traces d''accès en ajout seul : UPDATE refusé sur audit_entry'); END",
    "CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry "
    "WHEN OLD.seq > (SELECT COALESCE(MAX(through_seq), 0) FROM audit_anchor) "
    "BEGIN SELECT RAISE(ABORT, 'traces d''accès en ajout seul : DELETE refusé sur audit_entry'); END",
    "CREATE TRIGGER audit_anchor_no_update BEFORE UPDATE ON audit_anchor "
    "BEGIN SELECT RAISE(ABORT, 'traces d''accès en ajout seul : UPDATE refusé sur audit_anchor'); END",
    "CREATE TRIGGER audit_anchor_no_delete BEFORE DELETE ON audit_anchor "
    "BEGIN SELECT RAISE(ABORT, 'traces d''accès en ajout seul : DELETE refusé sur audit_anchor'); END",
]


def upgrade() -> None:
    op.create_table('audit_anchor',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('through_seq', sa.BigInteger(), nullable=False),
    sa.Column('through_hash', sa.String(length=64), nullable=False),
    sa.Column('purged_count', sa.BigInteger(), nullable=False),
    sa.Column('cutoff', sa.DateTime(timezone=True), nullable=False),
    sa.Column('retention_days', sa.Integer(), nullable=False),
    sa.CheckConstraint('through_seq > 0', name=op.f('ck_audit_anchor_through_seq_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_anchor')),
    sa.UniqueConstraint('through_seq', name=op.f('uq_audit_anchor_through_seq'))
    )
    op.create_table('audit_entry',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('actor_role', sa.String(length=40), nullable=True),
    sa.Column('establishment_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('object_type', sa.String(length=64), nullable=False),
    sa.Column('object_id', sa.String(length=128), nullable=True),
    sa.Column('patient_id', sa.String(length=64), nullable=True),
    sa.Column('purpose', sa.String(length=64), nullable=True),
    sa.Column('break_glass', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint("outcome in ('success', 'denied', 'failure')", name=op.f('ck_audit_entry_outcome_known')),
    sa.CheckConstraint('seq > 0', name=op.f('ck_audit_entry_seq_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry')),
    sa.UniqueConstraint('seq', name=op.f('uq_audit_entry_seq'))
    )
    op.create_index('ix_audit_entry_actor_seq', 'audit_entry', ['actor_id', 'seq'], unique=False)
    op.create_index('ix_audit_entry_break_glass_seq', 'audit_entry', ['break_glass', 'seq'], unique=False)
    op.create_index('ix_audit_entry_occurred_at', 'audit_entry', ['occurred_at'], unique=False)
    op.create_index('ix_audit_entry_patient_seq', 'audit_entry', ['patient_id', 'seq'], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == 'postgresql':
        op.execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    elif dialect == 'sqlite':
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    # Dropping the tables drops their triggers on both engines.
    op.drop_index('ix_audit_entry_patient_seq', table_name='audit_entry')
    op.drop_index('ix_audit_entry_occurred_at', table_name='audit_entry')
    op.drop_index('ix_audit_entry_break_glass_seq', table_name='audit_entry')
    op.drop_index('ix_audit_entry_actor_seq', table_name='audit_entry')
    op.drop_table('audit_entry')
    op.drop_table('audit_anchor')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP FUNCTION IF EXISTS maillage_audit_refuse_change()')
