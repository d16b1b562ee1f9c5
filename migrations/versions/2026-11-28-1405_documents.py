"""documents: metadata of patient documents whose content is encrypted in the vault

Revision ID: 20261128_1405
Revises: 20261128_1402
Create Date: 2026-11-28 14:05:00+00:00

One row per uploaded document (docs/adr/0007-document-uploads.md). The content is a vault blob
(``blob_id``, null once the document is deleted). ``patient_id`` has no foreign key yet: the patient
table lives on another branch and the key is added when both are merged. ``uploaded_by`` and
``deleted_by`` refer to accounts, hence the dependency on the security core's revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261128_1405"
down_revision = "20261128_1402"
branch_labels = None
depends_on = "20261128_1400"


def upgrade() -> None:
    op.create_table(
        "document",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("owner_type", sa.String(length=60), nullable=False),
        sa.Column("owner_id", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("blob_id", sa.Uuid(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("page_count", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.Uuid(), nullable=True),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_document_size_non_negative")),
        sa.CheckConstraint(
            "media_type in ('application/pdf', 'image/jpeg', 'image/png', 'image/webp')",
            name=op.f("ck_document_media_type_allowed"),
        ),
        sa.CheckConstraint(
            "(deleted_at is null) = (blob_id is not null)", name=op.f("ck_document_content_until_deleted")
        ),
        sa.ForeignKeyConstraint(["blob_id"], ["vault_blob.id"], name=op.f("fk_document_blob_id_vault_blob")),
        sa.ForeignKeyConstraint(
            ["uploaded_by"], ["user_account.id"], name=op.f("fk_document_uploaded_by_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by"], ["user_account.id"], name=op.f("fk_document_deleted_by_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document")),
        sa.UniqueConstraint("blob_id", name=op.f("uq_document_blob_id")),
    )
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.create_index("ix_document_patient_uploaded", ["patient_id", "uploaded_at"], unique=False)
        batch_op.create_index("ix_document_owner", ["owner_type", "owner_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_index("ix_document_owner")
        batch_op.drop_index("ix_document_patient_uploaded")
    op.drop_table("document")
