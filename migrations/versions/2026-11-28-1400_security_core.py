"""security core: accounts, sessions, tokens, care relationships

Revision ID: 20261128_1400
Revises: 20261128_1323
Create Date: 2026-11-28 13:35:08.161214+00:00

Accounts, second factor, sessions, API tokens, device credentials, login attempts (auth);
care relationships and break-the-glass accesses (authz).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '20261128_1400'
down_revision = '20261128_1323'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('device_credential',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('device_identifier', sa.String(length=128), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('establishment_id', sa.Uuid(), nullable=True),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_credential')),
    sa.UniqueConstraint('device_identifier', name=op.f('uq_device_credential_device_identifier')),
    sa.UniqueConstraint('secret_hash', name=op.f('uq_device_credential_secret_hash'))
    )
    op.create_table('login_attempt',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempt'))
    )
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempt_address_at', ['address', 'at'], unique=False)

    op.create_table('user_account',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('person_id', sa.Uuid(), nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('totp_enrolled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('totp_last_step', sa.Integer(), nullable=True),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('lockouts', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('external_issuer', sa.String(length=255), nullable=True),
    sa.Column('external_subject', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role in ('physician', 'midwife', 'nurse', 'coordinating_nurse', 'pharmacist', 'billing_officer', 'analyst', 'identity_officer', 'administrator')", name=op.f('ck_user_account_role_known')),
    sa.CheckConstraint("status in ('active', 'disabled')", name=op.f('ck_user_account_status_known')),
    sa.CheckConstraint('failed_logins >= 0', name=op.f('ck_user_account_failed_logins_non_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_account')),
    sa.UniqueConstraint('username', name=op.f('uq_user_account_username'))
    )
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_account_person_id'), ['person_id'], unique=False)

    op.create_table('api_token',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('service_name', sa.String(length=100), nullable=True),
    sa.Column('service_role', sa.String(length=32), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(kind = 'personal' and user_id is not null) or (kind = 'service' and service_name is not null)", name=op.f('ck_api_token_owner_present')),
    sa.CheckConstraint("kind in ('personal', 'service')", name=op.f('ck_api_token_kind_known')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_api_token_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_token')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_token_token_hash'))
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_user_id'), ['user_id'], unique=False)

    op.create_table('auth_session',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('mfa_passed', sa.Boolean(), nullable=False),
    sa.Column('establishment_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_auth_session_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_auth_session')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_auth_session_token_hash'))
    )
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.create_index('ix_auth_session_user_active', ['user_id', 'revoked_at'], unique=False)

    op.create_table('break_glass_access',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reviewed_by', sa.Uuid(), nullable=True),
    sa.Column('review_comment', sa.Text(), nullable=True),
    sa.CheckConstraint('expires_at > starts_at', name=op.f('ck_break_glass_access_expires_after_start')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_break_glass_access_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_break_glass_access'))
    )
    with op.batch_alter_table('break_glass_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_break_glass_access_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_break_glass_user_patient', ['user_id', 'patient_id'], unique=False)

    op.create_table('care_relationship',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('source_type', sa.String(length=64), nullable=True),
    sa.Column('source_id', sa.String(length=64), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind in ('requester', 'expert', 'care_team', 'participant', 'prescriber', 'dispenser', 'care_unit', 'attending')", name=op.f('ck_care_relationship_kind_known')),
    sa.CheckConstraint('ends_at is null or ends_at > starts_at', name=op.f('ck_care_relationship_ends_after_start')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_care_relationship_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_care_relationship'))
    )
    with op.batch_alter_table('care_relationship', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_care_relationship_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_care_relationship_source', ['source_type', 'source_id'], unique=False)
        batch_op.create_index('ix_care_relationship_user_patient', ['user_id', 'patient_id'], unique=False)

    op.create_table('recovery_code',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_recovery_code_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_code'))
    )
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_code_user_id'), ['user_id'], unique=False)

    op.create_table('user_establishment',
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('establishment_id', sa.Uuid(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_establishment_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', 'establishment_id', name=op.f('pk_user_establishment'))
    )


def downgrade() -> None:
    op.drop_table('user_establishment')
    with op.batch_alter_table('recovery_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_code_user_id'))

    op.drop_table('recovery_code')
    with op.batch_alter_table('care_relationship', schema=None) as batch_op:
        batch_op.drop_index('ix_care_relationship_user_patient')
        batch_op.drop_index('ix_care_relationship_source')
        batch_op.drop_index(batch_op.f('ix_care_relationship_patient_id'))

    op.drop_table('care_relationship')
    with op.batch_alter_table('break_glass_access', schema=None) as batch_op:
        batch_op.drop_index('ix_break_glass_user_patient')
        batch_op.drop_index(batch_op.f('ix_break_glass_access_patient_id'))

    op.drop_table('break_glass_access')
    with op.batch_alter_table('auth_session', schema=None) as batch_op:
        batch_op.drop_index('ix_auth_session_user_active')

    op.drop_table('auth_session')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_user_id'))

    op.drop_table('api_token')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_account_person_id'))

    op.drop_table('user_account')
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempt_address_at')

    op.drop_table('login_attempt')
    op.drop_table('device_credential')
