"""the territory's digital programme: axes, projects, budget lines (integer cents), milestones, indicators with
yearly targets, the journal of changes; two roles (GHT direction, programme manager)

Revision ID: 20261207_1200
Revises: 20261207_1100
Create Date: 2026-12-07 12:00:00+00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261207_1200"
down_revision = "20261207_1100"
branch_labels = None
depends_on = None

OLD_ROLES = ("'physician', 'midwife', 'nurse', 'coordinating_nurse', 'pharmacist', 'billing_officer', 'analyst', "
             "'identity_officer', 'administrator'")
NEW_ROLES = OLD_ROLES + ", 'direction', 'programme_manager'"
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def _roles(allowed: str) -> None:
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_user_account_role_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_user_account_role_known'), f"role in ({allowed})")


def upgrade() -> None:
    _roles(NEW_ROLES)
    op.create_table('programme_axis',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_axis'))
    )
    op.create_table('programme_project',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('axis_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('sites', JSON, nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_programme_project_dates_ordered')),
    sa.ForeignKeyConstraint(['axis_id'], ['programme_axis.id'], name=op.f('fk_programme_project_axis_id_programme_axis'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_project'))
    )
    with op.batch_alter_table('programme_project', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_programme_project_axis_id'), ['axis_id'], unique=False)
    op.create_table('programme_budget_line',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('project_id', sa.Uuid(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('planned_cents', sa.BigInteger(), nullable=False),
    sa.Column('committed_cents', sa.BigInteger(), nullable=False),
    sa.Column('paid_cents', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('planned_cents >= 0 and committed_cents >= 0 and paid_cents >= 0',
                       name=op.f('ck_programme_budget_line_amounts_non_negative')),
    sa.ForeignKeyConstraint(['project_id'], ['programme_project.id'],
                            name=op.f('fk_programme_budget_line_project_id_programme_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_budget_line')),
    sa.UniqueConstraint('project_id', 'year', name=op.f('uq_programme_budget_line_project_id_year'))
    )
    with op.batch_alter_table('programme_budget_line', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_programme_budget_line_project_id'), ['project_id'], unique=False)
    op.create_table('programme_milestone',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('project_id', sa.Uuid(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.CheckConstraint("status in ('planned', 'in_progress', 'done', 'late', 'cancelled')",
                       name=op.f('ck_programme_milestone_status_known')),
    sa.ForeignKeyConstraint(['project_id'], ['programme_project.id'],
                            name=op.f('fk_programme_milestone_project_id_programme_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_milestone'))
    )
    with op.batch_alter_table('programme_milestone', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_programme_milestone_project_id'), ['project_id'], unique=False)
    op.create_table('programme_indicator',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('project_id', sa.Uuid(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('unit', sa.String(length=60), nullable=False),
    sa.Column('catalogue_code', sa.String(length=60), nullable=True),
    sa.Column('measure', sa.String(length=60), nullable=True),
    sa.Column('source', sa.String(length=300), nullable=True),
    sa.CheckConstraint('(catalogue_code is not null and measure is not null) or source is not null',
                       name=op.f('ck_programme_indicator_bound_or_sourced')),
    sa.ForeignKeyConstraint(['project_id'], ['programme_project.id'],
                            name=op.f('fk_programme_indicator_project_id_programme_project'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_indicator'))
    )
    with op.batch_alter_table('programme_indicator', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_programme_indicator_project_id'), ['project_id'], unique=False)
    op.create_table('programme_indicator_year',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('indicator_id', sa.Uuid(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('target', sa.Numeric(precision=14, scale=3), nullable=False),
    sa.Column('manual_value', sa.Numeric(precision=14, scale=3), nullable=True),
    sa.ForeignKeyConstraint(['indicator_id'], ['programme_indicator.id'],
                            name=op.f('fk_programme_indicator_year_indicator_id_programme_indicator'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_indicator_year')),
    sa.UniqueConstraint('indicator_id', 'year', name=op.f('uq_programme_indicator_year_indicator_id_year'))
    )
    with op.batch_alter_table('programme_indicator_year', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_programme_indicator_year_indicator_id'), ['indicator_id'], unique=False)
    op.create_table('programme_change',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Uuid(), nullable=True),
    sa.Column('actor_name', sa.String(length=200), nullable=False),
    sa.Column('object_type', sa.String(length=40), nullable=False),
    sa.Column('object_id', sa.Uuid(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('before', JSON, nullable=True),
    sa.Column('after', JSON, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_change'))
    )
    with op.batch_alter_table('programme_change', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_programme_change_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_programme_change_object_id'), ['object_id'], unique=False)


def downgrade() -> None:
    for table in ('programme_change', 'programme_indicator_year', 'programme_indicator', 'programme_milestone',
                  'programme_budget_line', 'programme_project', 'programme_axis'):
        op.drop_table(table)
    # Accounts of the two roles cannot stay as they are; disabled (not deleted: the audit trail names them).
    op.execute("update user_account set role = 'analyst', status = 'disabled' "
               "where role in ('direction', 'programme_manager')")
    _roles(OLD_ROLES)
