"""territory: directory (GHT, establishments, care units, professionals, specialty lines) and patient identity

Revision ID: 20261128_1403
Revises: 20261128_1400
Create Date: 2026-11-28 14:03:00+00:00

The directory of the territory and the patients' identity, consents and identity-vigilance merges. Depends on the
security core (user_account) for who created, recorded or merged.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '20261128_1403'
down_revision = '20261128_1400'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ght',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('departement', sa.String(length=3), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ght')),
    sa.UniqueConstraint('code', name=op.f('uq_ght_code'))
    )
    op.create_table('professional',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('rpps', sa.String(length=11), nullable=True),
    sa.Column('adeli', sa.String(length=9), nullable=True),
    sa.Column('national_id', sa.String(length=12), nullable=False),
    sa.Column('identifier_warnings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('civility', sa.String(length=8), nullable=True),
    sa.Column('last_name', sa.String(length=100), nullable=False),
    sa.Column('first_name', sa.String(length=100), nullable=True),
    sa.Column('profession_code', sa.String(length=4), nullable=False),
    sa.Column('profession_label', sa.String(length=100), nullable=True),
    sa.Column('specialty_code', sa.String(length=8), nullable=True),
    sa.Column('specialty_label', sa.String(length=200), nullable=True),
    sa.Column('mssante', sa.String(length=254), nullable=True),
    sa.Column('phone', sa.String(length=30), nullable=True),
    sa.Column('search_text', sa.String(length=300), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("source in ('manual', 'finess', 'rpps', 'demo')", name=op.f('ck_professional_source_known')),
    sa.CheckConstraint('rpps is not null or adeli is not null', name=op.f('ck_professional_identifier_present')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_professional')),
    sa.UniqueConstraint('adeli', name=op.f('uq_professional_adeli')),
    sa.UniqueConstraint('national_id', name=op.f('uq_professional_national_id')),
    sa.UniqueConstraint('rpps', name=op.f('uq_professional_rpps'))
    )
    with op.batch_alter_table('professional', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_professional_profession_code'), ['profession_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_professional_search_text'), ['search_text'], unique=False)
        batch_op.create_index(batch_op.f('ix_professional_specialty_code'), ['specialty_code'], unique=False)

    op.create_table('establishment',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('ght_id', sa.Uuid(), nullable=True),
    sa.Column('ght_role', sa.String(length=16), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('finess_et', sa.String(length=9), nullable=True),
    sa.Column('finess_ej', sa.String(length=9), nullable=True),
    sa.Column('siret', sa.String(length=14), nullable=True),
    sa.Column('category_code', sa.String(length=3), nullable=True),
    sa.Column('public', sa.Boolean(), nullable=False),
    sa.Column('parent_id', sa.Uuid(), nullable=True),
    sa.Column('address_line', sa.String(length=200), nullable=True),
    sa.Column('postcode', sa.String(length=5), nullable=True),
    sa.Column('commune_insee', sa.String(length=5), nullable=True),
    sa.Column('commune_name', sa.String(length=100), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('phone', sa.String(length=30), nullable=True),
    sa.Column('mssante', sa.String(length=254), nullable=True),
    sa.Column('search_text', sa.String(length=400), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("ght_role is null or ght_role in ('support', 'member', 'partner')", name=op.f('ck_establishment_ght_role_known')),
    sa.CheckConstraint("kind in ('hospital', 'ehpad', 'usmp', 'city_practice', 'health_centre', 'pharmacy')", name=op.f('ck_establishment_kind_known')),
    sa.CheckConstraint("source in ('manual', 'finess', 'rpps', 'demo')", name=op.f('ck_establishment_source_known')),
    sa.CheckConstraint('ght_role is null or ght_id is not null', name=op.f('ck_establishment_ght_role_needs_ght')),
    sa.CheckConstraint('latitude is null or (latitude >= -90 and latitude <= 90)', name=op.f('ck_establishment_latitude_range')),
    sa.CheckConstraint('longitude is null or (longitude >= -180 and longitude <= 180)', name=op.f('ck_establishment_longitude_range')),
    sa.ForeignKeyConstraint(['ght_id'], ['ght.id'], name=op.f('fk_establishment_ght_id_ght'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['parent_id'], ['establishment.id'], name=op.f('fk_establishment_parent_id_establishment'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_establishment')),
    sa.UniqueConstraint('finess_et', name=op.f('uq_establishment_finess_et'))
    )
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_establishment_commune_insee'), ['commune_insee'], unique=False)
        batch_op.create_index(batch_op.f('ix_establishment_finess_ej'), ['finess_ej'], unique=False)
        batch_op.create_index(batch_op.f('ix_establishment_ght_id'), ['ght_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_establishment_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_establishment_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_establishment_search_text'), ['search_text'], unique=False)

    op.create_table('patient',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('birth_name', sa.String(length=100), nullable=False),
    sa.Column('given_names', sa.String(length=200), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('sex', sa.String(length=1), nullable=False),
    sa.Column('birthplace', sa.String(length=5), nullable=False),
    sa.Column('used_name', sa.String(length=100), nullable=True),
    sa.Column('used_given_name', sa.String(length=100), nullable=True),
    sa.Column('birth_name_norm', sa.String(length=100), nullable=False),
    sa.Column('first_given_name_norm', sa.String(length=100), nullable=False),
    sa.Column('used_name_norm', sa.String(length=100), nullable=True),
    sa.Column('duplicate_key', sa.String(length=300), nullable=False),
    sa.Column('identity_status', sa.String(length=5), nullable=False),
    sa.Column('identity_attributes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('ins_matricule', sa.String(length=15), nullable=True),
    sa.Column('ins_oid', sa.String(length=32), nullable=True),
    sa.Column('insi_checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('document_checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('identity_document', sa.String(length=32), nullable=True),
    sa.Column('phone', sa.String(length=30), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('address_line', sa.String(length=200), nullable=True),
    sa.Column('postcode', sa.String(length=5), nullable=True),
    sa.Column('commune_insee', sa.String(length=5), nullable=True),
    sa.Column('attending_professional_id', sa.Uuid(), nullable=True),
    sa.Column('merged_into_id', sa.Uuid(), nullable=True),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("identity_document is null or identity_document in ('passport', 'identity_card', 'residence_permit', 'birth_certificate', 'family_record_book')", name=op.f('ck_patient_identity_document_known')),
    sa.CheckConstraint("identity_status in ('PROV', 'RECUP', 'VALI', 'QUAL')", name=op.f('ck_patient_identity_status_known')),
    sa.CheckConstraint("sex in ('M', 'F')", name=op.f('ck_patient_sex_known')),
    sa.CheckConstraint('(ins_matricule is null) = (ins_oid is null)', name=op.f('ck_patient_ins_complete')),
    sa.CheckConstraint('merged_into_id is null or merged_into_id <> id', name=op.f('ck_patient_not_merged_into_itself')),
    sa.ForeignKeyConstraint(['attending_professional_id'], ['professional.id'], name=op.f('fk_patient_attending_professional_id_professional'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_patient_created_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['merged_into_id'], ['patient.id'], name=op.f('fk_patient_merged_into_id_patient'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient'))
    )
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_attending_professional_id'), ['attending_professional_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_birth_date'), ['birth_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_commune_insee'), ['commune_insee'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_duplicate_key'), ['duplicate_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_ins_matricule'), ['ins_matricule'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_merged_into_id'), ['merged_into_id'], unique=False)
        batch_op.create_index('ix_patient_names', ['birth_name_norm', 'first_given_name_norm'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_used_name_norm'), ['used_name_norm'], unique=False)

    op.create_table('care_unit',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('establishment_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('specialty_code', sa.String(length=8), nullable=True),
    sa.Column('phone', sa.String(length=30), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_care_unit_establishment_id_establishment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_care_unit')),
    sa.UniqueConstraint('establishment_id', 'name', name=op.f('uq_care_unit_establishment_id_name'))
    )
    with op.batch_alter_table('care_unit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_care_unit_establishment_id'), ['establishment_id'], unique=False)

    op.create_table('identity_merge',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kept_patient_id', sa.Uuid(), nullable=False),
    sa.Column('merged_patient_id', sa.Uuid(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('merged_by', sa.Uuid(), nullable=True),
    sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('relationships_copied', sa.Integer(), nullable=False),
    sa.Column('unmerged_by', sa.Uuid(), nullable=True),
    sa.Column('unmerged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('unmerge_reason', sa.Text(), nullable=True),
    sa.CheckConstraint('kept_patient_id <> merged_patient_id', name=op.f('ck_identity_merge_distinct_records')),
    sa.ForeignKeyConstraint(['kept_patient_id'], ['patient.id'], name=op.f('fk_identity_merge_kept_patient_id_patient'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['merged_by'], ['user_account.id'], name=op.f('fk_identity_merge_merged_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['merged_patient_id'], ['patient.id'], name=op.f('fk_identity_merge_merged_patient_id_patient'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unmerged_by'], ['user_account.id'], name=op.f('fk_identity_merge_unmerged_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_merge'))
    )
    with op.batch_alter_table('identity_merge', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_merge_kept_patient_id'), ['kept_patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_identity_merge_merged_patient_id'), ['merged_patient_id'], unique=False)

    op.create_table('identity_pair_review',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('first_patient_id', sa.Uuid(), nullable=False),
    sa.Column('second_patient_id', sa.Uuid(), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('reviewed_by', sa.Uuid(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("decision in ('distinct')", name=op.f('ck_identity_pair_review_decision_known')),
    sa.CheckConstraint('first_patient_id <> second_patient_id', name=op.f('ck_identity_pair_review_distinct_records')),
    sa.ForeignKeyConstraint(['first_patient_id'], ['patient.id'], name=op.f('fk_identity_pair_review_first_patient_id_patient'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reviewed_by'], ['user_account.id'], name=op.f('fk_identity_pair_review_reviewed_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['second_patient_id'], ['patient.id'], name=op.f('fk_identity_pair_review_second_patient_id_patient'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_pair_review')),
    sa.UniqueConstraint('first_patient_id', 'second_patient_id', name=op.f('uq_identity_pair_review_first_patient_id_second_patient_id'))
    )
    with op.batch_alter_table('identity_pair_review', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_pair_review_second_patient_id'), ['second_patient_id'], unique=False)

    op.create_table('patient_consent',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('patient_id', sa.Uuid(), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('recorded_by', sa.Uuid(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("decision in ('consent', 'objection')", name=op.f('ck_patient_consent_decision_known')),
    sa.CheckConstraint("purpose in ('teleexpertise', 'teleconsultation', 'telesurveillance', 'data_reuse')", name=op.f('ck_patient_consent_purpose_known')),
    sa.CheckConstraint("source in ('oral', 'written', 'patient_portal', 'legal_representative')", name=op.f('ck_patient_consent_source_known')),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], name=op.f('fk_patient_consent_patient_id_patient'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by'], ['user_account.id'], name=op.f('fk_patient_consent_recorded_by_user_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_consent'))
    )
    with op.batch_alter_table('patient_consent', schema=None) as batch_op:
        batch_op.create_index('ix_patient_consent_patient_purpose', ['patient_id', 'purpose', 'recorded_at'], unique=False)

    op.create_table('professional_role',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('professional_id', sa.Uuid(), nullable=False),
    sa.Column('establishment_id', sa.Uuid(), nullable=True),
    sa.Column('care_unit_id', sa.Uuid(), nullable=True),
    sa.Column('activity_key', sa.String(length=160), nullable=False),
    sa.Column('function_label', sa.String(length=100), nullable=True),
    sa.Column('practice_mode', sa.String(length=1), nullable=True),
    sa.Column('site_name', sa.String(length=200), nullable=True),
    sa.Column('site_commune_insee', sa.String(length=5), nullable=True),
    sa.Column('site_finess', sa.String(length=9), nullable=True),
    sa.Column('is_primary', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("practice_mode is null or practice_mode in ('L', 'S', 'B')", name=op.f('ck_professional_role_practice_mode_known')),
    sa.ForeignKeyConstraint(['care_unit_id'], ['care_unit.id'], name=op.f('fk_professional_role_care_unit_id_care_unit'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_professional_role_establishment_id_establishment'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['professional_id'], ['professional.id'], name=op.f('fk_professional_role_professional_id_professional'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_professional_role')),
    sa.UniqueConstraint('professional_id', 'activity_key', name=op.f('uq_professional_role_professional_id_activity_key'))
    )
    with op.batch_alter_table('professional_role', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_professional_role_establishment_id'), ['establishment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_professional_role_professional_id'), ['professional_id'], unique=False)

    op.create_table('specialty_line',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('establishment_id', sa.Uuid(), nullable=False),
    sa.Column('care_unit_id', sa.Uuid(), nullable=True),
    sa.Column('specialty_code', sa.String(length=8), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('teleexpertise', sa.Boolean(), nullable=False),
    sa.Column('teleconsultation', sa.Boolean(), nullable=False),
    sa.Column('accepts_city', sa.Boolean(), nullable=False),
    sa.Column('accepts_ehpad', sa.Boolean(), nullable=False),
    sa.Column('accepts_usmp', sa.Boolean(), nullable=False),
    sa.Column('accepts_ght_hospitals', sa.Boolean(), nullable=False),
    sa.Column('requirements', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('min_photos', sa.Integer(), nullable=False),
    sa.Column('opening_hours', sa.String(length=200), nullable=False),
    sa.Column('how_to_request', sa.Text(), nullable=False),
    sa.Column('phone', sa.String(length=30), nullable=True),
    sa.Column('on_call_phone', sa.String(length=30), nullable=True),
    sa.Column('search_text', sa.String(length=600), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('min_photos >= 0', name=op.f('ck_specialty_line_min_photos_non_negative')),
    sa.CheckConstraint('teleexpertise or teleconsultation', name=op.f('ck_specialty_line_modality_present')),
    sa.ForeignKeyConstraint(['care_unit_id'], ['care_unit.id'], name=op.f('fk_specialty_line_care_unit_id_care_unit'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_specialty_line_establishment_id_establishment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_specialty_line'))
    )
    with op.batch_alter_table('specialty_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_specialty_line_establishment_id'), ['establishment_id'], unique=False)
        batch_op.create_index('ix_specialty_line_specialty_active', ['specialty_code', 'active'], unique=False)

    op.create_table('specialty_line_commitment',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('line_id', sa.Uuid(), nullable=False),
    sa.Column('urgency', sa.String(length=16), nullable=False),
    sa.Column('response_minutes', sa.Integer(), nullable=False),
    sa.CheckConstraint("urgency in ('routine', 'urgent', 'very_urgent')", name=op.f('ck_specialty_line_commitment_urgency_known')),
    sa.CheckConstraint('response_minutes > 0', name=op.f('ck_specialty_line_commitment_response_minutes_positive')),
    sa.ForeignKeyConstraint(['line_id'], ['specialty_line.id'], name=op.f('fk_specialty_line_commitment_line_id_specialty_line'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_specialty_line_commitment')),
    sa.UniqueConstraint('line_id', 'urgency', name=op.f('uq_specialty_line_commitment_line_id_urgency'))
    )
    with op.batch_alter_table('specialty_line_commitment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_specialty_line_commitment_line_id'), ['line_id'], unique=False)

    op.create_table('specialty_line_member',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('line_id', sa.Uuid(), nullable=False),
    sa.Column('professional_id', sa.Uuid(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.CheckConstraint("role in ('answering', 'backup')", name=op.f('ck_specialty_line_member_role_known')),
    sa.ForeignKeyConstraint(['line_id'], ['specialty_line.id'], name=op.f('fk_specialty_line_member_line_id_specialty_line'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['professional_id'], ['professional.id'], name=op.f('fk_specialty_line_member_professional_id_professional'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_specialty_line_member')),
    sa.UniqueConstraint('line_id', 'professional_id', 'role', name=op.f('uq_specialty_line_member_line_id_professional_id_role'))
    )
    with op.batch_alter_table('specialty_line_member', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_specialty_line_member_line_id'), ['line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_specialty_line_member_professional_id'), ['professional_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('specialty_line_member', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_specialty_line_member_professional_id'))
        batch_op.drop_index(batch_op.f('ix_specialty_line_member_line_id'))

    op.drop_table('specialty_line_member')
    with op.batch_alter_table('specialty_line_commitment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_specialty_line_commitment_line_id'))

    op.drop_table('specialty_line_commitment')
    with op.batch_alter_table('specialty_line', schema=None) as batch_op:
        batch_op.drop_index('ix_specialty_line_specialty_active')
        batch_op.drop_index(batch_op.f('ix_specialty_line_establishment_id'))

    op.drop_table('specialty_line')
    with op.batch_alter_table('professional_role', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_professional_role_professional_id'))
        batch_op.drop_index(batch_op.f('ix_professional_role_establishment_id'))

    op.drop_table('professional_role')
    with op.batch_alter_table('patient_consent', schema=None) as batch_op:
        batch_op.drop_index('ix_patient_consent_patient_purpose')

    op.drop_table('patient_consent')
    with op.batch_alter_table('identity_pair_review', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_pair_review_second_patient_id'))

    op.drop_table('identity_pair_review')
    with op.batch_alter_table('identity_merge', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_merge_merged_patient_id'))
        batch_op.drop_index(batch_op.f('ix_identity_merge_kept_patient_id'))

    op.drop_table('identity_merge')
    with op.batch_alter_table('care_unit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_care_unit_establishment_id'))

    op.drop_table('care_unit')
    with op.batch_alter_table('patient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patient_used_name_norm'))
        batch_op.drop_index('ix_patient_names')
        batch_op.drop_index(batch_op.f('ix_patient_merged_into_id'))
        batch_op.drop_index(batch_op.f('ix_patient_ins_matricule'))
        batch_op.drop_index(batch_op.f('ix_patient_duplicate_key'))
        batch_op.drop_index(batch_op.f('ix_patient_commune_insee'))
        batch_op.drop_index(batch_op.f('ix_patient_birth_date'))
        batch_op.drop_index(batch_op.f('ix_patient_attending_professional_id'))

    op.drop_table('patient')
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_establishment_search_text'))
        batch_op.drop_index(batch_op.f('ix_establishment_parent_id'))
        batch_op.drop_index(batch_op.f('ix_establishment_kind'))
        batch_op.drop_index(batch_op.f('ix_establishment_ght_id'))
        batch_op.drop_index(batch_op.f('ix_establishment_finess_ej'))
        batch_op.drop_index(batch_op.f('ix_establishment_commune_insee'))

    op.drop_table('establishment')
    with op.batch_alter_table('professional', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_professional_specialty_code'))
        batch_op.drop_index(batch_op.f('ix_professional_search_text'))
        batch_op.drop_index(batch_op.f('ix_professional_profession_code'))

    op.drop_table('professional')
    op.drop_table('ght')
