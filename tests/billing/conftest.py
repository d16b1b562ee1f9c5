"""A billing world: a hospital, a requester and the experts of a line acting for it, a billing officer of that
hospital and one of another, and tele-expertises answered at chosen instants."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from maillage.auth import service as auth
from maillage.directory import admin_service as directory_admin
from maillage.kit.clock import frozen
from maillage.teleexpertise import service as te
from tests.fixtures.directory import hospital
from tests.fixtures.factories import make_user
from tests.fixtures.teleexpertise import OPINION, World, claimed, world

_names = itertools.count(1)
CREATED = dt.datetime(2025, 12, 1, 8, 0, tzinfo=dt.UTC)


@dataclass
class BillingWorld:
    te: World
    hospital: Any
    other: Any
    officer: Any
    other_officer: Any

    def officer_actor(self, db: Any) -> Any:
        return auth.actor_for(db, self.officer)

    def answered(self, db: Any, at: dt.datetime, settings: Any = None, **changes: Any) -> Any:
        with frozen(at - dt.timedelta(hours=1)):
            req = claimed(db, self.te, **changes)
        with frozen(at):
            te.answer(db, self.te.a(db, self.te.expert), req.id, OPINION, settings=settings)
        return req


def _link(db: Any, user: Any, establishment_id: Any) -> None:
    directory_admin.link_account(db, user, professional_id=user.person_id, establishment_ids=[establishment_id])


@pytest.fixture
def bw(db: Any) -> BillingWorld:
    n = next(_names)
    with frozen(CREATED):  # before the acts of the tests (a care relationship never starts after its act)
        w = world(db)
    h = hospital(db, name=f"CH support {n}")
    other = hospital(db, name=f"CH voisin {n}", ght_role="member")
    w.line.establishment_id = h.id  # the line the requests are addressed to is the support hospital's
    for user in (w.requester, w.expert, w.colleague):
        _link(db, user, h.id)
    officer, other_officer = make_user(db, "billing_officer"), make_user(db, "billing_officer")
    _link(db, officer, h.id)
    _link(db, other_officer, other.id)
    db.flush()
    return BillingWorld(w, h, other, officer, other_officer)
