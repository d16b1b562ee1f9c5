"""JSON API of tele-expertise: the whole workflow over HTTP, the authorization triplet, the audit trail, and the
specialist of another line who gets 404 (CONVENTIONS.md: out of scope is 404, the same answer as missing)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from maillage.kit.clock import today_paris
from maillage.models.audit import AuditEntry
from maillage.teleexpertise.rules import tariff_for
from tests.fixtures.factories import make_user
from tests.fixtures.teleexpertise import photo, submitted, world
from tests.fixtures.web import assert_triplet, csrf_token, sign_in, sign_out


def post(client, url, json=None, **kw):
    return client.post(url, json=json if json is not None else {}, headers={"x-csrf-token": csrf_token(client)},
                       **kw)


class TestWorkflowOverHttp:
    def test_a_request_goes_from_draft_to_a_signed_transfer_with_its_admission_and_acts(self, client, db):
        w = world(db)
        sign_in(client, db, w.requester)
        created = post(client, "/api/teleexpertise/requests", {
            "patient_id": str(w.patient_id), "line_id": str(w.line.id),
            "question": "Lésion pigmentée du dos qui change d'aspect : avis ?"})
        assert created.status_code == 201, created.text
        rid = created.json()["id"]
        assert created.json()["fhir_status"] == "draft"
        refused = post(client, f"/api/teleexpertise/requests/{rid}/submit", {})
        assert refused.status_code == 422
        assert [d["field"] for d in refused.json()["error"]["details"]] == ["photos", "consent"]
        uploaded = client.post(f"/api/teleexpertise/requests/{rid}/attachments",
                               files={"file": ("lesion.png", photo(), "image/png")},
                               headers={"x-csrf-token": csrf_token(client)})
        assert uploaded.status_code == 201, uploaded.text
        sent = post(client, f"/api/teleexpertise/requests/{rid}/submit", {"consent_recorded_now": True})
        assert sent.status_code == 200 and sent.json()["status"] == "published", sent.text
        sign_out(client)

        sign_in(client, db, w.expert)
        listed = client.get(f"/api/teleexpertise/lines/{w.line.id}/worklist")
        assert [r["id"] for r in listed.json()["items"]] == [rid]
        assert post(client, f"/api/teleexpertise/requests/{rid}/claim").json()["assignee_id"] == str(w.expert.id)
        asked = post(client, f"/api/teleexpertise/requests/{rid}/questions", {"body": "Depuis quand évolue-t-elle ?"})
        assert asked.json()["fhir_status"] == "on-hold"
        sign_out(client)

        sign_in(client, db, w.requester)
        replied = post(client, f"/api/teleexpertise/requests/{rid}/replies", {"body": "Depuis deux mois."})
        assert replied.json()["status"] == "in_progress"
        sign_out(client)

        sign_in(client, db, w.expert)
        signed = post(client, f"/api/teleexpertise/requests/{rid}/opinion", {
            "answer": "Suspicion de mélanome : transfert.", "orientation": "urgent_transfer"})
        assert signed.status_code == 200, signed.text
        body = signed.json()
        assert body["status"] == "completed" and body["admission"]["status"] == "requested"
        today = today_paris()
        assert [(a["code"], Decimal(str(a["amount"])), a["act_date"]) for a in body["acts"]] == [
            ("TE2", tariff_for("TE2", today).amount, today.isoformat()), ("RQD", Decimal("10.00"), today.isoformat())]
        assert [e["action"] for e in body["timeline"]] == [
            "create", "attach", "submit", "claim", "ask", "reply", "answer", "admission_requested"]
        sign_out(client)

        actions = set(db.scalars(select(AuditEntry.action).where(AuditEntry.object_id == rid)))
        assert {"create", "submit", "claim", "ask", "reply", "answer", "read"} <= actions

    def test_a_second_claim_answers_409_in_french(self, client, db):
        w = world(db)
        req = submitted(db, w)
        db.commit()
        sign_in(client, db, w.expert)
        assert post(client, f"/api/teleexpertise/requests/{req.id}/claim").status_code == 200
        sign_in(client, db, w.colleague)
        second = post(client, f"/api/teleexpertise/requests/{req.id}/claim")
        assert second.status_code == 409 and "déjà" in second.json()["error"]["message"]


class TestAuthorization:
    def test_reading_a_request_has_its_triplet(self, client, db):
        w = world(db)
        req = submitted(db, w)
        db.commit()
        assert_triplet(client, db, "GET", f"/api/teleexpertise/requests/{req.id}",
                       wrong_role_user=make_user(db, "analyst"), outsider_user=w.outsider)

    def test_claiming_has_its_triplet_and_a_specialist_of_another_line_gets_404(self, client, db):
        w = world(db)
        req = submitted(db, w)
        db.commit()
        assert_triplet(client, db, "POST", f"/api/teleexpertise/requests/{req.id}/claim",
                       wrong_role_user=make_user(db, "nurse"), outsider_user=w.outsider)

    def test_another_line_s_worklist_is_404(self, client, db):
        w = world(db)
        db.commit()
        assert_triplet(client, db, "GET", f"/api/teleexpertise/lines/{w.line.id}/worklist",
                       wrong_role_user=make_user(db, "midwife"), outsider_user=w.outsider)

    def test_answering_has_its_triplet(self, client, db):
        w = world(db)
        req = submitted(db, w)
        db.commit()
        assert_triplet(client, db, "POST", f"/api/teleexpertise/requests/{req.id}/opinion",
                       json={"answer": "Avis de test suffisant.", "orientation": "advice_only"},
                       wrong_role_user=make_user(db, "pharmacist"), outsider_user=w.outsider)

    def test_a_denied_read_is_audited_as_denied(self, client, db):
        w = world(db)
        req = submitted(db, w)
        db.commit()
        sign_in(client, db, w.outsider)
        assert client.get(f"/api/teleexpertise/requests/{req.id}").status_code == 404
        outcomes = set(db.scalars(select(AuditEntry.outcome).where(AuditEntry.object_id == str(req.id),
                                                                    AuditEntry.actor_id == str(w.outsider.id))))
        assert outcomes == {"denied"}


class TestCompteRendu:
    def test_the_requester_downloads_the_pdf_and_an_outsider_gets_404(self, client, db):
        from maillage.teleexpertise import service
        from tests.fixtures.teleexpertise import OPINION, claimed

        w = world(db)
        req = claimed(db, w)
        service.answer(db, w.a(db, w.expert), req.id, OPINION)
        db.commit()
        url = f"/api/teleexpertise/requests/{req.id}/compte-rendu.pdf"
        sign_in(client, db, w.requester)
        pdf = client.get(url)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        sign_out(client)
        assert_triplet(client, db, "GET", url, wrong_role_user=make_user(db, "analyst"), outsider_user=w.outsider)
