"""The stored statement the page reads (refreshed by the collector and by every decision, in the same unit of
work), the keyset pages of the month's acts, the place of an act (not the professional's first establishment), and
a correction run through the rules again (DOMAIN.md §2.3: the TE2 yearly cap)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from maillage.billing import repository as repo
from maillage.billing import service
from maillage.billing.rules import EntryStatus
from maillage.directory import admin_service as directory_admin
from maillage.kit.clock import frozen
from maillage.models.billing import BillingEntry
from tests.fixtures.web import sign_in

UTC = dt.UTC
MARCH = dt.date(2026, 3, 1)


def _entries(db, patient_id):
    return db.scalars(select(BillingEntry).where(BillingEntry.patient_id == patient_id)
                      .order_by(BillingEntry.act_date, BillingEntry.code.desc(), BillingEntry.created_at)).all()


class TestPlaceOfAct:
    def test_a_te2_belongs_to_the_line_s_establishment_and_the_rqd_to_the_requester_s(self, db, bw):
        # The expert acts for both hospitals; the line answering the request is the one that would not come first
        # among the expert's establishments, so the first membership cannot pass for the place of the act.
        far, near = sorted((bw.hospital, bw.other), key=lambda e: e.id, reverse=True)
        directory_admin.link_account(db, bw.te.expert, professional_id=bw.te.expert.person_id,
                                     establishment_ids=[near.id, far.id])
        bw.te.line.establishment_id = far.id
        db.flush()
        bw.answered(db, dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
        service.collect(db)
        te2, rqd = _entries(db, bw.te.patient_id)
        assert (te2.code, te2.establishment_id, te2.finess) == ("TE2", far.id, far.finess_et)
        assert (rqd.code, rqd.establishment_id) == ("RQD", bw.hospital.id)


class TestCorrectionRerunsTheRules:
    def test_a_correction_counts_the_yearly_cap_without_the_original(self, db, bw, settings):
        # DOMAIN.md §2.3: TE2 capped per patient and requis per calendar year (cap 1 here).
        capped = settings.model_copy(update={"teleexpertise_yearly_cap": 1})
        bw.answered(db, dt.datetime(2025, 12, 10, 10, 0, tzinfo=UTC))
        bw.answered(db, dt.datetime(2026, 1, 2, 10, 0, tzinfo=UTC))
        service.collect(db, settings=capped)
        december, january = [e for e in _entries(db, bw.te.patient_id) if e.code == "TE2"]
        assert (december.status, january.status, january.cap_reached) == ("to_bill", "to_bill", True)
        officer = bw.officer_actor(db)
        with frozen(dt.datetime(2026, 1, 20, 9, 0, tzinfo=UTC)):
            # The December act was in fact of 5 January: the second TE2 of 2026, beyond the cap.
            moved = service.correct(db, officer, december.id, code="TE2", act_date=dt.date(2026, 1, 5),
                                    settings=capped)
            # The January act corrected to 1 January: still the first of 2026 (the original is not counted).
            earlier = service.correct(db, officer, january.id, code="TE2", act_date=dt.date(2026, 1, 1),
                                      settings=capped)
        assert (moved.status, moved.reason, moved.amount) == ("not_billable", "te_cap", Decimal("23.00"))
        assert (earlier.status, earlier.reason, earlier.cap_reached) == ("to_bill", None, True)
        assert december.status == january.status == "corrected"

    def test_a_correction_to_a_code_the_profession_cannot_bill_changes_nothing(self, db, bw):
        bw.answered(db, dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
        service.collect(db)
        _, rqd = _entries(db, bw.te.patient_id)
        requester = bw.te.requester
        requester.role = "nurse"  # a nurse asks (RQD) but never answers (TE2), DOMAIN.md §2.3
        db.flush()
        with frozen(dt.datetime(2026, 3, 10, 9, 0, tzinfo=UTC)), pytest.raises(Exception, match="ne peut pas"):
            service.correct(db, bw.officer_actor(db), rqd.id, code="TE2", act_date=dt.date(2026, 3, 2))
        assert rqd.status == "to_bill"


class TestStoredStatement:
    def test_the_statement_is_read_from_the_stored_summary_refreshed_by_each_write(self, db, bw):
        with frozen(dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)):
            bw.answered(db, dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
            service.collect(db)
        officer = bw.officer_actor(db)
        st = service.statement(db, officer, bw.hospital.id, MARCH)
        assert st.count(EntryStatus.TO_BILL) == 2 and st.computed_at is not None
        # A change behind the service's back is not seen: the page reads the stored figures, no recount.
        te2, rqd = _entries(db, bw.te.patient_id)
        db.execute(update(BillingEntry).where(BillingEntry.id == rqd.id).values(status="billed"))
        db.expire_all()
        assert service.statement(db, officer, bw.hospital.id, MARCH).count(EntryStatus.BILLED) == 0
        # Each decision refreshes the summary of the establishment-month it touched, in its unit of work.
        with frozen(dt.datetime(2026, 3, 20, 9, 30, tzinfo=UTC)):
            service.mark_billed(db, officer, [te2.id])
        st = service.statement(db, officer, bw.hospital.id, MARCH)
        assert (st.count(EntryStatus.BILLED), st.count(EntryStatus.TO_BILL)) == (2, 0)
        assert st.computed_at == dt.datetime(2026, 3, 20, 9, 30, tzinfo=UTC)

    def test_a_correction_refreshes_both_months(self, db, bw):
        bw.answered(db, dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
        service.collect(db)
        te2, _ = _entries(db, bw.te.patient_id)
        officer = bw.officer_actor(db)
        with frozen(dt.datetime(2026, 3, 10, 9, 0, tzinfo=UTC)):
            service.correct(db, officer, te2.id, code="TE2", act_date=dt.date(2026, 2, 27))
        march = repo.stored_statement(db, "establishment", bw.hospital.id, MARCH)
        february = repo.stored_statement(db, "establishment", bw.hospital.id, dt.date(2026, 2, 1))
        assert march is not None
        assert {"code": "TE2", "status": "corrected", "count": 1, "amount": "23.00"} in march.lines
        assert february is not None and {"code": "TE2", "status": "to_bill", "count": 1,
                                         "amount": "23.00"} in february.lines


def _ledger(db, bw, count: int) -> list[BillingEntry]:
    """``count`` entries of one day in March (so the page orders them by code then id)."""
    rows = [BillingEntry(source="teleexpertise", source_id=uuid.uuid4(), patient_id=bw.te.patient_id,
                         professional_user_id=bw.te.expert.id, establishment_id=bw.hospital.id, code="TE2",
                         act_date=dt.date(2026, 3, 3), month=MARCH, amount=Decimal("23.00"), tariff_source="test",
                         status="to_bill") for _ in range(count)]
    for r in rows:
        r.source_key = f"teleexpertise:{r.source_id}"
        db.add(r)
    db.flush()
    service.refresh_summaries(db, [(bw.hospital.id, MARCH)])
    db.commit()
    return sorted(rows, key=lambda r: r.id.hex)


def _shown(html: str) -> list[str]:
    return re.findall(r'name="entry_id" value="([0-9a-f-]{36})"', html)


def _link(html: str, rel: str) -> str:
    found = re.search(rf'href="(/facturation\?[^"]+)" rel="{rel}"', html)
    assert found is not None, rel
    return found.group(1).replace("&amp;", "&")


class TestKeysetPages:
    def test_the_pages_follow_each_other_and_stay_stable_when_acts_arrive(self, client, db, bw):
        originals = [str(r.id) for r in _ledger(db, bw, 55)]
        sign_in(client, db, bw.officer)
        with frozen(dt.datetime(2026, 3, 20, 9, 0, tzinfo=UTC)):
            first = client.get(f"/facturation?etablissement={bw.hospital.id}&mois=2026-03")
            assert first.status_code == 200 and "calculés à" in first.text
            page1 = _shown(first.text)
            assert page1 == originals[:50] and 'rel="prev"' not in first.text
            # Acts collected while the officer reads: the next page neither skips nor repeats one.
            arrived = [str(r.id) for r in _ledger(db, bw, 3)]
            second = client.get(_link(first.text, "next"))
            page2 = _shown(second.text)
            assert page2 == sorted(originals[50:] + [a for a in arrived if a > page1[-1]])
            assert 'rel="next"' not in second.text
            back = client.get(_link(second.text, "prev"))
            assert _shown(back.text) == sorted(i for i in originals + arrived if i < page2[0])[-50:]

    def test_a_malformed_page_link_is_a_french_error(self, client, db, bw):
        _ledger(db, bw, 2)
        sign_in(client, db, bw.officer)
        answer = client.get(f"/facturation?etablissement={bw.hospital.id}&mois=2026-03&apres=nimporte")
        assert answer.status_code == 422 and "Lien de page invalide" in answer.text
