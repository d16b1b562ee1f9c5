"""Billing's use cases on a migrated database: collecting the acts (tariff dates, yearly cap), the statement, the
officer's decisions (billed, rejected, corrected) and their scope."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from maillage.billing import service
from maillage.billing.rules import EntryStatus, Reason
from maillage.exceptions import NotFound, ValidationFailed
from maillage.kit.clock import frozen
from maillage.models.audit import AuditEntry
from maillage.models.billing import BillingEntry

UTC = dt.UTC


def _entries(db, patient_id):
    return db.scalars(select(BillingEntry).where(BillingEntry.patient_id == patient_id)
                      .order_by(BillingEntry.act_date, BillingEntry.code.desc(), BillingEntry.created_at)).all()


class TestCollect:
    def test_an_answered_tele_expertise_gives_a_te2_and_an_rqd_with_rpps_and_finess(self, db, bw):
        bw.answered(db, dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
        assert service.collect(db) >= 2
        te2, rqd = _entries(db, bw.te.patient_id)
        assert (te2.code, te2.amount, te2.status) == ("TE2", Decimal("23.00"), "to_bill")
        assert (rqd.code, rqd.amount, rqd.status) == ("RQD", Decimal("10.00"), "to_bill")
        assert te2.rpps and len(te2.rpps) == 11 and te2.finess == bw.hospital.finess_et
        assert te2.establishment_id == bw.hospital.id and te2.month == dt.date(2026, 3, 1)

    def test_collecting_twice_adds_nothing(self, db, bw):
        bw.answered(db, dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
        service.collect(db)
        assert service.collect(db) == 0
        assert len(_entries(db, bw.te.patient_id)) == 2

    @pytest.mark.parametrize(("at", "day", "amount"), [
        # 23:30 in Paris on 31 Dec 2025: the act's date is the 31st, TE2 at 20 € (DOMAIN.md §2.3).
        (dt.datetime(2025, 12, 31, 22, 30, tzinfo=UTC), dt.date(2025, 12, 31), "20.00"),
        # 00:30 in Paris on 1 Jan 2026 (still 31 Dec in UTC): TE2 at 23 €.
        (dt.datetime(2025, 12, 31, 23, 30, tzinfo=UTC), dt.date(2026, 1, 1), "23.00"),
    ])
    def test_the_act_date_is_the_date_in_paris_and_sets_the_tariff(self, db, bw, at, day, amount):
        bw.answered(db, at)
        service.collect(db)
        te2 = next(e for e in _entries(db, bw.te.patient_id) if e.code == "TE2")
        assert (te2.act_date, te2.amount) == (day, Decimal(amount))

    def test_the_yearly_cap_is_reached_mid_month(self, db, bw, settings):
        capped = settings.model_copy(update={"teleexpertise_yearly_cap": 2})
        for day in (5, 12, 20):
            bw.answered(db, dt.datetime(2026, 3, day, 10, 0, tzinfo=UTC))
        service.collect(db, settings=capped)
        te2 = [e for e in _entries(db, bw.te.patient_id) if e.code == "TE2"]
        assert [(e.act_date.day, e.status, e.reason, e.cap_reached) for e in te2] == [
            (5, "to_bill", None, False), (12, "to_bill", None, True), (20, "not_billable", "te_cap", False)]
        st = service.statement(db, bw.officer_actor(db), bw.hospital.id, dt.date(2026, 3, 1))
        assert st.caps_reached == 2 and st.count(EntryStatus.NOT_BILLABLE) == 1
        assert st.total(EntryStatus.TO_BILL) == Decimal("46.00") + Decimal("30.00")

    def test_an_inpatient_s_acts_are_in_the_ledger_not_billable(self, db, bw):
        bw.answered(db, dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC), patient_inpatient=True)
        service.collect(db)
        assert {(e.status, e.reason) for e in _entries(db, bw.te.patient_id)} == {("not_billable", "inpatient")}


class TestDecisions:
    def _collected(self, db, bw):
        bw.answered(db, dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
        service.collect(db)
        return _entries(db, bw.te.patient_id)

    def test_the_officer_marks_acts_billed_audited(self, db, bw):
        te2, rqd = self._collected(db, bw)
        assert service.mark_billed(db, bw.officer_actor(db), [te2.id, rqd.id]) == 2
        assert {te2.status, rqd.status} == {"billed"} and te2.decided_by == bw.officer.id
        db.commit()  # audit entries are written when the unit of work commits (a savepoint here)
        audited = db.scalars(select(AuditEntry.object_id).where(AuditEntry.object_type == "billing_entry",
                                                                AuditEntry.action == "update")).all()
        assert {str(te2.id), str(rqd.id)} <= set(audited)

    def test_billing_twice_is_refused_in_french(self, db, bw):
        te2, _ = self._collected(db, bw)
        service.mark_billed(db, bw.officer_actor(db), [te2.id])
        with pytest.raises(ValidationFailed, match="ne peut pas passer"):
            service.mark_billed(db, bw.officer_actor(db), [te2.id])

    def test_a_rejection_keeps_the_entry_with_its_reason(self, db, bw):
        te2, _ = self._collected(db, bw)
        service.reject(db, bw.officer_actor(db), te2.id, Reason.DUPLICATE.value)
        assert (te2.status, te2.reason) == ("rejected", "duplicate")

    def test_a_correction_is_a_new_entry_and_the_original_is_kept(self, db, bw):
        te2, _ = self._collected(db, bw)
        with frozen(dt.datetime(2026, 3, 10, 9, 0, tzinfo=UTC)):
            new = service.correct(db, bw.officer_actor(db), te2.id, code="TE2", act_date=dt.date(2025, 12, 30))
        assert te2.status == "corrected" and te2.amount == Decimal("23.00")
        assert (new.corrects_id, new.amount, new.status, new.month) == (
            te2.id, Decimal("20.00"), "to_bill", dt.date(2025, 12, 1))
        with pytest.raises(ValidationFailed):
            service.correct(db, bw.officer_actor(db), te2.id, code="TE2", act_date=dt.date(2026, 3, 1))

    def test_a_correction_to_a_date_without_tariff_changes_nothing(self, db, bw):
        te2, _ = self._collected(db, bw)
        with pytest.raises(ValidationFailed, match="Aucun tarif"):
            service.correct(db, bw.officer_actor(db), te2.id, code="TVB", act_date=dt.date(2023, 1, 31))
        assert te2.status == "to_bill"

    def test_another_establishment_s_officer_finds_nothing(self, db, bw):
        te2, _ = self._collected(db, bw)
        from maillage.auth import service as auth
        outsider = auth.actor_for(db, bw.other_officer)
        with pytest.raises(NotFound):
            service.mark_billed(db, outsider, [te2.id])
        with pytest.raises(NotFound):
            service.statement(db, outsider, bw.hospital.id, dt.date(2026, 3, 1))
        with pytest.raises(NotFound):
            service.entry_view(db, outsider, te2.id)


class TestMonthlyStatements:
    def test_the_job_stores_a_statement_per_establishment_and_per_professional(self, db, bw):
        from maillage.models.billing import BillingStatement

        bw.answered(db, dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
        assert service.compute_statements(db, dt.date(2026, 3, 1)) == 3  # the hospital, the expert, the requester
        assert service.compute_statements(db, dt.date(2026, 3, 1)) == 3  # recomputed, not duplicated
        rows = db.scalars(select(BillingStatement).where(BillingStatement.month == dt.date(2026, 3, 1))).all()
        scoped = [r for r in rows if r.scope_id in (bw.hospital.id, bw.te.expert.id, bw.te.requester.id)]
        assert len(scoped) == 3
        hospital = next(r for r in scoped if r.scope == "establishment")
        assert {"code": "TE2", "status": "to_bill", "count": 1, "amount": "23.00"} in hospital.lines
