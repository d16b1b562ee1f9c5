"""prescription: the public drug database (BDPM) as last imported, and its releases

Revision ID: 20261207_1000
Revises: 20261207_0700
Create Date: 2026-12-07 10:00:00+00:00

The searchable keys (drug_speciality.name_key, drug_composition.substance_key) use PostgreSQL's byte-order "C"
collation, so a name prefix is one B-tree range on both backends (SQLite compares bytes already).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_1000"
down_revision = "20261207_0700"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('drug_release',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('encoding', sa.String(length=16), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.Column('speciality_count', sa.Integer(), nullable=False),
    sa.Column('presentation_count', sa.Integer(), nullable=False),
    sa.Column('skipped_line_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drug_release'))
    )
    with op.batch_alter_table('drug_release', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drug_release_checksum'), ['checksum'], unique=False)

    op.create_table('drug_speciality',
    sa.Column('cis', sa.String(length=8), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('name_key', sa.String(length=300).with_variant(sa.String(length=300, collation='C'), 'postgresql'), nullable=False),
    sa.Column('form', sa.Text(), nullable=False),
    sa.Column('routes', sa.Text(), nullable=False),
    sa.Column('authorisation_status', sa.String(length=120), nullable=False),
    sa.Column('marketed', sa.Boolean(), nullable=False),
    sa.Column('authorised_on', sa.Date(), nullable=True),
    sa.Column('bdm_status', sa.String(length=60), nullable=False),
    sa.Column('holders', sa.Text(), nullable=False),
    sa.Column('enhanced_monitoring', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('cis', name=op.f('pk_drug_speciality'))
    )
    with op.batch_alter_table('drug_speciality', schema=None) as batch_op:
        batch_op.create_index('ix_drug_speciality_name_key', ['name_key'], unique=False)

    op.create_table('drug_composition',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('cis', sa.String(length=8), nullable=False),
    sa.Column('element', sa.Text(), nullable=False),
    sa.Column('substance_code', sa.String(length=12), nullable=False),
    sa.Column('substance', sa.Text(), nullable=False),
    sa.Column('substance_key', sa.String(length=300).with_variant(sa.String(length=300, collation='C'), 'postgresql'), nullable=False),
    sa.Column('dosage', sa.Text(), nullable=False),
    sa.Column('dosage_reference', sa.Text(), nullable=False),
    sa.Column('nature', sa.String(length=2), nullable=False),
    sa.ForeignKeyConstraint(['cis'], ['drug_speciality.cis'], name=op.f('fk_drug_composition_cis_drug_speciality'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drug_composition'))
    )
    with op.batch_alter_table('drug_composition', schema=None) as batch_op:
        batch_op.create_index('ix_drug_composition_cis', ['cis'], unique=False)
        batch_op.create_index('ix_drug_composition_substance_key', ['substance_key'], unique=False)

    op.create_table('drug_generic_member',
    sa.Column('cis', sa.String(length=8), nullable=False),
    sa.Column('group_id', sa.String(length=12), nullable=False),
    sa.Column('group_label', sa.Text(), nullable=False),
    sa.Column('kind', sa.Integer(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['cis'], ['drug_speciality.cis'], name=op.f('fk_drug_generic_member_cis_drug_speciality'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('cis', 'group_id', name=op.f('pk_drug_generic_member'))
    )
    with op.batch_alter_table('drug_generic_member', schema=None) as batch_op:
        batch_op.create_index('ix_drug_generic_member_group', ['group_id'], unique=False)

    op.create_table('drug_notice',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('cis', sa.String(length=8), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=True),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('link', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['cis'], ['drug_speciality.cis'], name=op.f('fk_drug_notice_cis_drug_speciality'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drug_notice'))
    )
    with op.batch_alter_table('drug_notice', schema=None) as batch_op:
        batch_op.create_index('ix_drug_notice_cis', ['cis'], unique=False)

    op.create_table('drug_search_term',
    sa.Column('term', sa.String(length=60).with_variant(sa.String(length=60, collation='C'), 'postgresql'), nullable=False),
    sa.Column('cis', sa.String(length=8), nullable=False),
    sa.Column('marketed', sa.Boolean(), nullable=False),
    sa.Column('name_key', sa.String(length=300).with_variant(sa.String(length=300, collation='C'), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['cis'], ['drug_speciality.cis'], name=op.f('fk_drug_search_term_cis_drug_speciality'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('term', 'cis', name=op.f('pk_drug_search_term'))
    )
    op.create_table('drug_presentation',
    sa.Column('cip13', sa.String(length=13), nullable=False),
    sa.Column('cip7', sa.String(length=7), nullable=False),
    sa.Column('cis', sa.String(length=8), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('marketed', sa.Boolean(), nullable=False),
    sa.Column('reimbursement_rates', sa.String(length=60), nullable=False),
    sa.Column('price_eur', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.ForeignKeyConstraint(['cis'], ['drug_speciality.cis'], name=op.f('fk_drug_presentation_cis_drug_speciality'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('cip13', name=op.f('pk_drug_presentation'))
    )
    with op.batch_alter_table('drug_presentation', schema=None) as batch_op:
        batch_op.create_index('ix_drug_presentation_cis', ['cis'], unique=False)



def downgrade() -> None:
    op.drop_table('drug_search_term')
    with op.batch_alter_table('drug_presentation', schema=None) as batch_op:
        batch_op.drop_index('ix_drug_presentation_cis')

    op.drop_table('drug_presentation')
    with op.batch_alter_table('drug_notice', schema=None) as batch_op:
        batch_op.drop_index('ix_drug_notice_cis')

    op.drop_table('drug_notice')
    with op.batch_alter_table('drug_generic_member', schema=None) as batch_op:
        batch_op.drop_index('ix_drug_generic_member_group')

    op.drop_table('drug_generic_member')
    with op.batch_alter_table('drug_composition', schema=None) as batch_op:
        batch_op.drop_index('ix_drug_composition_substance_key')
        batch_op.drop_index('ix_drug_composition_cis')

    op.drop_table('drug_composition')
    with op.batch_alter_table('drug_speciality', schema=None) as batch_op:
        batch_op.drop_index('ix_drug_speciality_name_key')

    op.drop_table('drug_speciality')
    with op.batch_alter_table('drug_release', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drug_release_checksum'))

    op.drop_table('drug_release')
