"""documents: type (LOINC), act date, author, source and origin, status and its reason, versions, confidentiality,
legal hold

Revision ID: 20261207_0800
Revises: 20261207_0700
Create Date: 2026-12-07 08:00:00+00:00

Existing documents migrate with defaults: an image is a photograph (LOINC 72170-4), a teleconsultation's PDF its
consult note (11488-4, source "report"), any other file a summary (34133-9); the act date is the upload's day, the
author the uploader; a document filed from a message gets source "message" and the attachment as its origin, a
document attached to a request or a consultation that owner as its origin; each is the first and current version
of its own series, of normal confidentiality, not under legal hold.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261207_0800"
down_revision = "20261207_0700"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.add_column(sa.Column('type_code', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('act_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('author_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('source', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('origin_type', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('origin_id', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('status', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('status_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('status_changed_by', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('series_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('replaces_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('confidentiality', sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column('legal_hold', sa.Boolean(), nullable=True))

    day = "date(uploaded_at)" if op.get_bind().dialect.name == "sqlite" else "cast(uploaded_at as date)"
    # ``day`` is one of two fixed SQL expressions, no outside value.
    op.execute(
        "update document set "  # noqa: S608
        "type_code = case when media_type like 'image/%' then '72170-4' "
        "                 when owner_type = 'teleconsultation' then '11488-4' else '34133-9' end, "
        f"act_date = {day}, author_id = uploaded_by, "
        "source = case when owner_type = 'teleconsultation' then 'report' else 'upload' end, "
        "origin_type = case when owner_type <> 'patient' then owner_type end, "
        "origin_id = case when owner_type <> 'patient' then owner_id end, "
        "status = 'current', series_id = id, version = 1, confidentiality = 'normal', legal_hold = false"
    )
    op.execute(
        "update document set source = 'message', origin_type = 'message_attachment', "
        "origin_id = (select cast(a.id as varchar(100)) from message_attachment a "
        "             where a.filed_document_id = document.id) "
        "where exists (select 1 from message_attachment a where a.filed_document_id = document.id)"
    )

    with op.batch_alter_table('document', schema=None) as batch_op:
        for name in ('type_code', 'act_date', 'author_id', 'source', 'status', 'series_id', 'version',
                     'confidentiality', 'legal_hold'):
            batch_op.alter_column(name, nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_document_author_id_user_account'), 'user_account',
                                    ['author_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_document_status_changed_by_user_account'), 'user_account',
                                    ['status_changed_by'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_document_replaces_id_document'), 'document',
                                    ['replaces_id'], ['id'])
        batch_op.create_check_constraint(batch_op.f('ck_document_source_known'),
                                         "source in ('upload', 'report', 'mail', 'message')")
        batch_op.create_check_constraint(batch_op.f('ck_document_status_known'),
                                         "status in ('current', 'superseded', 'entered_in_error')")
        batch_op.create_check_constraint(batch_op.f('ck_document_confidentiality_known'),
                                         "confidentiality in ('normal', 'restricted')")
        batch_op.create_check_constraint(batch_op.f('ck_document_version_positive'), 'version >= 1')
        batch_op.create_check_constraint(batch_op.f('ck_document_origin_complete'),
                                         '(origin_type is null) = (origin_id is null)')
        batch_op.create_unique_constraint('uq_document_series_version', ['series_id', 'version'])
        batch_op.create_index(batch_op.f('ix_document_series_id'), ['series_id'], unique=False)
        batch_op.create_index('ix_document_patient_act', ['patient_id', 'act_date'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('document', schema=None) as batch_op:
        batch_op.drop_index('ix_document_patient_act')
        batch_op.drop_index(batch_op.f('ix_document_series_id'))
        batch_op.drop_constraint('uq_document_series_version', type_='unique')
        for name in ('origin_complete', 'version_positive', 'confidentiality_known', 'status_known', 'source_known'):
            batch_op.drop_constraint(batch_op.f(f'ck_document_{name}'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_document_replaces_id_document'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_document_status_changed_by_user_account'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_document_author_id_user_account'), type_='foreignkey')
        for name in ('legal_hold', 'confidentiality', 'replaces_id', 'version', 'series_id', 'status_changed_by',
                     'status_changed_at', 'status_reason', 'status', 'origin_id', 'origin_type', 'source',
                     'author_id', 'act_date', 'type_code'):
            batch_op.drop_column(name)
