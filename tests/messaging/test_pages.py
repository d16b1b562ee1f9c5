"""Pages of messaging: the inbox with its unread counts and search, a new message with the patient and team
pickers and a photo, the thread (patient banner, receipt, history), the forms that answer, correct, withdraw and
file, the bell; French errors that change nothing; no identifier shown to a clinician."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from maillage.models.messaging import MessageThread
from tests.fixtures.messaging import msg_world, team_thread
from tests.fixtures.teleexpertise import photo
from tests.fixtures.web import csrf_token, sign_in, sign_out

HTML = {"accept": "text/html"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def visible_text(html: str) -> str:
    """The page without its tags and attributes (links and form actions hold ids; people do not read those)."""
    return re.sub(r"<[^>]+>", " ", html)


class TestNewMessagePage:
    def test_a_gp_writes_to_the_line_about_a_patient_with_a_photo(self, client, db):
        m = msg_world(db)
        db.commit()
        sign_in(client, db, m.gp)
        page = client.get("/messagerie/nouveau", headers=HTML)
        assert page.status_code == 200 and "Dermatologie" in page.text and "Patient concerné" in page.text
        sent = client.post("/messagerie/nouveau", data={
            "csrf_token": csrf_token(client), "team": f"line:{m.line_id}", "patient_id": str(m.patient_id),
            "reason": "Avis sur une lésion évolutive", "subject": "Lésion du dos", "body": "Qu'en pensez-vous ?"},
            files={"file": ("lesion.png", photo(), "image/png")}, headers=HTML, follow_redirects=False)
        assert sent.status_code == 303, sent.text[:500]
        thread = client.get(sent.headers["location"], headers=HTML)
        assert thread.status_code == 200
        assert "Lésion du dos" in thread.text and "Qu&#39;en pensez-vous ?" in thread.text
        assert "/api/messaging/attachments/" in thread.text and "patient-banner" in thread.text
        assert "Pas encore lu" in thread.text
        assert not UUID.search(visible_text(thread.text))

    def test_a_missing_reason_is_refused_in_french_and_nothing_is_written(self, client, db):
        m = msg_world(db)
        db.commit()
        before = db.scalar(select(func.count()).select_from(MessageThread))
        sign_in(client, db, m.gp)
        refused = client.post("/messagerie/nouveau", data={
            "csrf_token": csrf_token(client), "team": f"line:{m.line_id}", "patient_id": str(m.patient_id),
            "subject": "Lésion du dos", "body": "Qu'en pensez-vous ?"}, headers=HTML)
        assert refused.status_code == 422 and "Dites pourquoi" in refused.text
        assert db.scalar(select(func.count()).select_from(MessageThread)) == before

    def test_an_executable_named_as_a_photo_is_refused_and_nothing_is_written(self, client, db):
        m = msg_world(db)
        db.commit()
        before = db.scalar(select(func.count()).select_from(MessageThread))
        sign_in(client, db, m.gp)
        refused = client.post("/messagerie/nouveau", data={
            "csrf_token": csrf_token(client), "team": f"line:{m.line_id}", "subject": "Protocole",
            "body": "Voici le protocole"}, files={"file": ("protocole.png", b"MZ\x90\x00" * 64, "image/png")},
            headers=HTML)
        assert refused.status_code == 422 and "programme" in refused.text
        assert db.scalar(select(func.count()).select_from(MessageThread)) == before


class TestRecipientsPicker:
    """A territory has tens of thousands of professionals: the new message does not list them, it finds them by name,
    and keeps the chosen ones checked while one searches for the next (with htmx, or with "Chercher" without
    JavaScript)."""

    def test_the_page_lists_nobody_until_a_name_is_typed(self, client, db):
        m = msg_world(db)
        db.commit()
        sign_in(client, db, m.gp)
        page = client.get("/messagerie/nouveau", headers=HTML)
        assert page.status_code == 200 and 'id="people-q"' in page.text
        assert m.colleague.display_name not in page.text and m.outsider.display_name not in page.text

    def test_typing_a_name_finds_the_professional_and_keeps_the_chosen_ones(self, client, db):
        m = msg_world(db)
        db.commit()
        sign_in(client, db, m.gp)
        words = m.colleague.display_name.split()
        found = client.get("/messagerie/destinataires", params={"champ": "people", "people_q": words[-1].lower()},
                           headers=HTML)
        assert found.status_code == 200 and m.colleague.display_name in found.text
        assert 'type="checkbox"' in found.text and m.gp.display_name not in found.text  # never oneself
        kept = client.get("/messagerie/destinataires", params=[("champ", "people"), ("people_q", "zzzz-personne"),
                                                              ("people", str(m.colleague.id))], headers=HTML)
        assert m.colleague.display_name in kept.text and "checked" in kept.text
        assert "Aucun professionnel de ce nom" in kept.text

    def test_without_javascript_chercher_returns_the_form_with_the_choices_then_it_sends(self, client, db):
        m = msg_world(db)
        db.commit()
        before = db.scalar(select(func.count()).select_from(MessageThread))
        sign_in(client, db, m.gp)
        step = client.post("/messagerie/nouveau", data={
            "csrf_token": csrf_token(client), "people_q": m.colleague.display_name.split()[-1], "chercher": "people",
            "subject": "Réunion de concertation", "body": "Jeudi 14 h ?"}, headers=HTML)
        assert step.status_code == 200 and m.colleague.display_name in step.text
        assert "Réunion de concertation" in step.text  # what was typed is kept
        assert db.scalar(select(func.count()).select_from(MessageThread)) == before  # a search step writes nothing
        sent = client.post("/messagerie/nouveau", data={
            "csrf_token": csrf_token(client), "people": [str(m.colleague.id), str(m.outsider.id)],
            "subject": "Réunion de concertation", "body": "Jeudi 14 h ?"}, headers=HTML, follow_redirects=False)
        assert sent.status_code == 303, sent.text[:500]
        thread = client.get(sent.headers["location"], headers=HTML)
        assert m.colleague.display_name in thread.text and m.outsider.display_name in thread.text


class TestInboxAndThread:
    def test_the_inbox_shows_the_unread_count_and_the_bell_counts_it_until_read(self, client, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        db.commit()
        sign_in(client, db, m.dermatologist)
        inbox = client.get("/messagerie", headers=HTML)
        assert inbox.status_code == 200 and "Lésion pigmentée évolutive" in inbox.text
        assert 'data-unread="1"' in inbox.text
        assert ">1</span>" in client.get("/messagerie/cloche", headers=HTML).text
        assert "message non lu" in client.get("/", headers=HTML).text
        opened = client.get(f"/messagerie/{thread.id}", headers=HTML)
        assert "Vous lisez au titre de : Dermatologie" in opened.text
        assert "escalated" not in client.get("/messagerie/cloche", headers=HTML).text
        sign_out(client)
        sign_in(client, db, m.gp)
        assert "Lu par " + m.dermatologist.display_name in client.get(f"/messagerie/{thread.id}", headers=HTML).text

    def test_search_by_subject_word_finds_only_matching_threads(self, client, db, settings):
        m = msg_world(db)
        team_thread(db, m, settings=settings)
        db.commit()
        sign_in(client, db, m.gp)
        found = client.get("/messagerie?subject=lesion", headers=HTML)
        assert "Lésion pigmentée évolutive" in found.text
        missing = client.get("/messagerie?subject=cardiologie", headers=HTML)
        assert "Aucune de vos conversations" in missing.text
        short = client.get("/messagerie?subject=de", headers=HTML)
        assert short.status_code == 422 and "au moins 3 lettres" in short.text

    def test_reply_correct_withdraw_and_file_through_the_forms(self, client, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        db.commit()
        sign_in(client, db, m.dermatologist)
        replied = client.post(f"/messagerie/{thread.id}/repondre", data={"csrf_token": csrf_token(client),
                                                                         "body": "Photo en lumière rasante ?"},
                              files={"file": ("detail.png", photo(), "image/png")}, headers=HTML)
        assert replied.status_code == 200 and "Photo en lumière rasante ?" in replied.text
        message_id = re.search(r"/messagerie/messages/([0-9a-f-]{36})/corriger", replied.text).group(1)
        corrected = client.post(f"/messagerie/messages/{message_id}/corriger",
                                data={"csrf_token": csrf_token(client), "body": "Une photo en lumière rasante ?"},
                                headers=HTML)
        assert "Message corrigé" in corrected.text and "Avant correction" in corrected.text
        attachment_id = re.search(r"/messagerie/pieces/([0-9a-f-]{36})/classer", corrected.text).group(1)
        filed = client.post(f"/messagerie/pieces/{attachment_id}/classer", data={"csrf_token": csrf_token(client)},
                            headers=HTML)
        assert "Pièce jointe classée dans les documents du patient" in filed.text
        again = client.post(f"/messagerie/pieces/{attachment_id}/classer", data={"csrf_token": csrf_token(client)},
                            headers=HTML)
        assert "déjà classée" in again.text
        withdrawn = client.post(f"/messagerie/messages/{message_id}/retirer", data={"csrf_token": csrf_token(client)},
                                headers=HTML)
        assert "Message retiré" in withdrawn.text and "Texte retiré" in withdrawn.text
        empty = client.post(f"/messagerie/{thread.id}/repondre", data={"csrf_token": csrf_token(client), "body": " "},
                            headers=HTML)
        assert "Le message est vide." in empty.text
