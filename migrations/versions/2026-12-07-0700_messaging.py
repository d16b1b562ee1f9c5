"""messaging: threads between professionals, participants (people or team mailboxes), messages and their history,
attachments, read marks

Revision ID: 20261207_0700
Revises: 20261207_0620
Create Date: 2026-12-07 07:00:00+00:00

Six tables. Subjects, bodies, reasons and attachment names are sealed text; attachment contents are vault blobs.
The participant rows repeat their thread's last_message_at so one person's or one team's recent threads are one
index range (ix_message_participant_user_recent / _team_recent); unread counts are last_seq - last_read_seq.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_0700"
down_revision = "20261207_0620"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('message_thread',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('subject_terms', sa.String(length=1200), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind in ('direct', 'group', 'team')", name=op.f('ck_message_thread_kind_known')),
    sa.CheckConstraint('last_seq >= 0', name=op.f('ck_message_thread_last_seq_non_negative')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_message_thread_created_by_user_account')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_message_thread_patient_id_patient'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_thread'))
    )
    with op.batch_alter_table('message_thread', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_thread_patient_id'), ['patient_id'], unique=False)

    op.create_table('message',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('thread_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Uuid(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('edited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('seq > 0', name=op.f('ck_message_seq_positive')),
    sa.ForeignKeyConstraint(['author_id'], ['user_account.id'], name=op.f('fk_message_author_id_user_account')),
    sa.ForeignKeyConstraint(['thread_id'], ['message_thread.id'], name=op.f('fk_message_thread_id_message_thread'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message')),
    sa.UniqueConstraint('thread_id', 'seq', name=op.f('uq_message_thread_id_seq'))
    )
    op.create_table('message_participant',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('thread_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=True),
    sa.Column('team_kind', sa.String(length=16), nullable=True),
    sa.Column('team_id', sa.Uuid(), nullable=True),
    sa.Column('added_by', sa.Uuid(), nullable=True),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('access_ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('removed_by', sa.Uuid(), nullable=True),
    sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("team_kind is null or team_kind in ('line', 'care_unit', 'nursing_team')", name=op.f('ck_message_participant_team_kind_known')),
    sa.CheckConstraint('(team_id is null) = (team_kind is null)', name=op.f('ck_message_participant_team_has_kind')),
    sa.CheckConstraint('(user_id is null) <> (team_id is null)', name=op.f('ck_message_participant_person_or_team')),
    sa.ForeignKeyConstraint(['added_by'], ['user_account.id'], name=op.f('fk_message_participant_added_by_user_account')),
    sa.ForeignKeyConstraint(['removed_by'], ['user_account.id'], name=op.f('fk_message_participant_removed_by_user_account')),
    sa.ForeignKeyConstraint(['thread_id'], ['message_thread.id'], name=op.f('fk_message_participant_thread_id_message_thread'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_message_participant_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_participant'))
    )
    with op.batch_alter_table('message_participant', schema=None) as batch_op:
        batch_op.create_index('ix_message_participant_team_recent', ['team_id', 'last_message_at'], unique=False)
        batch_op.create_index('ix_message_participant_thread', ['thread_id'], unique=False)
        batch_op.create_index('ix_message_participant_user_recent', ['user_id', 'last_message_at'], unique=False)

    op.create_table('message_read',
    sa.Column('thread_id', sa.Uuid(), nullable=False),
    sa.Column('user_id', sa.Uuid(), nullable=False),
    sa.Column('last_read_seq', sa.Integer(), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['thread_id'], ['message_thread.id'], name=op.f('fk_message_read_thread_id_message_thread'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_message_read_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('thread_id', 'user_id', name=op.f('pk_message_read'))
    )
    op.create_table('message_attachment',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('message_id', sa.Uuid(), nullable=False),
    sa.Column('thread_id', sa.Uuid(), nullable=False),
    sa.Column('blob_id', sa.Uuid(), nullable=False),
    sa.Column('display_name', sa.Text(), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('page_count', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('filed_document_id', sa.Uuid(), nullable=True),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('filed_by', sa.Uuid(), nullable=True),
    sa.CheckConstraint('size_bytes >= 0', name=op.f('ck_message_attachment_size_non_negative')),
    sa.ForeignKeyConstraint(['blob_id'], ['vault_blob.id'], name=op.f('fk_message_attachment_blob_id_vault_blob')),
    sa.ForeignKeyConstraint(['filed_by'], ['user_account.id'], name=op.f('fk_message_attachment_filed_by_user_account')),
    sa.ForeignKeyConstraint(['filed_document_id'], ['document.id'], name=op.f('fk_message_attachment_filed_document_id_document'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_message_attachment_message_id_message'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['thread_id'], ['message_thread.id'], name=op.f('fk_message_attachment_thread_id_message_thread'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_attachment')),
    sa.UniqueConstraint('blob_id', name=op.f('uq_message_attachment_blob_id'))
    )
    with op.batch_alter_table('message_attachment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_attachment_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_attachment_thread_id'), ['thread_id'], unique=False)

    op.create_table('message_revision',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('message_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('replaced_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind in ('edit', 'withdraw')", name=op.f('ck_message_revision_kind_known')),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], name=op.f('fk_message_revision_message_id_message'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_revision'))
    )
    with op.batch_alter_table('message_revision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_revision_message_id'), ['message_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('message_revision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_revision_message_id'))

    op.drop_table('message_revision')
    with op.batch_alter_table('message_attachment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_attachment_thread_id'))
        batch_op.drop_index(batch_op.f('ix_message_attachment_message_id'))

    op.drop_table('message_attachment')
    op.drop_table('message_read')
    with op.batch_alter_table('message_participant', schema=None) as batch_op:
        batch_op.drop_index('ix_message_participant_user_recent')
        batch_op.drop_index('ix_message_participant_thread')
        batch_op.drop_index('ix_message_participant_team_recent')

    op.drop_table('message_participant')
    op.drop_table('message')
    with op.batch_alter_table('message_thread', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_thread_patient_id'))

    op.drop_table('message_thread')
