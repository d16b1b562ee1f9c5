"""fhir bulk: Bulk Data exports and their files; the SHA-1 of a document kept at upload

Revision ID: 20261207_1600
Revises: 20261207_1500
Create Date: 2026-12-07 16:00:00+00:00

``fhir_export`` is one client's export (FHIR Bulk Data Access IG v2), ``fhir_export_file`` its NDJSON files, each a
vault blob (encrypted at rest) deleted with the export at its expiry. ``document.sha1`` is FHIR R4's
``Attachment.hash``: kept at upload so a DocumentReference search does not decrypt every content; rows stored before
it are filled the first time their content is read (the migration cannot decrypt: the keys are not its business).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261207_1600"
down_revision = "20261207_1500"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sha1', sa.String(length=40), nullable=True))
    op.create_table('fhir_export',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('client_id', sa.Uuid(), nullable=False),
    sa.Column('token_id', sa.Uuid(), nullable=True),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('group_id', sa.Uuid(), nullable=True),
    sa.Column('types', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=True),
    sa.Column('request_url', sa.String(length=2000), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('progress', sa.String(length=200), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("level in ('system', 'patient', 'group')", name=op.f('ck_fhir_export_level_known')),
    sa.CheckConstraint("status in ('queued', 'running', 'done', 'failed', 'cancelled')",
                       name=op.f('ck_fhir_export_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fhir_export'))
    )
    with op.batch_alter_table('fhir_export', schema=None) as batch_op:
        batch_op.create_index('ix_fhir_export_client', ['client_id', 'created_at'], unique=False)
    op.create_table('fhir_export_file',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('export_id', sa.Uuid(), nullable=False),
    sa.Column('resource_type', sa.String(length=40), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('blob_id', sa.Uuid(), nullable=False),
    sa.CheckConstraint('count >= 0', name=op.f('ck_fhir_export_file_count_non_negative')),
    sa.ForeignKeyConstraint(['blob_id'], ['vault_blob.id'], name=op.f('fk_fhir_export_file_blob_id_vault_blob')),
    sa.ForeignKeyConstraint(['export_id'], ['fhir_export.id'], name=op.f('fk_fhir_export_file_export_id_fhir_export'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fhir_export_file')),
    sa.UniqueConstraint('blob_id', name=op.f('uq_fhir_export_file_blob_id'))
    )
    with op.batch_alter_table('fhir_export_file', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fhir_export_file_export_id'), ['export_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fhir_export_file', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fhir_export_file_export_id'))
    op.drop_table('fhir_export_file')
    with op.batch_alter_table('fhir_export', schema=None) as batch_op:
        batch_op.drop_index('ix_fhir_export_client')
    op.drop_table('fhir_export')
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_column('sha1')
