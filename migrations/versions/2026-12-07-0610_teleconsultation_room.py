"""teleconsultation room: late notices, quality samples, third participants

Revision ID: 20261207_0610
Revises: 20261207_0600
Create Date: 2026-12-07 06:10:00+00:00

Three tables: a practitioner's late notices (a delay in minutes, no text) shown in the waiting rooms, the quality
samples the room's browsers measure (round-trip time, loss, jitter, resolution; no media), and the third
participants invited to a consultation (by a one-time link, hashes only, or by account).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_0610"
down_revision = "20261207_0600"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('teleconsultation_late_notice',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('practitioner_id', sa.Uuid(), nullable=False),
    sa.Column('minutes', sa.SmallInteger(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('minutes between 1 and 240', name=op.f('ck_teleconsultation_late_notice_minutes_bounded')),
    sa.ForeignKeyConstraint(['practitioner_id'], ['user_account.id'], name=op.f('fk_teleconsultation_late_notice_practitioner_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleconsultation_late_notice'))
    )
    with op.batch_alter_table('teleconsultation_late_notice', schema=None) as batch_op:
        batch_op.create_index('ix_teleconsultation_late_notice_practitioner', ['practitioner_id', 'sent_at'], unique=False)
    op.create_table('teleconsultation_quality_sample',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('appointment_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('rtt_ms', sa.Float(), nullable=True),
    sa.Column('loss_pct', sa.Float(), nullable=True),
    sa.Column('jitter_ms', sa.Float(), nullable=True),
    sa.Column('width', sa.SmallInteger(), nullable=True),
    sa.Column('height', sa.SmallInteger(), nullable=True),
    sa.CheckConstraint("role in ('practitioner', 'patient', 'guest')", name=op.f('ck_teleconsultation_quality_sample_role_known')),
    sa.ForeignKeyConstraint(['appointment_id'], ['teleconsultation_appointment.id'], name=op.f('fk_teleconsultation_quality_sample_appointment_id_teleconsultation_appointment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleconsultation_quality_sample'))
    )
    with op.batch_alter_table('teleconsultation_quality_sample', schema=None) as batch_op:
        batch_op.create_index('ix_teleconsultation_quality_sample_appointment', ['appointment_id', 'at'], unique=False)
    op.create_table('teleconsultation_guest',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('appointment_id', sa.Uuid(), nullable=False),
    sa.Column('capacity', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('session_hash', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('consent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('patient_decision', sa.String(length=8), nullable=True),
    sa.Column('patient_decision_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("capacity in ('interpreter', 'family', 'nurse', 'specialist')", name=op.f('ck_teleconsultation_guest_capacity_known')),
    sa.CheckConstraint('(token_hash is null) <> (user_id is null)', name=op.f('ck_teleconsultation_guest_link_or_account')),
    sa.CheckConstraint("patient_decision is null or patient_decision in ('accepted', 'refused')", name=op.f('ck_teleconsultation_guest_decision_known')),
    sa.ForeignKeyConstraint(['appointment_id'], ['teleconsultation_appointment.id'], name=op.f('fk_teleconsultation_guest_appointment_id_teleconsultation_appointment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_teleconsultation_guest_created_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_teleconsultation_guest_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleconsultation_guest')),
    sa.UniqueConstraint('session_hash', name=op.f('uq_teleconsultation_guest_session_hash')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_teleconsultation_guest_token_hash'))
    )
    with op.batch_alter_table('teleconsultation_guest', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teleconsultation_guest_appointment_id'), ['appointment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_teleconsultation_guest_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_table("teleconsultation_guest")
    op.drop_table("teleconsultation_quality_sample")
    op.drop_table("teleconsultation_late_notice")
