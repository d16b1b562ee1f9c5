"""vault: encrypted values and blob metadata

Revision ID: 20261128_1402
Revises: 20261128_1323
Create Date: 2026-11-28 14:02:00+00:00

Envelope encryption at rest (see docs/adr/0005-envelope-encryption.md): sealed free-text values stored
as ciphertext, and the metadata of documents whose ciphertext lives in the blob store. No plaintext column.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261128_1402"
down_revision = "20261128_1323"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vault_sealed_value",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("object_type", sa.String(length=60), nullable=False),
        sa.Column("object_id", sa.String(length=100), nullable=False),
        sa.Column("field", sa.String(length=60), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_sealed_value")),
        sa.UniqueConstraint(
            "object_type", "object_id", "field", name=op.f("uq_vault_sealed_value_object_type_object_id_field")
        ),
    )
    with op.batch_alter_table("vault_sealed_value", schema=None) as batch_op:
        batch_op.create_index("ix_vault_sealed_value_kek_id", ["kek_id"], unique=False)

    op.create_table(
        "vault_blob",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("object_type", sa.String(length=60), nullable=False),
        sa.Column("object_id", sa.String(length=100), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("plaintext_sha256", sa.String(length=64), nullable=False),
        sa.Column("ciphertext_sha256", sa.String(length=64), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_vault_blob_size_non_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_blob")),
    )
    with op.batch_alter_table("vault_blob", schema=None) as batch_op:
        batch_op.create_index("ix_vault_blob_kek_id", ["kek_id"], unique=False)
        batch_op.create_index("ix_vault_blob_object", ["object_type", "object_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vault_blob", schema=None) as batch_op:
        batch_op.drop_index("ix_vault_blob_object")
        batch_op.drop_index("ix_vault_blob_kek_id")
    op.drop_table("vault_blob")

    with op.batch_alter_table("vault_sealed_value", schema=None) as batch_op:
        batch_op.drop_index("ix_vault_sealed_value_kek_id")
    op.drop_table("vault_sealed_value")
