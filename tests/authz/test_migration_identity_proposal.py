"""Migration 20261207_0110 ends the care relationships the old identity join opened (anyone who knew the five strict
traits held one), keeps every other relationship, and its downgrade reopens them."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select

from maillage.models.auth import UserAccount
from maillage.models.authz import CareRelationship
from tests.conftest import run_migrations

UNDER_TEST = "20261207_0110"
BEFORE = "20261207_0140"  # the revision before 20261207_0110
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
REL = CareRelationship.__table__


def _relationships(conn) -> dict[str, tuple[str, bool]]:
    rows = conn.execute(select(REL.c.kind, REL.c.source_type, REL.c.ends_at)).all()
    return {row.kind: (row.source_type, row.ends_at is None) for row in rows}


class TestIdentityProposalRelationships:
    def test_joins_by_traits_end_other_relationships_stay_and_the_downgrade_reopens_them(
            self, empty_engine):
        with empty_engine.begin() as conn:
            run_migrations(conn, BEFORE)
            user = uuid.uuid4()
            conn.execute(UserAccount.__table__.insert().values(
                id=user, username="u1", display_name="U", role="physician", password_hash="x"))
            for kind, source in (("care_unit", "identity_proposal"), ("requester", "teleexpertise")):
                conn.execute(REL.insert().values(id=uuid.uuid4(), user_id=user, patient_id=uuid.uuid4(), kind=kind,
                                                 source_type=source, source_id="1", starts_at=T0))
        with empty_engine.begin() as conn:
            run_migrations(conn, UNDER_TEST)  # not further: 20261207_0200 refuses these patient-less relationships
            assert _relationships(conn) == {"care_unit": ("identity_proposal_ended", False),
                                            "requester": ("teleexpertise", True)}
        with empty_engine.begin() as conn:
            run_migrations(conn, BEFORE, down=True)
            assert _relationships(conn) == {"care_unit": ("identity_proposal", True),
                                            "requester": ("teleexpertise", True)}
