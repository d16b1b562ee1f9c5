"""Pages of e-prescription: the form from a patient's page, the draft's checks and signature, the PDF, the pharmacy
counter (number typed, dispensation with a generic, a second one refused), what the prescriber then sees; French
refusals; no identifier shown to a clinician; the authorization triplet."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from maillage.models.prescription import Prescription
from tests.fixtures.prescription import rx_world, signed
from tests.fixtures.web import csrf_token, sign_in, sign_out

HTML = {"accept": "text/html"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def visible_text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def line_form(**changes: str) -> dict[str, str]:
    data = {"l1_drug": "dermoval", "l1_dose": "1", "l1_dose_unit": "application", "l1_times": "1",
            "l1_period": "day", "l1_duration": "2", "l1_duration_unit": "week", "l1_quantity": "1",
            "l1_renewals": "0", "l1_conditions": "le soir"}
    return {**data, **changes}


class TestPrescribePages:
    def test_a_physician_writes_checks_and_signs_a_prescription_from_the_patient(self, client, db):
        w = rx_world(db)
        db.commit()
        sign_in(client, db, w.prescriber)
        form = client.get(f"/patients/{w.patient_id}/ordonnances/nouvelle", headers=HTML)
        assert form.status_code == 200 and "Nouvelle ordonnance" in form.text and "patient-banner" in form.text
        sent = client.post(f"/patients/{w.patient_id}/ordonnances", data={
            "csrf_token": csrf_token(client), "source": "patient", **line_form(),
            "l2_drug": "levothyrox", "l2_dose": "1", "l2_dose_unit": "comprimé", "l2_times": "1", "l2_period": "day",
            "l2_duration": "1", "l2_duration_unit": "month", "l2_quantity": "1", "l2_renewals": "2",
            "l2_nonsub": "MTE"}, headers=HTML, follow_redirects=False)
        assert sent.status_code == 303, sent.text[:800]
        draft = client.get(sent.headers["location"], headers=HTML)
        assert "À vérifier avant de signer" in draft.text and "Lévothyroxine" in draft.text
        assert "Non substituable (MTE)" in draft.text
        prescription_id = sent.headers["location"].rsplit("/", 1)[1]
        done = client.post(f"/ordonnances/{prescription_id}/signer", data={"csrf_token": csrf_token(client)},
                           headers=HTML, follow_redirects=True)
        assert "Ordonnance signée" in done.text and "Ordonnance n°" in done.text
        assert not UUID.search(visible_text(done.text))
        pdf = client.get(f"/ordonnances/{prescription_id}/ordonnance.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    def test_an_ambiguous_drug_asks_which_one_and_writes_nothing(self, client, db):
        w = rx_world(db)
        db.commit()
        sign_in(client, db, w.prescriber)
        before = db.scalar(select(func.count()).select_from(Prescription))
        page = client.post(f"/patients/{w.patient_id}/ordonnances", data={
            "csrf_token": csrf_token(client), **line_form(l1_drug="isotrétinoïne")}, headers=HTML)
        assert page.status_code == 422 and "Précisez le médicament de la ligne 1" in page.text
        assert "ROACCUTANE 20 mg, capsule molle" in page.text and "CURACNÉ 20 mg, capsule molle" in page.text
        assert db.scalar(select(func.count()).select_from(Prescription)) == before

    def test_a_physician_without_the_patient_gets_404_and_a_pharmacist_403(self, client, db):
        w = rx_world(db)
        db.commit()
        sign_in(client, db, w.outsider)
        assert client.get(f"/patients/{w.patient_id}/ordonnances/nouvelle", headers=HTML).status_code == 404
        sign_out(client)
        sign_in(client, db, w.pharmacist)
        assert client.get(f"/patients/{w.patient_id}/ordonnances/nouvelle", headers=HTML).status_code == 403
        sign_out(client)
        anonymous = client.get(f"/patients/{w.patient_id}/ordonnances/nouvelle", headers=HTML,
                               follow_redirects=False)
        assert anonymous.status_code in (302, 303, 307)


class TestCounterPages:
    def test_a_pharmacist_dispenses_a_generic_leaves_a_line_and_the_prescriber_sees_it(self, client, db):
        w = rx_world(db)
        view = signed(db, w)
        db.commit()
        sign_in(client, db, w.pharmacist)
        found = client.get("/officine", params={"numero": view.number_display}, headers=HTML)
        assert found.status_code == 200 and "Signature vérifiée" in found.text
        assert "CLOBÉTASOL ARROW 0,05 %, crème" in found.text
        first, second = (str(line.line.id) for line in view.lines)
        done = client.post(f"/officine/ordonnances/{view.prescription.id}/delivrer", data={
            "csrf_token": csrf_token(client), "number": view.prescription.number,
            f"outcome_{first}": "substituted", f"quantity_{first}": "1", f"substitute_{first}": "60000066",
            f"outcome_{second}": ""}, headers=HTML, follow_redirects=True)
        assert "Délivrance enregistrée" in done.text
        again = client.post(f"/officine/ordonnances/{view.prescription.id}/delivrer", data={
            "csrf_token": csrf_token(client), "number": view.prescription.number,
            f"outcome_{first}": "delivered", f"quantity_{first}": "1"}, headers=HTML)
        assert again.status_code == 409 and "Ligne 1 : Cette ligne a déjà été entièrement délivrée." in again.text
        sign_out(client)
        sign_in(client, db, w.prescriber)
        seen = client.get(f"/ordonnances/{view.prescription.id}", headers=HTML)
        assert "Délivré, substitué par un générique : 1 (CLOBÉTASOL ARROW 0,05 %, crème)" in seen.text
        assert "Délivrée en partie" in seen.text

    def test_a_wrong_number_is_refused_in_french(self, client, db):
        w = rx_world(db)
        db.commit()
        sign_in(client, db, w.pharmacist)
        page = client.get("/officine", params={"numero": "1234"}, headers=HTML)
        assert page.status_code == 422 and "16 chiffres" in page.text

    def test_a_physician_may_not_use_the_counter(self, client, db):
        w = rx_world(db)
        db.commit()
        sign_in(client, db, w.prescriber)
        assert client.get("/officine", headers=HTML).status_code == 403


class TestVerificationKeys:
    def test_the_keys_are_published_without_an_account(self, client, db):
        keys = client.get("/api/prescriptions/verification-keys").json()
        assert keys and all(k["algorithm"] == "Ed25519" and k["key_id"].startswith("rx-") for k in keys)


class TestReachedFromTheActs:
    def test_the_specialist_prescribes_from_her_opinion_and_the_act_is_linked(self, client, db):
        from maillage.prescription import drugs
        from maillage.teleexpertise import service as teleexpertise
        from tests.fixtures.prescription import BDPM
        from tests.fixtures.teleexpertise import OPINION, actor, claimed, world

        drugs.import_release(db, BDPM / "utf8")
        tw = world(db)
        req = claimed(db, tw)
        teleexpertise.answer(db, actor(db, tw.expert), req.id, OPINION)
        db.commit()
        sign_in(client, db, tw.expert)
        page = client.get(f"/teleexpertise/demandes/{req.id}", headers=HTML)
        link = f"/patients/{tw.patient_id}/ordonnances/nouvelle?origine=opinion&amp;acte={req.id}"
        assert page.status_code == 200 and link in page.text, page.text[:300]
        form = client.get(link.replace("&amp;", "&"), headers=HTML)
        assert form.status_code == 200 and "Avis de téléexpertise" in form.text
        sent = client.post(f"/patients/{tw.patient_id}/ordonnances", data={
            "csrf_token": csrf_token(client), "source": "opinion", "source_id": str(req.id), **line_form()},
            headers=HTML, follow_redirects=False)
        assert sent.status_code == 303, sent.text[:600]
        prescription = db.scalars(select(Prescription).where(Prescription.source_id == req.id)).one()
        assert prescription.source_kind == "opinion" and prescription.prescriber_id == tw.expert.id

    def test_the_patient_page_offers_to_prescribe_to_a_physician_only(self, client, db):
        w = rx_world(db)
        db.commit()
        sign_in(client, db, w.prescriber)
        page = client.get(f"/patients/{w.patient_id}", headers=HTML)
        assert f"/patients/{w.patient_id}/ordonnances/nouvelle" in page.text
