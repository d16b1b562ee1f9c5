"""merge the capability branches

Revision ID: 20261128_1810
Revises: 20261128_1401, 20261128_1404, 20261128_1650, 20261128_1750, 20261128_1805
Create Date: 2026-11-28 18:10:00+00:00

Each capability was built on its own branch from the foundation (audit, idempotency, mail delivery, monitoring,
tele-expertise with territory, documents and vault). This revision joins them into one head, so that
`maillage db revision --autogenerate` works again and the next capability starts from here. No schema change.
"""

from __future__ import annotations

revision = "20261128_1810"
down_revision = ("20261128_1401", "20261128_1404", "20261128_1650", "20261128_1750", "20261128_1805")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
