"""patient allergies and intolerances (substance and reaction sealed, entered in error instead of deleted)

Revision ID: 20261207_1010
Revises: 20261207_1000
Create Date: 2026-12-07 10:10:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_1010"
down_revision = "20261207_1000"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('patient_allergy',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('substance', sa.Text(), nullable=False),
    sa.Column('substance_code', sa.String(length=12), nullable=True),
    sa.Column('reaction', sa.Text(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('criticality', sa.String(length=24), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('recorded_by', sa.Uuid(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('entered_in_error_by', sa.Uuid(), nullable=True),
    sa.Column('entered_in_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind in ('allergy', 'intolerance')", name=op.f('ck_patient_allergy_kind_known')),
    sa.CheckConstraint("criticality in ('low', 'high', 'unable-to-assess')",
                       name=op.f('ck_patient_allergy_criticality_known')),
    sa.CheckConstraint("status in ('active', 'entered-in-error')", name=op.f('ck_patient_allergy_status_known')),
    sa.CheckConstraint("(status = 'entered-in-error') = (entered_in_error_at is not null)",
                       name=op.f('ck_patient_allergy_error_dated')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_patient_allergy_patient_id_patient'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by'], ['user_account.id'],
                            name=op.f('fk_patient_allergy_recorded_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['entered_in_error_by'], ['user_account.id'],
                            name=op.f('fk_patient_allergy_entered_in_error_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_allergy'))
    )
    with op.batch_alter_table('patient_allergy', schema=None) as batch_op:
        batch_op.create_index('ix_patient_allergy_patient', ['patient_id', 'recorded_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('patient_allergy', schema=None) as batch_op:
        batch_op.drop_index('ix_patient_allergy_patient')
    op.drop_table('patient_allergy')
