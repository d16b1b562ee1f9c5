"""fhir: the business identifiers clients give the resources they create through the FHIR door

Revision ID: 20261207_0900
Revises: 20261207_0810
Create Date: 2026-12-07 09:00:00+00:00

One table, unique on (resource type, system, value): a conditional create sent twice, or twice at once, makes one
resource (maillage.models.fhir).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_0900"
down_revision = "20261207_0810"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fhir_identifier',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('resource_type', sa.String(length=40), nullable=False),
    sa.Column('system', sa.String(length=200), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('resource_id', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fhir_identifier')),
    sa.UniqueConstraint('resource_type', 'system', 'value', name='uq_fhir_identifier_key')
    )
    with op.batch_alter_table('fhir_identifier', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fhir_identifier_resource_id'), ['resource_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fhir_identifier', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fhir_identifier_resource_id'))
    op.drop_table('fhir_identifier')
