"""JSON API of messaging over HTTP: the whole exchange (write to a team about a patient with a photo, read, receipt,
answer, file the photo), the authorization triplet of each route, and the attack: a physician who knows a thread's,
a message's or an attachment's id gets 404, and the refused attempt is in the audit trail."""

from __future__ import annotations

from sqlalchemy import select

from maillage.models.audit import AuditEntry
from tests.fixtures.factories import make_user
from tests.fixtures.messaging import msg_world
from tests.fixtures.teleexpertise import photo
from tests.fixtures.web import assert_triplet, csrf_token, sign_in, sign_out


def post(client, url, json=None, **kw):
    return client.post(url, json=json if json is not None else {}, headers={"x-csrf-token": csrf_token(client)},
                       **kw)


def start(client, db, m):
    sign_in(client, db, m.gp)
    created = post(client, "/api/messaging/threads", {
        "subject": "Lésion pigmentée évolutive", "body": "Avis sur cette lésion du dos ?",
        "teams": [{"kind": "line", "id": str(m.line_id)}], "patient_id": str(m.patient_id),
        "reason": "Avis dermatologique sur une lésion évolutive"})
    assert created.status_code == 201, created.text
    thread = created.json()
    message_id = thread["messages"][0]["id"]
    uploaded = client.post(f"/api/messaging/messages/{message_id}/attachments",
                           files={"file": ("lesion.png", photo(), "image/png")},
                           headers={"x-csrf-token": csrf_token(client)})
    assert uploaded.status_code == 201, uploaded.text
    sign_out(client)
    return thread, message_id, uploaded.json()["id"]


class TestExchangeOverHttp:
    def test_a_gp_writes_to_the_line_a_dermatologist_reads_answers_and_files_the_photo(self, client, db):
        m = msg_world(db)
        thread, _, attachment_id = start(client, db, m)
        tid = thread["id"]

        sign_in(client, db, m.dermatologist)
        assert client.get("/api/messaging/unread").json() == {"unread": 1}
        listed = client.get("/api/messaging/threads").json()["items"]
        assert [(t["id"], t["unread"]) for t in listed] == [(tid, 1)]
        opened = client.get(f"/api/messaging/threads/{tid}").json()
        assert opened["messages"][0]["attachments"][0]["media_type"] == "image/png"
        assert client.get("/api/messaging/unread").json() == {"unread": 0}
        answered = post(client, f"/api/messaging/threads/{tid}/messages", {"body": "Exérèse conseillée."})
        assert answered.status_code == 201 and answered.json()["seq"] == 2
        content = client.get(f"/api/messaging/attachments/{attachment_id}/content")
        assert content.status_code == 200 and content.headers["content-type"] == "image/png"
        filed = post(client, f"/api/messaging/attachments/{attachment_id}/file")
        assert filed.status_code == 201, filed.text
        document_id = filed.json()["id"]
        assert post(client, f"/api/messaging/attachments/{attachment_id}/file").status_code == 409
        sign_out(client)

        sign_in(client, db, m.gp)
        seen = client.get(f"/api/messaging/threads/{tid}").json()
        assert seen["messages"][0]["read_by"] == [m.dermatologist.display_name]
        assert [x["body"] for x in seen["messages"]] == ["Avis sur cette lésion du dos ?", "Exérèse conseillée."]
        docs = client.get(f"/api/patients/{m.patient_id}/documents").json()["items"]
        assert document_id in [d["id"] for d in docs]
        sign_out(client)

    def test_a_correction_after_the_window_answers_409_and_someone_elses_403(self, client, db):
        m = msg_world(db)
        _, message_id, _ = start(client, db, m)
        sign_in(client, db, m.dermatologist)
        other = client.patch(f"/api/messaging/messages/{message_id}", json={"body": "Autre"},
                             headers={"x-csrf-token": csrf_token(client)})
        assert other.status_code == 403
        sign_out(client)
        sign_in(client, db, m.gp)
        fixed = client.patch(f"/api/messaging/messages/{message_id}", json={"body": "Avis sur la lésion du dos ?"},
                             headers={"x-csrf-token": csrf_token(client)})
        assert fixed.status_code == 200 and fixed.json()["edited_at"]
        assert post(client, f"/api/messaging/messages/{message_id}/withdraw").json()["withdrawn_at"]
        assert post(client, f"/api/messaging/messages/{message_id}/withdraw").status_code == 409


class TestTheAttack:
    def test_a_physician_without_a_relationship_gets_404_on_everything_and_the_refusals_are_audited(self, client, db):
        m = msg_world(db)
        thread, message_id, attachment_id = start(client, db, m)
        sign_in(client, db, m.outsider)
        tid = thread["id"]
        assert client.get(f"/api/messaging/threads/{tid}").status_code == 404
        assert post(client, f"/api/messaging/threads/{tid}/messages", {"body": "Bonjour"}).status_code == 404
        assert client.get(f"/api/messaging/attachments/{attachment_id}/content").status_code == 404
        assert post(client, f"/api/messaging/attachments/{attachment_id}/file").status_code == 404
        assert post(client, f"/api/messaging/messages/{message_id}/withdraw").status_code == 404
        assert post(client, f"/api/messaging/threads/{tid}/participants",
                    {"user_id": str(m.outsider.id), "reason": "Je m'ajoute moi-même"}).status_code == 404
        assert client.get(f"/messagerie/{tid}", headers={"accept": "text/html"}).status_code == 404
        assert client.get("/api/messaging/threads").json()["items"] == []
        denied = list(db.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied",
                                                          AuditEntry.actor_id == str(m.outsider.id))))
        assert {d.object_id for d in denied} >= {tid, attachment_id}
        assert all(d.patient_id == str(m.patient_id) for d in denied)


class TestTriplets:
    def test_every_route_answers_401_403_404(self, client, db):
        m = msg_world(db)
        thread, message_id, attachment_id = start(client, db, m)
        billing = make_user(db, "billing_officer")
        db.commit()
        tid = thread["id"]
        for method, url, body in [
            ("GET", f"/api/messaging/threads/{tid}", None),
            ("POST", f"/api/messaging/threads/{tid}/messages", {"body": "Bonjour"}),
            ("PATCH", f"/api/messaging/messages/{message_id}", {"body": "Bonjour"}),
            ("POST", f"/api/messaging/messages/{message_id}/withdraw", {}),
            ("GET", f"/api/messaging/attachments/{attachment_id}/content", None),
            ("POST", f"/api/messaging/attachments/{attachment_id}/file", {}),
            ("POST", f"/api/messaging/threads/{tid}/participants", {"user_id": str(m.outsider.id),
                                                                    "reason": "Avis complémentaire"}),
        ]:
            assert_triplet(client, db, method, url, wrong_role_user=billing, outsider_user=m.outsider, json=body)
        for url in ("/api/messaging/threads", "/api/messaging/unread"):
            assert_triplet(client, db, "GET", url, wrong_role_user=billing, outsider_user=None)
        assert_triplet(client, db, "GET", f"/messagerie/{tid}", wrong_role_user=billing, outsider_user=m.outsider,
                       page=True)
