"""teleconsultation: availability, appointments and the patient's links

Revision ID: 20261207_0500
Revises: 20261207_0200
Create Date: 2026-12-07 05:00:00+00:00

Four tables: a practitioner's availability ranges (weekly, one-off additions, absences), the appointments booked
in them (one live appointment per practitioner and start: a partial unique index, on both engines, makes double
booking impossible; with the signed report), the patient's links (hashes only), and the acts recorded when the
report is signed (TCG, priced at the act's date).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_0500"
down_revision = "20261207_0200"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('teleconsultation_availability',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('practitioner_id', sa.Uuid(), nullable=False),
    sa.Column('line_id', sa.Uuid(), nullable=True),
    sa.Column('place', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=True),
    sa.Column('day', sa.Date(), nullable=True),
    sa.Column('start_minute', sa.SmallInteger(), nullable=False),
    sa.Column('end_minute', sa.SmallInteger(), nullable=False),
    sa.Column('slot_minutes', sa.SmallInteger(), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'absence' and slot_minutes is null and line_id is null) or (kind <> 'absence' and slot_minutes between 5 and 120 and line_id is not null)", name=op.f('ck_teleconsultation_availability_slots_or_absence')),
    sa.CheckConstraint("(kind = 'weekly' and weekday between 0 and 6 and day is null) or (kind <> 'weekly' and weekday is null and day is not null)", name=op.f('ck_teleconsultation_availability_weekday_or_day')),
    sa.CheckConstraint("kind in ('weekly', 'extra', 'absence')", name=op.f('ck_teleconsultation_availability_kind_known')),
    sa.CheckConstraint('start_minute >= 0 and start_minute < end_minute and end_minute <= 1440', name=op.f('ck_teleconsultation_availability_minutes_ordered')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_teleconsultation_availability_created_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['line_id'], ['specialty_line.id'], name=op.f('fk_teleconsultation_availability_line_id_specialty_line'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practitioner_id'], ['user_account.id'], name=op.f('fk_teleconsultation_availability_practitioner_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleconsultation_availability'))
    )
    with op.batch_alter_table('teleconsultation_availability', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teleconsultation_availability_line_id'), ['line_id'], unique=False)
        batch_op.create_index('ix_teleconsultation_availability_practitioner', ['practitioner_id', 'kind'], unique=False)

    op.create_table('teleconsultation_appointment',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('practitioner_id', sa.Uuid(), nullable=False),
    sa.Column('line_id', sa.Uuid(), nullable=False),
    sa.Column('requester_id', sa.Uuid(), nullable=False),
    sa.Column('teleexpertise_request_id', sa.Uuid(), nullable=True),
    sa.Column('place', sa.String(length=100), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('closing_reason', sa.Text(), nullable=True),
    sa.Column('rescheduled_to_id', sa.Uuid(), nullable=True),
    sa.Column('consent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('third_party_present', sa.Boolean(), nullable=True),
    sa.Column('arrived_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('admitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('report', sa.Text(), nullable=True),
    sa.Column('report_prescriptions', sa.Text(), nullable=True),
    sa.Column('report_incidents', sa.Text(), nullable=True),
    sa.Column('report_signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('report_document_id', sa.Uuid(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status in ('booked', 'waiting', 'in_consultation', 'done', 'cancelled', 'rescheduled', 'no_show')", name=op.f('ck_teleconsultation_appointment_status_known')),
    sa.CheckConstraint('starts_at < ends_at', name=op.f('ck_teleconsultation_appointment_slot_ordered')),
    sa.ForeignKeyConstraint(['line_id'], ['specialty_line.id'], name=op.f('fk_teleconsultation_appointment_line_id_specialty_line'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_teleconsultation_appointment_patient_id_patient'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['practitioner_id'], ['user_account.id'], name=op.f('fk_teleconsultation_appointment_practitioner_id_user_account'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['requester_id'], ['user_account.id'], name=op.f('fk_teleconsultation_appointment_requester_id_user_account'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['report_document_id'], ['document.id'], name=op.f('fk_teleconsultation_appointment_report_document_id_document'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['teleexpertise_request_id'], ['teleexpertise_request.id'], name=op.f('fk_teleconsultation_appointment_teleexpertise_request_id_teleexpertise_request'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleconsultation_appointment'))
    )
    with op.batch_alter_table('teleconsultation_appointment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teleconsultation_appointment_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_teleconsultation_appointment_practitioner_day', ['practitioner_id', 'starts_at'], unique=False)
        batch_op.create_index('ix_teleconsultation_appointment_requester', ['requester_id', 'starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_teleconsultation_appointment_teleexpertise_request_id'), ['teleexpertise_request_id'], unique=False)
        batch_op.create_index('uq_teleconsultation_appointment_slot', ['practitioner_id', 'starts_at'], unique=True, postgresql_where=sa.text("status not in ('cancelled', 'rescheduled')"), sqlite_where=sa.text("status not in ('cancelled', 'rescheduled')"))

    op.create_table('teleconsultation_link',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('appointment_id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('session_hash', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['teleconsultation_appointment.id'], name=op.f('fk_teleconsultation_link_appointment_id_teleconsultation_appointment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_teleconsultation_link_created_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleconsultation_link')),
    sa.UniqueConstraint('session_hash', name=op.f('uq_teleconsultation_link_session_hash')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_teleconsultation_link_token_hash'))
    )
    with op.batch_alter_table('teleconsultation_link', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teleconsultation_link_appointment_id'), ['appointment_id'], unique=False)
    op.create_table('teleconsultation_act',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('appointment_id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('professional_user_id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('act_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=8, scale=2), nullable=False),
    sa.Column('tariff_source', sa.String(length=200), nullable=False),
    sa.Column('exported_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("code in ('TCG', 'TC')", name=op.f('ck_teleconsultation_act_code_known')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_teleconsultation_act_amount_non_negative')),
    sa.ForeignKeyConstraint(['appointment_id'], ['teleconsultation_appointment.id'], name=op.f('fk_teleconsultation_act_appointment_id_teleconsultation_appointment'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_teleconsultation_act_patient_id_patient'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['professional_user_id'], ['user_account.id'], name=op.f('fk_teleconsultation_act_professional_user_id_user_account'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleconsultation_act')),
    sa.UniqueConstraint('appointment_id', 'code', name=op.f('uq_teleconsultation_act_appointment_id_code'))
    )
    with op.batch_alter_table('teleconsultation_act', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teleconsultation_act_appointment_id'), ['appointment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_teleconsultation_act_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_teleconsultation_act_professional_date', ['professional_user_id', 'act_date'], unique=False)


def downgrade() -> None:
    op.drop_table("teleconsultation_act")
    op.drop_table("teleconsultation_link")
    op.drop_table("teleconsultation_appointment")
    op.drop_table("teleconsultation_availability")
