"""fhir export parts: a large type's NDJSON is split into numbered files

Revision ID: 20261208_0400
Revises: 20261207_1600
Create Date: 2026-12-08 04:00:00+00:00

The bulk export writes each type in files of bounded size (``fhir.bulk.FILE_BYTES``) instead of one file built whole
in memory; ``part`` numbers a type's files in the order they were written (1 for the files written before).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261208_0400"
down_revision = "20261207_1600"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('fhir_export_file', schema=None) as batch_op:
        batch_op.add_column(sa.Column('part', sa.Integer(), nullable=False, server_default='1'))


def downgrade() -> None:
    with op.batch_alter_table('fhir_export_file', schema=None) as batch_op:
        batch_op.drop_column('part')
