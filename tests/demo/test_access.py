"""The demo's emergency accesses: one reviewed, one waiting for the administrator."""

from __future__ import annotations

from sqlalchemy import select

from maillage.auth import service as auth
from maillage.authz import service as authz
from maillage.demo import load as demo
from maillage.demo.access import ACCESSES
from maillage.models.authz import BreakGlassAccess


class TestDemoBreakGlass:
    def test_one_access_waits_for_the_administrators_review_and_one_was_reviewed(self, db):
        demo.build_demo(db, "87", 1)
        admin = auth.actor_for(db, auth.get_user(db, "admin"))
        [waiting] = authz.break_glass_to_review(db, admin)
        assert waiting.user_id == auth.get_user(db, "dr.martin").id and waiting.reason
        accesses = db.scalars(select(BreakGlassAccess)).all()
        assert len(accesses) == len(ACCESSES)
        assert sum(1 for a in accesses if a.reviewed_at is not None) == 1
