"""mssante: documents sent by MSSanté, the applicative mailbox's reading position, messages received

Revision ID: 20261207_0810
Revises: 20261207_0800
Create Date: 2026-12-07 08:10:00+00:00

Three tables. A received message is unique by Message-ID and by mailbox + UIDVALIDITY + UID; its sender, subject and
declared identity are sealed text, its original bytes a vault blob, as is the XDM archive of a send.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_0810"
down_revision = "20261207_0800"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mssante_mailbox',
    sa.Column('name', sa.String(length=254), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=True),
    sa.Column('last_uid', sa.BigInteger(), nullable=False),
    sa.Column('polled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_mssante_mailbox'))
    )
    op.create_table('mssante_received',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('mailbox', sa.String(length=254), nullable=False),
    sa.Column('uidvalidity', sa.BigInteger(), nullable=False),
    sa.Column('uid', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.String(length=250), nullable=False),
    sa.Column('sender', sa.Text(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('declared_identity', sa.Text(), nullable=True),
    sa.Column('declared_birth_name', sa.Text(), nullable=True),
    sa.Column('declared_birth_date', sa.Date(), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('document_count', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason_code', sa.String(length=30), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=True),
    sa.Column('raw_blob_id', sa.Uuid(), nullable=True),
    sa.Column('patient_id', sa.Uuid(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('handled_by', sa.Uuid(), nullable=True),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status in ('filed', 'pending', 'refused', 'matched', 'dismissed')", name=op.f('ck_mssante_received_status_known')),
    sa.CheckConstraint("status not in ('filed', 'matched') or patient_id is not null", name=op.f('ck_mssante_received_filed_has_patient')),
    sa.ForeignKeyConstraint(['handled_by'], ['user_account.id'], name=op.f('fk_mssante_received_handled_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_mssante_received_patient_id_patient'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['raw_blob_id'], ['vault_blob.id'], name=op.f('fk_mssante_received_raw_blob_id_vault_blob')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mssante_received')),
    sa.UniqueConstraint('mailbox', 'uidvalidity', 'uid', name='uq_mssante_received_uid'),
    sa.UniqueConstraint('message_id', name='uq_mssante_received_message_id')
    )
    with op.batch_alter_table('mssante_received', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mssante_received_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index('ix_mssante_received_status_received', ['status', 'received_at'], unique=False)

    op.create_table('mssante_send',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('source_type', sa.String(length=30), nullable=False),
    sa.Column('source_id', sa.String(length=100), nullable=False),
    sa.Column('recipient', sa.String(length=254), nullable=False),
    sa.Column('delivery_key', sa.String(length=120), nullable=False),
    sa.Column('message_id', sa.String(length=250), nullable=False),
    sa.Column('with_ins', sa.Boolean(), nullable=False),
    sa.Column('cda_code', sa.String(length=20), nullable=True),
    sa.Column('xdm_blob_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('sent_by', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("source_type in ('document', 'teleexpertise_report')", name=op.f('ck_mssante_send_source_type_known')),
    sa.CheckConstraint("status in ('queued', 'sent', 'failed')", name=op.f('ck_mssante_send_status_known')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_mssante_send_patient_id_patient'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['sent_by'], ['user_account.id'], name=op.f('fk_mssante_send_sent_by_user_account')),
    sa.ForeignKeyConstraint(['xdm_blob_id'], ['vault_blob.id'], name=op.f('fk_mssante_send_xdm_blob_id_vault_blob')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mssante_send')),
    sa.UniqueConstraint('delivery_key', name='uq_mssante_send_delivery_key')
    )
    with op.batch_alter_table('mssante_send', schema=None) as batch_op:
        batch_op.create_index('ix_mssante_send_patient_created', ['patient_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('mssante_send', schema=None) as batch_op:
        batch_op.drop_index('ix_mssante_send_patient_created')

    op.drop_table('mssante_send')
    with op.batch_alter_table('mssante_received', schema=None) as batch_op:
        batch_op.drop_index('ix_mssante_received_status_received')
        batch_op.drop_index(batch_op.f('ix_mssante_received_patient_id'))

    op.drop_table('mssante_received')
    op.drop_table('mssante_mailbox')
