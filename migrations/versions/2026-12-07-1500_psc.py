"""Pro Santé Connect sign-ins under way and access requests; request counters shared by serve processes

Revision ID: 20261207_1500
Revises: 20261207_1300
Create Date: 2026-12-07 15:00:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_1500"
down_revision = "20261207_1300"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('psc_login',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('state_hash', sa.String(length=64), nullable=False),
    sa.Column('browser_hash', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=128), nullable=False),
    sa.Column('code_verifier', sa.String(length=128), nullable=False),
    sa.Column('suite', sa.String(length=2000), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_psc_login')),
    sa.UniqueConstraint('state_hash', name=op.f('uq_psc_login_state_hash'))
    )
    with op.batch_alter_table('psc_login', schema=None) as batch_op:
        batch_op.create_index('ix_psc_login_expires_at', ['expires_at'], unique=False)
    op.create_table('psc_access_request',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('issuer', sa.String(length=255), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('national_id', sa.String(length=12), nullable=False),
    sa.Column('professional_id', sa.Uuid(), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.Uuid(), nullable=True),
    sa.Column('account_id', sa.Uuid(), nullable=True),
    sa.CheckConstraint("status in ('pending', 'approved', 'refused')",
                       name=op.f('ck_psc_access_request_status_known')),
    sa.ForeignKeyConstraint(['professional_id'], ['professional.id'],
                            name=op.f('fk_psc_access_request_professional_id_professional'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by'], ['user_account.id'],
                            name=op.f('fk_psc_access_request_decided_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['account_id'], ['user_account.id'],
                            name=op.f('fk_psc_access_request_account_id_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_psc_access_request')),
    sa.UniqueConstraint('subject', name=op.f('uq_psc_access_request_subject'))
    )
    with op.batch_alter_table('psc_access_request', schema=None) as batch_op:
        batch_op.create_index('ix_psc_access_request_status', ['status', 'requested_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_psc_access_request_professional_id'), ['professional_id'], unique=False)
    op.create_table('rate_window',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('window', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key', 'window', name=op.f('pk_rate_window'))
    )


def downgrade() -> None:
    op.drop_table('rate_window')
    with op.batch_alter_table('psc_access_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_psc_access_request_professional_id'))
        batch_op.drop_index('ix_psc_access_request_status')
    op.drop_table('psc_access_request')
    with op.batch_alter_table('psc_login', schema=None) as batch_op:
        batch_op.drop_index('ix_psc_login_expires_at')
    op.drop_table('psc_login')
