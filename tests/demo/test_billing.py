"""Billing's part of the demo: the ledger holds the demo's acts, and the billing officer of the support hospital
finds the day's TE2 and RQD to bill in the month's statement."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from maillage.auth import service as auth
from maillage.billing import service as billing
from maillage.billing.rules import EntryStatus
from maillage.demo import load as demo
from maillage.kit.clock import frozen, today_paris
from maillage.models.billing import BillingEntry
from maillage.models.teleexpertise import TeleexpertiseAct


class TestDemoBilling:
    def test_the_officer_finds_the_day_s_tele_expertise_in_the_month_s_statement(self, db):
        with frozen(dt.datetime(2026, 11, 20, 18, 30, tzinfo=dt.UTC)):
            summary = demo.build_demo(db, "87", 1)
            today = today_paris()
            officer = auth.actor_for(db, auth.get_user(db, "fact.moreau"))
            support = summary.plan.id_for("support")
            assert support in officer.establishment_ids
            acts = db.scalar(select(func.count()).select_from(TeleexpertiseAct))
            assert db.scalar(select(func.count()).select_from(BillingEntry)) >= acts > 0
            day = db.execute(select(BillingEntry.code, BillingEntry.amount, BillingEntry.status).where(
                BillingEntry.establishment_id == support, BillingEntry.act_date == today)).all()
            assert {("TE2", Decimal("23.00"), "to_bill"), ("RQD", Decimal("10.00"), "to_bill")} <= set(day)
            st = billing.statement(db, officer, support, today.replace(day=1))
            assert st.count(EntryStatus.TO_BILL) >= 2 and st.total(EntryStatus.TO_BILL) >= Decimal("33.00")
