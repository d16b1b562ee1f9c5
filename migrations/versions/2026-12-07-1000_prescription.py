"""prescription: the public drug database (BDPM) as last imported and its releases; prescriptions, their lines
and their dispensations

Revision ID: 20261207_1000
Revises: 20261207_0900
Create Date: 2026-12-07 10:00:00+00:00

The searchable keys (drug_speciality.name_key, drug_composition.substance_key) use PostgreSQL's byte-order "C"
collation, so a name prefix is one B-tree range on both backends (SQLite compares bytes already). The free text of
prescriptions (instructions, conditions, drug labels, reasons, the signed content) is sealed text; a line's
dispensed quantity can never pass what was prescribed (ck_prescription_line_dispensed_within_prescribed).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_1000"
down_revision = "20261207_0900"
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

    op.create_table('prescription',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=True),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('prescriber_id', sa.Uuid(), nullable=False),
    sa.Column('source_kind', sa.String(length=16), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('pharmacy_id', sa.Uuid(), nullable=True),
    sa.Column('drug_release_id', sa.Uuid(), nullable=True),
    sa.Column('instructions', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('valid_until', sa.Date(), nullable=True),
    sa.Column('signed_content', sa.Text(), nullable=True),
    sa.Column('signature', sa.String(length=100), nullable=True),
    sa.Column('signing_key_id', sa.String(length=64), nullable=True),
    sa.Column('verification_code', sa.String(length=8), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_by', sa.Uuid(), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("source_kind in ('patient', 'opinion', 'teleconsultation')", name=op.f('ck_prescription_source_kind_known')),
    sa.CheckConstraint("status in ('draft', 'signed', 'partially_dispensed', 'dispensed', 'cancelled', 'expired')", name=op.f('ck_prescription_status_known')),
    sa.ForeignKeyConstraint(['cancelled_by'], ['user_account.id'], name=op.f('fk_prescription_cancelled_by_user_account')),
    sa.ForeignKeyConstraint(['drug_release_id'], ['drug_release.id'], name=op.f('fk_prescription_drug_release_id_drug_release')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_prescription_patient_id_patient'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['pharmacy_id'], ['establishment.id'], name=op.f('fk_prescription_pharmacy_id_establishment')),
    sa.ForeignKeyConstraint(['prescriber_id'], ['user_account.id'], name=op.f('fk_prescription_prescriber_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prescription')),
    sa.UniqueConstraint('number', name=op.f('uq_prescription_number'))
    )
    with op.batch_alter_table('prescription', schema=None) as batch_op:
        batch_op.create_index('ix_prescription_patient', ['patient_id', 'created_at'], unique=False)
        batch_op.create_index('ix_prescription_pharmacy', ['pharmacy_id', 'status'], unique=False)
        batch_op.create_index('ix_prescription_prescriber', ['prescriber_id', 'created_at'], unique=False)

    op.create_table('prescription_line',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('prescription_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('cis', sa.String(length=8), nullable=True),
    sa.Column('cip13', sa.String(length=13), nullable=True),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('dose', sa.Numeric(precision=10, scale=3), nullable=False),
    sa.Column('dose_unit', sa.String(length=20), nullable=False),
    sa.Column('times', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('duration', sa.Integer(), nullable=False),
    sa.Column('duration_unit', sa.String(length=8), nullable=False),
    sa.Column('conditions', sa.Text(), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('renewals', sa.Integer(), nullable=False),
    sa.Column('non_substitutable', sa.Boolean(), nullable=False),
    sa.Column('non_substitution_reason', sa.String(length=3), nullable=True),
    sa.Column('ald', sa.Boolean(), nullable=False),
    sa.Column('dispensed_quantity', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind in ('speciality', 'substance')", name=op.f('ck_prescription_line_kind_known')),
    sa.CheckConstraint("non_substitution_reason is null or non_substitution_reason in ('MTE', 'EFG', 'CIF')", name=op.f('ck_prescription_line_non_substitution_reason_known')),
    sa.CheckConstraint('(non_substitution_reason is not null) = non_substitutable', name=op.f('ck_prescription_line_non_substitution_has_reason')),
    sa.CheckConstraint('dispensed_quantity >= 0 and dispensed_quantity <= quantity * (renewals + 1)', name=op.f('ck_prescription_line_dispensed_within_prescribed')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_prescription_line_quantity_positive')),
    sa.CheckConstraint('renewals >= 0 and renewals <= 11', name=op.f('ck_prescription_line_renewals_in_range')),
    sa.ForeignKeyConstraint(['prescription_id'], ['prescription.id'], name=op.f('fk_prescription_line_prescription_id_prescription'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prescription_line'))
    )
    with op.batch_alter_table('prescription_line', schema=None) as batch_op:
        batch_op.create_index('ix_prescription_line_prescription', ['prescription_id', 'position'], unique=False)

    op.create_table('prescription_dispensation',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('prescription_id', sa.Uuid(), nullable=False),
    sa.Column('line_id', sa.Uuid(), nullable=False),
    sa.Column('pharmacist_id', sa.Uuid(), nullable=False),
    sa.Column('establishment_id', sa.Uuid(), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('substitute_cis', sa.String(length=8), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('dispensed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(outcome = 'substituted') = (substitute_cis is not null)", name=op.f('ck_prescription_dispensation_substitute_when_substituted')),
    sa.CheckConstraint("outcome in ('delivered', 'substituted', 'not_delivered')", name=op.f('ck_prescription_dispensation_outcome_known')),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_prescription_dispensation_quantity_non_negative')),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_prescription_dispensation_establishment_id_establishment')),
    sa.ForeignKeyConstraint(['line_id'], ['prescription_line.id'], name=op.f('fk_prescription_dispensation_line_id_prescription_line'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pharmacist_id'], ['user_account.id'], name=op.f('fk_prescription_dispensation_pharmacist_id_user_account')),
    sa.ForeignKeyConstraint(['prescription_id'], ['prescription.id'], name=op.f('fk_prescription_dispensation_prescription_id_prescription'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prescription_dispensation'))
    )
    with op.batch_alter_table('prescription_dispensation', schema=None) as batch_op:
        batch_op.create_index('ix_prescription_dispensation_line', ['line_id'], unique=False)
        batch_op.create_index('ix_prescription_dispensation_prescription', ['prescription_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('prescription_dispensation', schema=None) as batch_op:
        batch_op.drop_index('ix_prescription_dispensation_prescription')
        batch_op.drop_index('ix_prescription_dispensation_line')

    op.drop_table('prescription_dispensation')
    with op.batch_alter_table('prescription_line', schema=None) as batch_op:
        batch_op.drop_index('ix_prescription_line_prescription')

    op.drop_table('prescription_line')
    with op.batch_alter_table('prescription', schema=None) as batch_op:
        batch_op.drop_index('ix_prescription_prescriber')
        batch_op.drop_index('ix_prescription_pharmacy')
        batch_op.drop_index('ix_prescription_patient')

    op.drop_table('prescription')
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
