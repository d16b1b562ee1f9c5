"""teleconsultation: assisted consultations (the nurse, TLS/TLL/TLD) and places (the USMP's room)

Revision ID: 20261207_0620
Revises: 20261207_0610
Create Date: 2026-12-07 06:20:00+00:00

A place is a teleconsultation room of an establishment with its own opening ranges; an appointment may hold one, and
may name the nurse who assists the patient (no patient link then: the nurse opens the patient's side) with the
accompaniment code recorded for the nurse when the consultation ends (TLS, TLL, TLD: the act table accepts them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_0620"
down_revision = "20261207_0610"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('teleconsultation_place',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('establishment_id', sa.Uuid(), nullable=False),
    sa.Column('care_unit_id', sa.Uuid(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['care_unit_id'], ['care_unit.id'], name=op.f('fk_teleconsultation_place_care_unit_id_care_unit'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_teleconsultation_place_created_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_teleconsultation_place_establishment_id_establishment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleconsultation_place')),
    sa.UniqueConstraint('establishment_id', 'name', name=op.f('uq_teleconsultation_place_establishment_id_name'))
    )
    with op.batch_alter_table('teleconsultation_place', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teleconsultation_place_establishment_id'), ['establishment_id'], unique=False)

    op.create_table('teleconsultation_place_range',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('place_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('weekday', sa.SmallInteger(), nullable=True),
    sa.Column('day', sa.Date(), nullable=True),
    sa.Column('start_minute', sa.SmallInteger(), nullable=False),
    sa.Column('end_minute', sa.SmallInteger(), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(kind = 'weekly' and weekday between 0 and 6 and day is null) or (kind <> 'weekly' and weekday is null and day is not null)", name=op.f('ck_teleconsultation_place_range_weekday_or_day')),
    sa.CheckConstraint("kind in ('weekly', 'extra', 'absence')", name=op.f('ck_teleconsultation_place_range_kind_known')),
    sa.CheckConstraint('start_minute >= 0 and start_minute < end_minute and end_minute <= 1440', name=op.f('ck_teleconsultation_place_range_minutes_ordered')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_teleconsultation_place_range_created_by_user_account'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['place_id'], ['teleconsultation_place.id'], name=op.f('fk_teleconsultation_place_range_place_id_teleconsultation_place'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_teleconsultation_place_range'))
    )
    with op.batch_alter_table('teleconsultation_place_range', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teleconsultation_place_range_place_id'), ['place_id'], unique=False)

    with op.batch_alter_table('teleconsultation_appointment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('place_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('assistance', sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column('assisting_nurse_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('consent_recorded_by', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_teleconsultation_appointment_place_id'), ['place_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_teleconsultation_appointment_assisting_nurse_id'), ['assisting_nurse_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_teleconsultation_appointment_place_id_teleconsultation_place'), 'teleconsultation_place', ['place_id'], ['id'], ondelete='RESTRICT')
        batch_op.create_foreign_key(batch_op.f('fk_teleconsultation_appointment_assisting_nurse_id_user_account'), 'user_account', ['assisting_nurse_id'], ['id'], ondelete='RESTRICT')
        batch_op.create_foreign_key(batch_op.f('fk_teleconsultation_appointment_consent_recorded_by_user_account'), 'user_account', ['consent_recorded_by'], ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint(op.f('ck_teleconsultation_appointment_assistance_known'), "assistance is null or assistance in ('TLS', 'TLL', 'TLD')")
        batch_op.create_check_constraint(op.f('ck_teleconsultation_appointment_assistance_has_nurse'), "(assistance is null) = (assisting_nurse_id is null)")

    with op.batch_alter_table('teleconsultation_act', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_teleconsultation_act_code_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_teleconsultation_act_code_known'), "code in ('TCG', 'TC', 'TLS', 'TLL', 'TLD')")


def downgrade() -> None:
    op.execute("delete from teleconsultation_act where code in ('TLS', 'TLL', 'TLD')")
    with op.batch_alter_table('teleconsultation_act', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_teleconsultation_act_code_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_teleconsultation_act_code_known'), "code in ('TCG', 'TC')")
    with op.batch_alter_table('teleconsultation_appointment', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_teleconsultation_appointment_assistance_has_nurse'), type_='check')
        batch_op.drop_constraint(op.f('ck_teleconsultation_appointment_assistance_known'), type_='check')
        batch_op.drop_constraint(op.f('fk_teleconsultation_appointment_consent_recorded_by_user_account'), type_='foreignkey')
        batch_op.drop_constraint(op.f('fk_teleconsultation_appointment_assisting_nurse_id_user_account'), type_='foreignkey')
        batch_op.drop_constraint(op.f('fk_teleconsultation_appointment_place_id_teleconsultation_place'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_teleconsultation_appointment_assisting_nurse_id'))
        batch_op.drop_index(batch_op.f('ix_teleconsultation_appointment_place_id'))
        batch_op.drop_column('consent_recorded_by')
        batch_op.drop_column('assisting_nurse_id')
        batch_op.drop_column('assistance')
        batch_op.drop_column('place_id')
    op.drop_table('teleconsultation_place_range')
    op.drop_table('teleconsultation_place')
