"""The MSSanté exchange's part of the demo: external professionals with an MSSanté address in the directory, and one
received letter waiting for the identity officer, with the demo patient it is about among the candidates."""

from __future__ import annotations

from sqlalchemy import select

from maillage.auth import service as auth
from maillage.demo import load as demo
from maillage.demo.mssante import ADDRESSED, EXTERNAL_DOMAIN
from maillage.exchange import service as exchange
from maillage.kit.pagination import PageParams
from maillage.models.auth import UserAccount
from maillage.models.directory import Professional
from maillage.security.context import AuditContext
from maillage.web.home import waiting_items


class TestDemoMssante:
    def test_external_professionals_have_an_address_and_one_letter_waits_for_the_identity_officer(self, db):
        demo.build_demo(db, "87", 1)
        addresses = db.scalars(select(Professional.mssante).where(Professional.mssante.is_not(None))).all()
        assert len(addresses) >= ADDRESSED and all(a.endswith("@" + EXTERNAL_DOMAIN) for a in addresses)
        assert len(exchange.recipients(db)) >= ADDRESSED
        officer = auth.actor_for(db, db.scalar(select(UserAccount).where(UserAccount.username == "idv.fournier")))
        rows, _ = exchange.inbox(db, officer, PageParams(limit=20, offset=0))
        [row] = rows
        assert row.status == "pending" and row.reason_code == "no_ins" and row.document_count == 1
        candidates = exchange.candidates(db, officer, row)
        assert len(candidates) >= 1 and candidates[0].patient.birth_name == row.declared_birth_name
        items = waiting_items(db, officer, AuditContext())
        assert any(i.href == "/mssante/reception" and i.count == 1 for i in items)
