"""billing ledger of telemedicine acts (every source, corrections as new entries) and monthly statements

Revision ID: 20261207_1100
Revises: 20261207_1010
Create Date: 2026-12-07 11:00:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261207_1100"
down_revision = "20261207_1010"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
STATUSES = "'to_bill', 'billed', 'rejected', 'not_billable', 'corrected'"
SOURCES = "'teleexpertise', 'teleconsultation', 'monitoring', 'correction'"


def upgrade() -> None:
    op.create_table('billing_entry',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=True),
    sa.Column('source_key', sa.String(length=80), nullable=True),
    sa.Column('corrects_id', sa.Uuid(), nullable=True),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('professional_user_id', sa.Uuid(), nullable=True),
    sa.Column('rpps', sa.String(length=11), nullable=True),
    sa.Column('establishment_id', sa.Uuid(), nullable=True),
    sa.Column('finess', sa.String(length=9), nullable=True),
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('act_date', sa.Date(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=8, scale=2), nullable=False),
    sa.Column('tariff_source', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('cap_reached', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.Uuid(), nullable=True),
    sa.CheckConstraint(f"status in ({STATUSES})", name=op.f('ck_billing_entry_status_known')),
    sa.CheckConstraint(f"source in ({SOURCES})", name=op.f('ck_billing_entry_source_known')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_billing_entry_amount_non_negative')),
    sa.CheckConstraint("(status in ('rejected', 'not_billable')) = (reason is not null)",
                       name=op.f('ck_billing_entry_reason_when_refused')),
    sa.ForeignKeyConstraint(['corrects_id'], ['billing_entry.id'], name=op.f('fk_billing_entry_corrects_id_billing_entry'),
                            ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_billing_entry_patient_id_patient'),
                            ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['professional_user_id'], ['user_account.id'],
                            name=op.f('fk_billing_entry_professional_user_id_user_account'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'],
                            name=op.f('fk_billing_entry_establishment_id_establishment'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'],
                            name=op.f('fk_billing_entry_created_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['decided_by'], ['user_account.id'],
                            name=op.f('fk_billing_entry_decided_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_entry')),
    sa.UniqueConstraint('source_key', name='uq_billing_entry_source_key')
    )
    with op.batch_alter_table('billing_entry', schema=None) as batch_op:
        batch_op.create_index('ix_billing_entry_establishment_month', ['establishment_id', 'month', 'code'],
                              unique=False)
        batch_op.create_index('ix_billing_entry_professional_month', ['professional_user_id', 'month'], unique=False)
        batch_op.create_index('ix_billing_entry_source', ['source_id', 'source'], unique=False)
        batch_op.create_index('ix_billing_entry_cap', ['patient_id', 'professional_user_id', 'code', 'act_date'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_billing_entry_corrects_id'), ['corrects_id'], unique=False)

    op.create_table('billing_statement',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('scope_id', sa.Uuid(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('lines', JSON, nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("scope in ('establishment', 'professional')", name=op.f('ck_billing_statement_scope_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_statement')),
    sa.UniqueConstraint('scope', 'scope_id', 'month', name='uq_billing_statement_scope_month')
    )


def downgrade() -> None:
    op.drop_table('billing_statement')
    with op.batch_alter_table('billing_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_billing_entry_corrects_id'))
        batch_op.drop_index('ix_billing_entry_cap')
        batch_op.drop_index('ix_billing_entry_source')
        batch_op.drop_index('ix_billing_entry_professional_month')
        batch_op.drop_index('ix_billing_entry_establishment_month')
    op.drop_table('billing_entry')
