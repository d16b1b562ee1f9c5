"""monitoring

Revision ID: 20261128_1406
Revises: 20261128_1400
Create Date: 2026-11-28 14:06:00+00:00

Telesurveillance (maillage/monitoring): operator teams and members, devices, enrolments with pauses and device
assignments, readings (unique per device and device reading id), the per-patient rule state, alerts (one open per
patient and condition through ``open_key``), their timeline, green receipts, escalation notifications and
monthly operator forfaits. ``patient_id`` has no foreign key yet: the patient table lands separately.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261128_1406"
down_revision = "20261128_1400"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
READING_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('monitoring_team',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('establishment_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('ars_declaration', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_team')),
    sa.UniqueConstraint('establishment_id', 'name', name=op.f('uq_monitoring_team_establishment_id_name'))
    )
    op.create_table('monitoring_device',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('identifier', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('gateway_id', sa.Uuid(), nullable=True),
    sa.Column('credential_id', sa.Uuid(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind in ('device', 'gateway')", name=op.f('ck_monitoring_device_kind_known')),
    sa.ForeignKeyConstraint(['credential_id'], ['device_credential.id'], name=op.f('fk_monitoring_device_credential_id_device_credential'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['gateway_id'], ['monitoring_device.id'], name=op.f('fk_monitoring_device_gateway_id_monitoring_device'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['monitoring_team.id'], name=op.f('fk_monitoring_device_team_id_monitoring_team'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_device')),
    sa.UniqueConstraint('identifier', name=op.f('uq_monitoring_device_identifier'))
    )
    op.create_index(op.f('ix_monitoring_device_gateway_id'), 'monitoring_device', ['gateway_id'], unique=False)
    op.create_index(op.f('ix_monitoring_device_team_id'), 'monitoring_device', ['team_id'], unique=False)
    op.create_table('monitoring_enrolment',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('programme', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('prescribed_on', sa.Date(), nullable=False),
    sa.Column('prescriber_id', sa.Uuid(), nullable=True),
    sa.Column('duration_months', sa.Integer(), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('consent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reference_values', JSON, nullable=False),
    sa.Column('overrides', JSON, nullable=False),
    sa.Column('enhanced_periods', JSON, nullable=False),
    sa.Column('watch_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status in ('active', 'paused', 'ended')", name=op.f('ck_monitoring_enrolment_status_known')),
    sa.CheckConstraint('duration_months >= 1 and duration_months <= 12', name=op.f('ck_monitoring_enrolment_duration_at_most_one_year')),
    sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_monitoring_enrolment_ends_after_start')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_monitoring_enrolment_created_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['prescriber_id'], ['user_account.id'], name=op.f('fk_monitoring_enrolment_prescriber_id_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['monitoring_team.id'], name=op.f('fk_monitoring_enrolment_team_id_monitoring_team')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_enrolment'))
    )
    op.create_index('ix_monitoring_enrolment_patient_programme', 'monitoring_enrolment', ['patient_id', 'programme'], unique=False)
    op.create_index(op.f('ix_monitoring_enrolment_status'), 'monitoring_enrolment', ['status'], unique=False)
    op.create_index(op.f('ix_monitoring_enrolment_team_id'), 'monitoring_enrolment', ['team_id'], unique=False)
    op.create_table('monitoring_green_receipt',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=True),
    sa.Column('actor_id', sa.Uuid(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_monitoring_green_receipt_actor_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_green_receipt'))
    )
    op.create_table('monitoring_team_member',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role in ('physician', 'nurse')", name=op.f('ck_monitoring_team_member_role_known')),
    sa.ForeignKeyConstraint(['team_id'], ['monitoring_team.id'], name=op.f('fk_monitoring_team_member_team_id_monitoring_team'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_monitoring_team_member_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_team_member')),
    sa.UniqueConstraint('team_id', 'user_id', name=op.f('uq_monitoring_team_member_team_id_user_id'))
    )
    op.create_index(op.f('ix_monitoring_team_member_user_id'), 'monitoring_team_member', ['user_id'], unique=False)
    op.create_table('monitoring_alert',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('enrolment_id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('condition', sa.String(length=32), nullable=False),
    sa.Column('severity', sa.String(length=8), nullable=False),
    sa.Column('silence', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('open_key', sa.String(length=80), nullable=True),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('measure', sa.String(length=24), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('reading_key', sa.String(length=128), nullable=True),
    sa.Column('occurrences', sa.Integer(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.Uuid(), nullable=True),
    sa.Column('close_reason', sa.String(length=16), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('receipt_id', sa.Uuid(), nullable=True),
    sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('escalated_to', sa.Uuid(), nullable=True),
    sa.Column('escalated_by', sa.Uuid(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(status = 'open') = (open_key is not null)", name=op.f('ck_monitoring_alert_open_key_when_open')),
    sa.CheckConstraint("severity in ('red', 'orange', 'green')", name=op.f('ck_monitoring_alert_severity_known')),
    sa.CheckConstraint("status in ('open', 'closed')", name=op.f('ck_monitoring_alert_status_known')),
    sa.ForeignKeyConstraint(['enrolment_id'], ['monitoring_enrolment.id'], name=op.f('fk_monitoring_alert_enrolment_id_monitoring_enrolment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['receipt_id'], ['monitoring_green_receipt.id'], name=op.f('fk_monitoring_alert_receipt_id_monitoring_green_receipt'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_alert')),
    sa.UniqueConstraint('open_key', name=op.f('uq_monitoring_alert_open_key'))
    )
    op.create_index(op.f('ix_monitoring_alert_enrolment_id'), 'monitoring_alert', ['enrolment_id'], unique=False)
    op.create_index('ix_monitoring_alert_patient_opened', 'monitoring_alert', ['patient_id', 'opened_at'], unique=False)
    op.create_index('ix_monitoring_alert_status_severity', 'monitoring_alert', ['status', 'severity'], unique=False)
    op.create_index(op.f('ix_monitoring_alert_team_id'), 'monitoring_alert', ['team_id'], unique=False)
    op.create_index(op.f('ix_monitoring_alert_updated_at'), 'monitoring_alert', ['updated_at'], unique=False)
    op.create_table('monitoring_device_assignment',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('enrolment_id', sa.Uuid(), nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=False),
    sa.Column('active_device_id', sa.Uuid(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['monitoring_device.id'], name=op.f('fk_monitoring_device_assignment_device_id_monitoring_device')),
    sa.ForeignKeyConstraint(['enrolment_id'], ['monitoring_enrolment.id'], name=op.f('fk_monitoring_device_assignment_enrolment_id_monitoring_enrolment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_device_assignment')),
    sa.UniqueConstraint('active_device_id', name=op.f('uq_monitoring_device_assignment_active_device_id'))
    )
    op.create_index(op.f('ix_monitoring_device_assignment_device_id'), 'monitoring_device_assignment', ['device_id'], unique=False)
    op.create_index(op.f('ix_monitoring_device_assignment_enrolment_id'), 'monitoring_device_assignment', ['enrolment_id'], unique=False)
    op.create_table('monitoring_forfait',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('enrolment_id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('team_id', sa.Uuid(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('amount_cents', sa.Integer(), nullable=False),
    sa.Column('monitored_days', sa.Integer(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("level in ('1', '2', 'enhanced_1', 'enhanced_2')", name=op.f('ck_monitoring_forfait_level_known')),
    sa.ForeignKeyConstraint(['enrolment_id'], ['monitoring_enrolment.id'], name=op.f('fk_monitoring_forfait_enrolment_id_monitoring_enrolment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_forfait')),
    sa.UniqueConstraint('enrolment_id', 'month', name=op.f('uq_monitoring_forfait_enrolment_id_month'))
    )
    op.create_index(op.f('ix_monitoring_forfait_month'), 'monitoring_forfait', ['month'], unique=False)
    op.create_index(op.f('ix_monitoring_forfait_team_id'), 'monitoring_forfait', ['team_id'], unique=False)
    op.create_table('monitoring_pause',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('enrolment_id', sa.Uuid(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.CheckConstraint("reason in ('hospitalisation', 'holidays', 'other')", name=op.f('ck_monitoring_pause_reason_known')),
    sa.CheckConstraint('ends_at is null or ends_at > starts_at', name=op.f('ck_monitoring_pause_ends_after_start')),
    sa.ForeignKeyConstraint(['enrolment_id'], ['monitoring_enrolment.id'], name=op.f('fk_monitoring_pause_enrolment_id_monitoring_enrolment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_pause'))
    )
    op.create_index(op.f('ix_monitoring_pause_enrolment_id'), 'monitoring_pause', ['enrolment_id'], unique=False)
    op.create_table('monitoring_reading',
    sa.Column('id', READING_ID, autoincrement=True, nullable=False),
    sa.Column('device_id', sa.Uuid(), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('enrolment_id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('measure', sa.String(length=24), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('original_value', sa.Float(), nullable=False),
    sa.Column('original_unit', sa.String(length=24), nullable=False),
    sa.Column('taken_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('local_day', sa.Date(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.CheckConstraint("status in ('monitored', 'paused', 'ended')", name=op.f('ck_monitoring_reading_status_known')),
    sa.ForeignKeyConstraint(['device_id'], ['monitoring_device.id'], name=op.f('fk_monitoring_reading_device_id_monitoring_device')),
    sa.ForeignKeyConstraint(['enrolment_id'], ['monitoring_enrolment.id'], name=op.f('fk_monitoring_reading_enrolment_id_monitoring_enrolment')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_reading')),
    sa.UniqueConstraint('device_id', 'external_id', name=op.f('uq_monitoring_reading_device_id_external_id'))
    )
    op.create_index('ix_monitoring_reading_enrolment_day', 'monitoring_reading', ['enrolment_id', 'local_day'], unique=False)
    op.create_index('ix_monitoring_reading_patient_measure_taken', 'monitoring_reading', ['patient_id', 'measure', 'taken_at'], unique=False)
    op.create_table('monitoring_rule_state',
    sa.Column('enrolment_id', sa.Uuid(), nullable=False),
    sa.Column('state', JSON, nullable=False),
    sa.Column('silence_due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enrolment_id'], ['monitoring_enrolment.id'], name=op.f('fk_monitoring_rule_state_enrolment_id_monitoring_enrolment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('enrolment_id', name=op.f('pk_monitoring_rule_state'))
    )
    op.create_index(op.f('ix_monitoring_rule_state_silence_due_at'), 'monitoring_rule_state', ['silence_due_at'], unique=False)
    op.create_table('monitoring_alert_event',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('alert_id', sa.Uuid(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['monitoring_alert.id'], name=op.f('fk_monitoring_alert_event_alert_id_monitoring_alert'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_alert_event'))
    )
    op.create_index(op.f('ix_monitoring_alert_event_alert_id'), 'monitoring_alert_event', ['alert_id'], unique=False)
    op.create_table('monitoring_notification',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('alert_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['monitoring_alert.id'], name=op.f('fk_monitoring_notification_alert_id_monitoring_alert'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_monitoring_notification_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitoring_notification'))
    )
    op.create_index(op.f('ix_monitoring_notification_user_id'), 'monitoring_notification', ['user_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_monitoring_notification_user_id'), table_name='monitoring_notification')
    op.drop_table('monitoring_notification')
    op.drop_index(op.f('ix_monitoring_alert_event_alert_id'), table_name='monitoring_alert_event')
    op.drop_table('monitoring_alert_event')
    op.drop_index(op.f('ix_monitoring_rule_state_silence_due_at'), table_name='monitoring_rule_state')
    op.drop_table('monitoring_rule_state')
    op.drop_index('ix_monitoring_reading_patient_measure_taken', table_name='monitoring_reading')
    op.drop_index('ix_monitoring_reading_enrolment_day', table_name='monitoring_reading')
    op.drop_table('monitoring_reading')
    op.drop_index(op.f('ix_monitoring_pause_enrolment_id'), table_name='monitoring_pause')
    op.drop_table('monitoring_pause')
    op.drop_index(op.f('ix_monitoring_forfait_team_id'), table_name='monitoring_forfait')
    op.drop_index(op.f('ix_monitoring_forfait_month'), table_name='monitoring_forfait')
    op.drop_table('monitoring_forfait')
    op.drop_index(op.f('ix_monitoring_device_assignment_enrolment_id'), table_name='monitoring_device_assignment')
    op.drop_index(op.f('ix_monitoring_device_assignment_device_id'), table_name='monitoring_device_assignment')
    op.drop_table('monitoring_device_assignment')
    op.drop_index(op.f('ix_monitoring_alert_updated_at'), table_name='monitoring_alert')
    op.drop_index(op.f('ix_monitoring_alert_team_id'), table_name='monitoring_alert')
    op.drop_index('ix_monitoring_alert_status_severity', table_name='monitoring_alert')
    op.drop_index('ix_monitoring_alert_patient_opened', table_name='monitoring_alert')
    op.drop_index(op.f('ix_monitoring_alert_enrolment_id'), table_name='monitoring_alert')
    op.drop_table('monitoring_alert')
    op.drop_index(op.f('ix_monitoring_team_member_user_id'), table_name='monitoring_team_member')
    op.drop_table('monitoring_team_member')
    op.drop_table('monitoring_green_receipt')
    op.drop_index(op.f('ix_monitoring_enrolment_team_id'), table_name='monitoring_enrolment')
    op.drop_index(op.f('ix_monitoring_enrolment_status'), table_name='monitoring_enrolment')
    op.drop_index('ix_monitoring_enrolment_patient_programme', table_name='monitoring_enrolment')
    op.drop_table('monitoring_enrolment')
    op.drop_index(op.f('ix_monitoring_device_team_id'), table_name='monitoring_device')
    op.drop_index(op.f('ix_monitoring_device_gateway_id'), table_name='monitoring_device')
    op.drop_table('monitoring_device')
    op.drop_table('monitoring_team')
