"""Pages of the MSSanté exchange: "Envoyer par MSSanté" on a signed tele-expertise report, and the reception inbox
where the identity officer matches a received document; French errors that change nothing; no identifier shown."""

from __future__ import annotations

import re

from sqlalchemy import select

from maillage.exchange import service
from maillage.integrations.mssante import FakeTransport
from maillage.models.directory import Professional
from maillage.models.mssante import MssanteReceived, MssanteSend
from maillage.teleexpertise import service as teleexpertise
from tests.exchange.test_service import incoming, xdm_for
from tests.fixtures.factories import make_user
from tests.fixtures.patients import ins_of
from tests.fixtures.teleexpertise import OPINION, claimed, world
from tests.fixtures.web import csrf_token, sign_in

HTML = {"accept": "text/html"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def visible_text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def signed(db):
    w = world(db)
    req = claimed(db, w)
    teleexpertise.answer(db, w.a(db, w.expert), req.id, OPINION)
    return w, req


class TestSendPage:
    def test_the_requester_sends_the_report_to_a_directory_professional(self, client, db):
        w, req = signed(db)
        pro = db.scalar(select(Professional).where(Professional.id == w.expert.person_id))
        pro.mssante = "anne.specialiste@chu-test.mssante.fr"
        db.commit()
        sign_in(client, db, w.requester)
        with service.use_transport(FakeTransport()):
            page = client.get(f"/mssante/envoyer?teleexpertise={req.id}", headers=HTML)
            assert page.status_code == 200 and "Envoyer par MSSanté" in page.text and "patient-banner" in page.text
            assert not UUID.search(visible_text(page.text))
            sent = client.post("/mssante/envoyer", data={
                "csrf_token": csrf_token(client), "kind": "teleexpertise", "source_id": str(req.id),
                "professional_id": str(pro.id)}, headers=HTML, follow_redirects=False)
            assert sent.status_code == 303, sent.text[:500]
            after = client.get(sent.headers["location"], headers=HTML)
        assert "Envoi enregistré" in after.text and "anne.specialiste@chu-test.mssante.fr" in after.text
        [row] = db.scalars(select(MssanteSend)).all()
        assert row.recipient == "anne.specialiste@chu-test.mssante.fr"

    def test_a_typed_address_outside_the_trust_space_is_refused_in_french_and_nothing_is_sent(self, client, db):
        w, req = signed(db)
        db.commit()
        sign_in(client, db, w.requester)
        with service.use_transport(FakeTransport()):
            refused = client.post("/mssante/envoyer", data={
                "csrf_token": csrf_token(client), "kind": "teleexpertise", "source_id": str(req.id),
                "recipient": "quelqu.un@gmail.com"}, headers=HTML)
        assert refused.status_code == 422 and "espace de confiance" in refused.text
        assert db.scalars(select(MssanteSend)).all() == []

    def test_another_physician_gets_404(self, client, db):
        w, req = signed(db)
        db.commit()
        sign_in(client, db, w.outsider)
        assert client.get(f"/mssante/envoyer?teleexpertise={req.id}", headers=HTML).status_code == 404

    def test_the_request_page_offers_the_button(self, client, db):
        w, req = signed(db)
        db.commit()
        sign_in(client, db, w.requester)
        page = client.get(f"/teleexpertise/demandes/{req.id}", headers=HTML)
        assert page.status_code == 200 and f"/mssante/envoyer?teleexpertise={req.id}" in page.text


class TestReceptionPages:
    def test_the_officer_matches_a_waiting_document_from_the_inbox(self, client, db):
        physician = make_user(db, "physician")
        from tests.fixtures.patients import create

        view = create(db, physician, 7)
        p = view.patient
        fake = FakeTransport()
        fake.deliver(incoming(1, xdm_for(ins_of(7)["ins_matricule"], ins_of(7)["ins_oid"], name=p.birth_name,
                                         birth=p.birth_date)))
        service.poll_mailbox(db, fake, settings=client.app.state.settings)
        officer = make_user(db, "identity_officer")
        db.commit()
        sign_in(client, db, officer)
        inbox = client.get("/mssante/reception", headers=HTML)
        assert inbox.status_code == 200 and "Compte rendu 1" in inbox.text and "identité qualifiée" in inbox.text
        assert not UUID.search(visible_text(inbox.text))
        row = db.scalar(select(MssanteReceived))
        detail = client.get(f"/mssante/reception/{row.id}", headers=HTML)
        assert detail.status_code == 200 and "Rattacher à ce patient" in detail.text
        done = client.post(f"/mssante/reception/{row.id}/rattacher", data={
            "csrf_token": csrf_token(client), "patient_id": str(p.id)}, headers=HTML, follow_redirects=False)
        assert done.status_code == 303
        db.expire_all()
        assert db.get(MssanteReceived, row.id).status == "matched"
        assert "Aucun message en attente" in client.get("/mssante/reception", headers=HTML).text

    def test_a_physician_gets_403_on_the_reception_inbox(self, client, db):
        user = make_user(db, "physician")
        db.commit()
        sign_in(client, db, user)
        assert client.get("/mssante/reception", headers=HTML).status_code == 403
