"""The teleconsultation share applied (convention médicale 2024, arts. 87-1 to 88-3, DOMAIN.md §2.1): at most 20 %
of the doctor's yearly activity, 40 % for psychiatrists, the médecin traitant's teleconsultations with his own
patients and the tele-expertises not counted. The platform does not see the doctor's whole activity: the billing
officer records the declared yearly total (dated, audited); acts beyond the share are flagged, never dropped."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from maillage.billing import rules, service
from maillage.exceptions import NotFound, ValidationFailed
from maillage.kit.clock import frozen
from maillage.models.audit import AuditEntry, AuditEntryPatient
from maillage.models.billing import BillingDeclaredActivity, BillingEntry
from maillage.models.directory import Professional
from maillage.models.patient import Patient
from tests.fixtures.factories import make_user
from tests.fixtures.web import assert_triplet, csrf_token, sign_in

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


class TestReviewShare:
    @pytest.mark.parametrize(("flags", "declared", "specialty", "allowed", "beyond", "says"), [
        ([False] * 4, None, "SM54", None, 0, "ne peut pas être vérifiée"),  # no declaration: not checked
        ([False] * 4, 3, "SM54", None, 0, "inférieure aux téléconsultations"),  # below what is recorded
        ([False] * 2, 10, "SM54", 2, 0, "respectée"),  # exactly 20 % of 10
        ([False] * 3, 10, "SM54", 2, 1, "1 téléconsultation(s) au-delà"),  # the third is beyond
        ([False] * 4, 10, "SM42", 4, 0, "respectée"),  # psychiatry: 40 %
        ([False] * 5, 10, "SM43", 4, 1, "au-delà"),  # child psychiatry: 40 % too
        ([True, True, False, False], 10, "SM54", 2, 0, "respectée"),  # own patients excluded
        ([False] * 201, 1004, None, 200, 1, "200 sur 1004"),  # 20 % of 1,004 rounds down to 200
        ([], 0, None, 0, 0, "respectée"),
    ])
    def test_the_share_of_the_year(self, flags, declared, specialty, allowed, beyond, says):
        review = rules.review_share(2026, flags, declared=declared, specialty_code=specialty)
        assert (review.allowed, review.beyond) == (allowed, beyond)
        assert says in review.message


def _tc(db, bw, day: int, user=None) -> BillingEntry:
    user = user or bw.te.expert
    row = BillingEntry(source="teleconsultation", source_id=uuid.uuid4(), patient_id=bw.te.patient_id,
                       professional_user_id=user.id, establishment_id=bw.hospital.id, code="TC",
                       act_date=dt.date(2026, 3, day), month=dt.date(2026, 3, 1), amount=Decimal("25.00"),
                       tariff_source="test", status="to_bill")
    row.source_key = f"teleconsultation:{row.source_id}"
    db.add(row)
    db.flush()
    return row


@pytest.fixture
def four_tc(db, bw):
    # A tele-expertise act of the same doctor is in the ledger too and is never counted in the share.
    bw.answered(db, dt.datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    service.collect(db)
    return [_tc(db, bw, day) for day in (3, 4, 5, 6)]


class TestApplied:
    def test_without_a_declaration_the_share_cannot_be_checked(self, db, bw, four_tc):
        with frozen(NOW):
            view = service.professional_share(db, bw.officer_actor(db), bw.te.expert.id, 2026)
        assert view.review.counted == 4 and view.beyond == []
        assert "ne peut pas être vérifiée" in view.review.message

    def test_the_acts_beyond_the_declared_share_are_flagged_not_dropped(self, db, bw, four_tc):
        officer = bw.officer_actor(db)
        with frozen(NOW):
            service.declare_activity(db, officer, bw.te.expert.id, 2026, 10)
            view = service.professional_share(db, officer, bw.te.expert.id, 2026)
        assert view.review.allowed == 2 and [v.entry.id for v in view.beyond] == [e.id for e in four_tc[2:]]
        assert all(e.status == "to_bill" for e in four_tc)  # still in the ledger, to bill
        assert "2 téléconsultation(s) au-delà" in view.review.message

    def test_the_latest_declaration_applies_and_the_earlier_is_kept(self, db, bw, four_tc):
        officer = bw.officer_actor(db)
        with frozen(NOW):
            service.declare_activity(db, officer, bw.te.expert.id, 2026, 10)
        with frozen(NOW + dt.timedelta(days=1)):
            service.declare_activity(db, officer, bw.te.expert.id, 2026, 20)
            view = service.professional_share(db, officer, bw.te.expert.id, 2026)
        assert [d.total_acts for d in view.declarations] == [20, 10] and view.beyond == []
        db.commit()
        audited = db.scalars(select(AuditEntry.details).where(
            AuditEntry.object_type == "billing_declared_activity")).all()
        assert {d["total_acts"] for d in audited} >= {10, 20}

    def test_the_médecin_traitant_s_own_patients_are_not_counted(self, db, bw, four_tc):
        db.get(Patient, bw.te.patient_id).attending_professional_id = bw.te.expert.person_id
        db.flush()
        officer = bw.officer_actor(db)
        with frozen(NOW):
            service.declare_activity(db, officer, bw.te.expert.id, 2026, 10)
            view = service.professional_share(db, officer, bw.te.expert.id, 2026)
        assert (view.review.counted, view.review.excluded, view.beyond) == (0, 4, [])

    def test_a_psychiatrist_s_share_is_40_percent(self, db, bw, four_tc):
        db.get(Professional, bw.te.expert.person_id).specialty_code = "SM42"
        db.flush()
        officer = bw.officer_actor(db)
        with frozen(NOW):
            service.declare_activity(db, officer, bw.te.expert.id, 2026, 10)
            view = service.professional_share(db, officer, bw.te.expert.id, 2026)
        assert (view.review.allowed, view.beyond) == (4, [])

    @pytest.mark.parametrize(("year", "total"), [(2026, -1), (2026, 1_000_001), (2017, 10), (2027, 10)])
    def test_bad_input_changes_nothing(self, db, bw, year, total):
        with frozen(NOW), pytest.raises(ValidationFailed):
            service.declare_activity(db, bw.officer_actor(db), bw.te.expert.id, year, total)
        assert db.scalar(select(BillingDeclaredActivity).where(
            BillingDeclaredActivity.user_id == bw.te.expert.id)) is None

    def test_a_declaration_below_the_teleconsultations_recorded_is_refused(self, db, bw, four_tc):
        # Below the four teleconsultations already in the ledger, the share check would be turned off for every
        # establishment: refused, nothing written.
        with frozen(NOW), pytest.raises(ValidationFailed, match="4 téléconsultations"):
            service.declare_activity(db, bw.officer_actor(db), bw.te.expert.id, 2026, 3)
        assert db.scalar(select(BillingDeclaredActivity).where(
            BillingDeclaredActivity.user_id == bw.te.expert.id)) is None

    def test_every_patient_read_for_the_share_is_audited(self, db, bw, four_tc):
        with frozen(NOW):
            service.professional_share(db, bw.officer_actor(db), bw.te.expert.id, 2026)
        db.commit()
        listed = db.scalars(select(AuditEntryPatient.patient_id).join(
            AuditEntry, AuditEntry.id == AuditEntryPatient.entry_id).where(AuditEntry.purpose == "billing")).all()
        assert str(bw.te.patient_id) in listed

    def test_another_establishment_s_officer_finds_no_professional(self, db, bw):
        from maillage.auth import service as auth

        outsider = auth.actor_for(db, bw.other_officer)
        with frozen(NOW):
            with pytest.raises(NotFound):
                service.professional_share(db, outsider, bw.te.expert.id, 2026)
            with pytest.raises(NotFound):
                service.declare_activity(db, outsider, bw.te.expert.id, 2026, 10)


class TestPage:
    def _url(self, bw) -> str:
        return f"/facturation/professionnels/{bw.te.expert.id}?etablissement={bw.hospital.id}&annee=2026"

    def test_triplet(self, client, db, bw):
        nurse = make_user(db, "nurse")
        with frozen(NOW):
            assert_triplet(client, db, "GET", self._url(bw), wrong_role_user=nurse, outsider_user=bw.other_officer,
                           page=True)
            url = self._url(bw).replace("?", "/activite?")
            assert_triplet(client, db, "POST", url, data={"total_acts": "10"}, wrong_role_user=nurse,
                           outsider_user=bw.other_officer, page=True)

    def test_the_officer_declares_and_sees_the_flags(self, client, db, bw, four_tc):
        db.commit()
        sign_in(client, db, bw.officer)
        with frozen(NOW):
            page = client.get(self._url(bw))
            assert page.status_code == 200 and "ne peut pas être vérifiée" in page.text
            bad = client.post(self._url(bw).replace("?", "/activite?"),
                              data={"total_acts": "beaucoup", "csrf_token": csrf_token(client)})
            assert bad.status_code == 422 and "entier, positif ou nul" in bad.text
            done = client.post(self._url(bw).replace("?", "/activite?"),
                               data={"total_acts": "10", "csrf_token": csrf_token(client)}, follow_redirects=True)
        assert done.status_code == 200 and "Déclaration enregistrée" in done.text
        assert "2 téléconsultation(s) au-delà" in done.text and rules.BEYOND_SHARE in done.text
