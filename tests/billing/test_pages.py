"""The billing office's pages: the authorization triplet, the statement, marking billed, rejecting, correcting, and
the exports (CSV layout, PDF, FHIR Claim Bundle)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from sqlalchemy import select

from maillage.billing import service
from maillage.billing.exports import CSV_COLUMNS
from maillage.kit.clock import frozen
from maillage.models.billing import BillingEntry
from tests.fixtures.factories import make_user
from tests.fixtures.web import assert_triplet, csrf_token, sign_in

UTC = dt.UTC
AT = dt.datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _collected(db, bw):
    bw.answered(db, AT)
    service.collect(db)
    db.commit()
    return db.scalars(select(BillingEntry).where(BillingEntry.patient_id == bw.te.patient_id)
                      .order_by(BillingEntry.code.desc())).all()


def _q(bw) -> str:
    return f"etablissement={bw.hospital.id}&mois=2026-03"


class TestProtection:
    def test_statement_and_exports_triplet(self, client, db, bw):
        nurse = make_user(db, "nurse")
        for url in ("/facturation", "/facturation/export.csv", "/facturation/releve.pdf", "/facturation/claims.json"):
            assert_triplet(client, db, "GET", f"{url}?{_q(bw)}", wrong_role_user=nurse,
                           outsider_user=bw.other_officer, page=True)

    def test_decisions_triplet(self, client, db, bw):
        te2, _ = _collected(db, bw)
        nurse = make_user(db, "nurse")
        assert_triplet(client, db, "POST", f"/facturation/facturer?{_q(bw)}", data={"entry_id": str(te2.id)},
                       wrong_role_user=nurse, outsider_user=bw.other_officer, page=True)
        assert_triplet(client, db, "POST", f"/facturation/actes/{te2.id}/rejeter?{_q(bw)}",
                       data={"reason": "duplicate"}, wrong_role_user=nurse, outsider_user=bw.other_officer, page=True)
        assert_triplet(client, db, "GET", f"/facturation/actes/{te2.id}/corriger?{_q(bw)}", wrong_role_user=nurse,
                       outsider_user=bw.other_officer, page=True)


class TestStatementPage:
    def test_the_officer_sees_the_month_and_marks_acts_billed(self, client, db, bw):
        te2, rqd = _collected(db, bw)
        sign_in(client, db, bw.officer)
        with frozen(dt.datetime(2026, 3, 20, 9, 0, tzinfo=UTC)):
            page = client.get(f"/facturation?{_q(bw)}")
            assert page.status_code == 200
            assert "TE2" in page.text and "23,00" in page.text and "10,00" in page.text
            assert "mars 2026" in page.text
            done = client.post(f"/facturation/facturer?{_q(bw)}", data={
                "entry_id": [str(te2.id), str(rqd.id)], "csrf_token": csrf_token(client)}, follow_redirects=True)
        assert done.status_code == 200 and "2 acte(s) marqué(s) facturé(s)" in done.text
        db.expire_all()
        assert db.get(BillingEntry, te2.id).status == "billed"

    def test_a_crafted_link_cannot_make_the_banner_say_anything(self, client, db, bw):
        _collected(db, bw)
        sign_in(client, db, bw.officer)
        page = client.get(f"/facturation?{_q(bw)}&info=Votre+compte+est+suspendu&n=3")
        assert page.status_code == 200 and "suspendu" not in page.text
        page = client.get(f"/facturation?{_q(bw)}&info=collected&n=3")
        assert "3 nouvel(s) acte(s) repris des activités" in page.text

    def test_nothing_ticked_is_a_french_error_and_changes_nothing(self, client, db, bw):
        _collected(db, bw)
        sign_in(client, db, bw.officer)
        answer = client.post(f"/facturation/facturer?{_q(bw)}", data={"csrf_token": csrf_token(client)})
        assert answer.status_code == 422 and "Cochez au moins un acte" in answer.text

    def test_a_correction_from_its_page(self, client, db, bw):
        te2, _ = _collected(db, bw)
        sign_in(client, db, bw.officer)
        form = client.get(f"/facturation/actes/{te2.id}/corriger?{_q(bw)}")
        assert form.status_code == 200 and "Enregistrer la correction" in form.text
        bad = client.post(f"/facturation/actes/{te2.id}/corriger?{_q(bw)}", data={
            "code": "TE2", "act_date": "pas une date", "csrf_token": csrf_token(client)})
        assert bad.status_code == 422 and "invalide" in bad.text
        ok = client.post(f"/facturation/actes/{te2.id}/corriger?{_q(bw)}", data={
            "code": "RQD", "act_date": "2026-03-02", "csrf_token": csrf_token(client)}, follow_redirects=False)
        assert ok.status_code == 303
        db.expire_all()
        assert db.get(BillingEntry, te2.id).status == "corrected"


class TestExports:
    def test_the_csv_has_the_documented_columns_and_no_patient_name(self, client, db, bw):
        _collected(db, bw)
        sign_in(client, db, bw.officer)
        answer = client.get(f"/facturation/export.csv?{_q(bw)}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
        assert tuple(rows[0]) == CSV_COLUMNS
        assert sorted((r[1], r[3]) for r in rows[1:]) == [("RQD", "10.00"), ("TE2", "23.00")]
        assert all(r[9].startswith("P-") for r in rows[1:])

    def test_the_pdf_statement(self, client, db, bw):
        _collected(db, bw)
        sign_in(client, db, bw.officer)
        answer = client.get(f"/facturation/releve.pdf?{_q(bw)}")
        assert answer.status_code == 200 and answer.content.startswith(b"%PDF")

    def test_the_fhir_claims_validate_and_carry_the_ngap_code(self, client, db, bw):
        from fhir.resources.R4B.bundle import Bundle

        _collected(db, bw)
        sign_in(client, db, bw.officer)
        answer = client.get(f"/facturation/claims.json?{_q(bw)}")
        body = json.loads(answer.text)
        Bundle.model_validate(body)
        codes = sorted(e["resource"]["item"][0]["productOrService"]["coding"][0]["code"] for e in body["entry"])
        assert codes == ["RQD", "TE2"]
        assert {e["resource"]["total"]["value"] for e in body["entry"]} == {23.0, 10.0}
