"""teleexpertise: worklist rank and the indexes of the worklist, the deadline sweeps, the board and "mes demandes"

Revision ID: 20261128_1655
Revises: 20261128_1408
Create Date: 2026-11-28 16:55:00+00:00

``worklist_rank`` holds the urgency's rank (0 very urgent, 1 urgent, 2 routine) while a request is open (published,
in progress, awaiting information) and is null otherwise, so that a line's worklist (urgency, then due time) is read
in the order of a partial index holding the open requests only. Backfilled from the status and the urgency.
The board reads a line's requests by submission time from a covering index (index-only scans); "mes demandes"
a requester's by last change. The two indexes
they replace (line/status, requester/status) served only the queries these indexes now serve.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261128_1655"
down_revision = "20261128_1408"
branch_labels = None
depends_on = None

OPEN = sa.text("worklist_rank is not null")


def upgrade() -> None:
    op.add_column("teleexpertise_request", sa.Column("worklist_rank", sa.SmallInteger(), nullable=True))
    op.execute(
        "UPDATE teleexpertise_request SET worklist_rank = CASE urgency WHEN 'very_urgent' THEN 0 "
        "WHEN 'urgent' THEN 1 ELSE 2 END WHERE status IN ('published', 'in_progress', 'awaiting_information')"
    )
    op.drop_index("ix_teleexpertise_request_line_status", table_name="teleexpertise_request")
    op.drop_index("ix_teleexpertise_request_requester_status", table_name="teleexpertise_request")
    op.create_index("ix_teleexpertise_request_worklist", "teleexpertise_request",
                    ["line_id", "worklist_rank", "due_at", "id"], unique=False,
                    postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_index("ix_teleexpertise_request_open_due", "teleexpertise_request", ["due_at"], unique=False,
                    postgresql_where=OPEN, sqlite_where=OPEN)
    op.create_index("ix_teleexpertise_request_board", "teleexpertise_request",
                    ["line_id", "submitted_at", "requester_establishment_id", "signed_at", "orientation"], unique=False)
    op.create_index("ix_teleexpertise_request_requester_updated", "teleexpertise_request",
                    ["requester_id", "updated_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_teleexpertise_request_requester_updated", table_name="teleexpertise_request")
    op.drop_index("ix_teleexpertise_request_board", table_name="teleexpertise_request")
    op.drop_index("ix_teleexpertise_request_open_due", table_name="teleexpertise_request")
    op.drop_index("ix_teleexpertise_request_worklist", table_name="teleexpertise_request")
    op.create_index("ix_teleexpertise_request_requester_status", "teleexpertise_request",
                    ["requester_id", "status"], unique=False)
    op.create_index("ix_teleexpertise_request_line_status", "teleexpertise_request", ["line_id", "status"],
                    unique=False)
    op.drop_column("teleexpertise_request", "worklist_rank")
