"""teleexpertise: requests to specialty lines, their thread and timeline, admissions and billable acts

Revision ID: 20261128_1408
Revises: 20261128_1403, 20261128_1405
Create Date: 2026-11-28 14:08:00+00:00

Merges the territory branch (patient, specialty_line, establishment, professional) and the documents branch
(attachments are documents owned by a request). One table per aggregate part: the request itself (with the
signed opinion), its thread, its timeline, the admission an orientation opens, and the acts recorded at
completion (TE2 and RQD, priced at the act date) that the billing export reads.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261128_1408"
down_revision = ("20261128_1403", "20261128_1405")
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('teleexpertise_request',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('line_id', sa.Uuid(), nullable=False),
    sa.Column('requester_id', sa.Uuid(), nullable=False),
    sa.Column('requester_establishment_id', sa.Uuid(), nullable=True),
    sa.Column('named_expert_id', sa.Uuid(), nullable=True),
    sa.Column('assignee_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('clinical_context', sa.Text(), nullable=False),
    sa.Column('provided', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('patient_inpatient', sa.Boolean(), nullable=False),
    sa.Column('committed_minutes', sa.Integer(), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminder_sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answer', sa.Text(), nullable=True),
    sa.Column('orientation', sa.String(length=32), nullable=True),
    sa.Column('act', sa.String(length=200), nullable=True),
    sa.Column('delay_days', sa.Integer(), nullable=True),
    sa.Column('signed_by', sa.Uuid(), nullable=True),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closing_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("orientation is null or orientation in ('advice_only', 'act_relevant', 'act_not_relevant', 'teleconsultation', 'consultation', 'scheduled_hospitalisation', 'urgent_transfer')", name=op.f('ck_teleexpertise_request_orientation_known')),
    sa.CheckConstraint("status in ('draft', 'published', 'in_progress', 'awaiting_information', 'completed', 'declined', 'cancelled')", name=op.f('ck_teleexpertise_request_status_known')),
    sa.CheckConstraint("urgency in ('routine', 'urgent', 'very_urgent')", name=op.f('ck_teleexpertise_request_urgency_known')),
    sa.CheckConstraint('committed_minutes is null or committed_minutes > 0', name=op.f('ck_teleexpertise_request_committed_minutes_positive')),
    sa.ForeignKeyConstraint(['assignee_id'], ['user_account.id'], name=op.f('fk_teleexpertise_request_assignee_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['line_id'], ['specialty_line.id'], name=op.f('fk_teleexpertise_request_line_id_specialty_line'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['named_expert_id'], ['user_account.id'], name=op.f('fk_teleexpertise_request_named_expert_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_teleexpertise_request_patient_id_patient'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['requester_id'], ['user_account.id'], name=op.f('fk_teleexpertise_request_requester_id_user_account'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['signed_by'], ['user_account.id'], name=op.f('fk_teleexpertise_request_signed_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleexpertise_request'))
    )
    op.create_index(op.f('ix_teleexpertise_request_assignee_id'), 'teleexpertise_request', ['assignee_id'], unique=False)
    op.create_index('ix_teleexpertise_request_line_status', 'teleexpertise_request', ['line_id', 'status'], unique=False)
    op.create_index(op.f('ix_teleexpertise_request_patient_id'), 'teleexpertise_request', ['patient_id'], unique=False)
    op.create_index('ix_teleexpertise_request_requester_status', 'teleexpertise_request', ['requester_id', 'status'], unique=False)
    op.create_table('teleexpertise_act',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('professional_user_id', sa.Uuid(), nullable=False),
    sa.Column('professional_id', sa.Uuid(), nullable=True),
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('act_date', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=8, scale=2), nullable=False),
    sa.Column('tariff_source', sa.String(length=200), nullable=False),
    sa.Column('billable', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('exported_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("code in ('TE2', 'RQD')", name=op.f('ck_teleexpertise_act_code_known')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_teleexpertise_act_amount_non_negative')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_teleexpertise_act_patient_id_patient'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['professional_id'], ['professional.id'], name=op.f('fk_teleexpertise_act_professional_id_professional'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['professional_user_id'], ['user_account.id'], name=op.f('fk_teleexpertise_act_professional_user_id_user_account'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['request_id'], ['teleexpertise_request.id'], name=op.f('fk_teleexpertise_act_request_id_teleexpertise_request'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleexpertise_act')),
    sa.UniqueConstraint('request_id', 'code', name=op.f('uq_teleexpertise_act_request_id_code'))
    )
    op.create_index('ix_teleexpertise_act_cap', 'teleexpertise_act', ['patient_id', 'professional_user_id', 'code', 'act_date'], unique=False)
    op.create_index(op.f('ix_teleexpertise_act_request_id'), 'teleexpertise_act', ['request_id'], unique=False)
    op.create_table('teleexpertise_admission',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('establishment_id', sa.Uuid(), nullable=False),
    sa.Column('orientation', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("orientation in ('scheduled_hospitalisation', 'urgent_transfer')", name=op.f('ck_teleexpertise_admission_orientation_known')),
    sa.CheckConstraint("status in ('requested', 'accepted', 'refused', 'arrived', 'cancelled')", name=op.f('ck_teleexpertise_admission_status_known')),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_teleexpertise_admission_establishment_id_establishment'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_teleexpertise_admission_patient_id_patient'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['request_id'], ['teleexpertise_request.id'], name=op.f('fk_teleexpertise_admission_request_id_teleexpertise_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleexpertise_admission')),
    sa.UniqueConstraint('request_id', name=op.f('uq_teleexpertise_admission_request_id'))
    )
    op.create_index(op.f('ix_teleexpertise_admission_establishment_id'), 'teleexpertise_admission', ['establishment_id'], unique=False)
    op.create_index(op.f('ix_teleexpertise_admission_patient_id'), 'teleexpertise_admission', ['patient_id'], unique=False)
    op.create_table('teleexpertise_event',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=True),
    sa.Column('to_status', sa.String(length=24), nullable=True),
    sa.Column('target_user_id', sa.Uuid(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_teleexpertise_event_actor_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['request_id'], ['teleexpertise_request.id'], name=op.f('fk_teleexpertise_event_request_id_teleexpertise_request'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_user_id'], ['user_account.id'], name=op.f('fk_teleexpertise_event_target_user_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleexpertise_event'))
    )
    op.create_index(op.f('ix_teleexpertise_event_request_id'), 'teleexpertise_event', ['request_id'], unique=False)
    op.create_table('teleexpertise_message',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('author_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind in ('question', 'reply')", name=op.f('ck_teleexpertise_message_kind_known')),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_teleexpertise_message_author_id_user_account'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['request_id'], ['teleexpertise_request.id'], name=op.f('fk_teleexpertise_message_request_id_teleexpertise_request'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleexpertise_message'))
    )
    op.create_index(op.f('ix_teleexpertise_message_request_id'), 'teleexpertise_message', ['request_id'], unique=False)
    op.create_table('teleexpertise_notification',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind in ('submitted', 'question', 'reply', 'answered', 'declined', 'reminder', 'escalation')", name=op.f('ck_teleexpertise_notification_kind_known')),
    sa.ForeignKeyConstraint(['request_id'], ['teleexpertise_request.id'], name=op.f('fk_teleexpertise_notification_request_id_teleexpertise_request'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_teleexpertise_notification_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleexpertise_notification'))
    )
    op.create_index(op.f('ix_teleexpertise_notification_request_id'), 'teleexpertise_notification', ['request_id'], unique=False)
    op.create_index('ix_teleexpertise_notification_user_unread', 'teleexpertise_notification', ['user_id', 'read_at'], unique=False)


def downgrade() -> None:
    op.drop_index("ix_teleexpertise_notification_user_unread", table_name="teleexpertise_notification")
    op.drop_index(op.f("ix_teleexpertise_notification_request_id"), table_name="teleexpertise_notification")
    op.drop_table("teleexpertise_notification")
    op.drop_index(op.f("ix_teleexpertise_act_cap"), table_name="teleexpertise_act")
    op.drop_index(op.f("ix_teleexpertise_act_request_id"), table_name="teleexpertise_act")
    op.drop_table("teleexpertise_act")
    op.drop_index(op.f("ix_teleexpertise_admission_patient_id"), table_name="teleexpertise_admission")
    op.drop_index(op.f("ix_teleexpertise_admission_establishment_id"), table_name="teleexpertise_admission")
    op.drop_table("teleexpertise_admission")
    op.drop_index(op.f("ix_teleexpertise_event_request_id"), table_name="teleexpertise_event")
    op.drop_table("teleexpertise_event")
    op.drop_index(op.f("ix_teleexpertise_message_request_id"), table_name="teleexpertise_message")
    op.drop_table("teleexpertise_message")
    op.drop_index(op.f("ix_teleexpertise_request_requester_status"), table_name="teleexpertise_request")
    op.drop_index(op.f("ix_teleexpertise_request_patient_id"), table_name="teleexpertise_request")
    op.drop_index(op.f("ix_teleexpertise_request_line_status"), table_name="teleexpertise_request")
    op.drop_index(op.f("ix_teleexpertise_request_assignee_id"), table_name="teleexpertise_request")
    op.drop_table("teleexpertise_request")
