"""risk models (versioned, activated only when they beat the rule) and the latest score of each enrolment

Revision ID: 20261207_1300
Revises: 20261207_1200
Create Date: 2026-12-07 13:00:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261207_1300"
down_revision = "20261207_1200"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table('prediction_model',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('data_window', JSON, nullable=False),
    sa.Column('code_version', sa.String(length=64), nullable=False),
    sa.Column('metrics', JSON, nullable=False),
    sa.Column('artefact', JSON, nullable=False),
    sa.Column('trained_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('approved_by', sa.Uuid(), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refusal', sa.String(length=300), nullable=True),
    sa.CheckConstraint("status in ('trained', 'active', 'refused', 'retired')",
                       name=op.f('ck_prediction_model_status_known')),
    sa.ForeignKeyConstraint(['approved_by'], ['user_account.id'],
                            name=op.f('fk_prediction_model_approved_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prediction_model')),
    sa.UniqueConstraint('name', 'version', name=op.f('uq_prediction_model_name_version'))
    )
    op.create_table('prediction_score',
    sa.Column('enrolment_id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('model_id', sa.Uuid(), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('band', sa.String(length=16), nullable=False),
    sa.Column('factors', JSON, nullable=False),
    sa.Column('readings_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enrolment_id'], ['monitoring_enrolment.id'],
                            name=op.f('fk_prediction_score_enrolment_id_monitoring_enrolment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_prediction_score_patient_id_patient'),
                            ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['model_id'], ['prediction_model.id'],
                            name=op.f('fk_prediction_score_model_id_prediction_model'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('enrolment_id', name=op.f('pk_prediction_score'))
    )
    with op.batch_alter_table('prediction_score', schema=None) as batch_op:
        batch_op.create_index('ix_prediction_score_patient', ['patient_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('prediction_score', schema=None) as batch_op:
        batch_op.drop_index('ix_prediction_score_patient')
    op.drop_table('prediction_score')
    op.drop_table('prediction_model')
