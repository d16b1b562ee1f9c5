"""Pages of the patient's documents: the list (filters, empty state, upload), a document (viewer from a sandboxed
response, versions, new version, entered in error, exports), the authorization triplet, French errors that change
nothing, no identifier shown to a clinician."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from sqlalchemy import func, select

from maillage.models.document import Document
from tests.document.conftest import corpus
from tests.fixtures.factories import make_user
from tests.fixtures.messaging import msg_world
from tests.fixtures.teleexpertise import photo
from tests.fixtures.web import csrf_token, sign_in

HTML = {"accept": "text/html"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def visible_text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def upload(client, patient_id, *, name="compte-rendu.pdf", data=None, kind="application/pdf", **fields):
    form = {"csrf_token": csrf_token(client), "title": "Suivi cardiologique de novembre", "type_code": "11488-4",
            "act_date": "2026-11-30", "confidentiality": "normal", **fields}
    return client.post(f"/patients/{patient_id}/documents", data=form,
                       files={"file": (name, corpus("ok_report.pdf") if data is None else data, kind)},
                       headers=HTML, follow_redirects=False)


class TestDocumentList:
    def test_an_empty_record_says_what_to_do(self, client, db):
        m = msg_world(db)
        db.commit()
        sign_in(client, db, m.gp)
        page = client.get(f"/patients/{m.patient_id}/documents", headers=HTML)
        assert page.status_code == 200 and "Aucun document dans ce dossier" in page.text
        assert "patient-banner" in page.text and "Déposer un document" in page.text

    def test_a_clinician_uploads_then_sees_it_listed_and_filters(self, client, db):
        m = msg_world(db)
        db.commit()
        sign_in(client, db, m.gp)
        sent = upload(client, m.patient_id)
        assert sent.status_code == 303, sent.text[:500]
        upload(client, m.patient_id, name="lesion.png", data=photo(), kind="image/png", type_code="72170-4",
               title="Photo de la lésion", act_date="2026-10-01")
        page = client.get(f"/patients/{m.patient_id}/documents", headers=HTML)
        assert "Suivi cardiologique de novembre" in page.text and "Photo de la lésion" in page.text
        assert not UUID.search(visible_text(page.text))
        only_photos = client.get(f"/patients/{m.patient_id}/documents?type=72170-4", headers=HTML)
        assert "Photo de la lésion" in only_photos.text and "Suivi cardiologique de novembre" not in only_photos.text
        by_date = client.get(f"/patients/{m.patient_id}/documents?since=2026-11-01", headers=HTML)
        assert "Suivi cardiologique de novembre" in by_date.text and "Photo de la lésion" not in by_date.text
        bad = client.get(f"/patients/{m.patient_id}/documents?since=hier", headers=HTML)
        assert bad.status_code == 422 and "Date invalide" in bad.text

    def test_a_refused_file_is_explained_in_french_and_nothing_is_written(self, client, db):
        m = msg_world(db)
        db.commit()
        before = db.scalar(select(func.count()).select_from(Document))
        sign_in(client, db, m.gp)
        refused = upload(client, m.patient_id, name="photo.png", data=b"MZ\x90\x00" + b"\x00" * 200, kind="image/png")
        assert refused.status_code == 422 and "programme" in refused.text
        refused = upload(client, m.patient_id, type_code="00000-0")
        assert refused.status_code == 422 and "Type de document inconnu" in refused.text
        assert db.scalar(select(func.count()).select_from(Document)) == before


class TestDocumentPage:
    def _uploaded(self, client, db):
        m = msg_world(db)
        db.commit()
        sign_in(client, db, m.gp)
        location = upload(client, m.patient_id).headers["location"]
        return m, location.split("?")[0]

    def test_the_page_shows_the_pdf_inline_from_a_sandboxed_response(self, client, db):
        _, url = self._uploaded(client, db)
        page = client.get(url, headers=HTML)
        assert page.status_code == 200
        assert f'src="{url}/contenu"' in page.text and "<iframe" in page.text
        assert not UUID.search(visible_text(page.text))
        content = client.get(f"{url}/contenu")
        assert content.status_code == 200 and content.headers["content-type"] == "application/pdf"
        assert content.headers["content-disposition"].startswith("inline;")
        policy = content.headers["content-security-policy"]
        assert "sandbox" in policy and "script-src" not in policy and "default-src 'none'" in policy
        download = client.get(f"{url}/contenu?telecharger=1")
        assert download.headers["content-disposition"].startswith("attachment;")

    def test_a_new_version_supersedes_and_the_old_one_stays_readable(self, client, db):
        _, url = self._uploaded(client, db)
        sent = client.post(f"{url}/version", data={"csrf_token": csrf_token(client)},
                           files={"file": ("v2.pdf", corpus("ok_report.pdf"), "application/pdf")}, headers=HTML,
                           follow_redirects=False)
        assert sent.status_code == 303
        page = client.get(sent.headers["location"], headers=HTML)
        assert "Version 2" in page.text and "Version 1" in page.text and "Nouvelle version déposée" in page.text
        old = client.get(url, headers=HTML)
        assert "Remplacé par une version plus récente" in old.text and "Déposer une nouvelle version" not in old.text
        assert client.get(f"{url}/contenu").status_code == 200

    def test_entered_in_error_needs_a_reason_then_shows_it(self, client, db):
        _, url = self._uploaded(client, db)
        refused = client.post(f"{url}/erreur", data={"csrf_token": csrf_token(client), "reason": ""}, headers=HTML)
        assert refused.status_code == 422 and "Dites pourquoi" in refused.text
        done = client.post(f"{url}/erreur", data={"csrf_token": csrf_token(client), "reason": "Mauvais patient"},
                           headers=HTML, follow_redirects=True)
        assert "Saisi par erreur" in done.text and "Mauvais patient" in done.text

    def test_the_exports_download_fhir_and_cda(self, client, db):
        _, url = self._uploaded(client, db)
        bundle = client.get(f"{url}/fhir").json()
        assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["DocumentReference", "Binary"]
        cda = client.get(f"{url}/cda")
        assert cda.headers["content-type"].startswith("application/xml")
        assert ET.fromstring(cda.content).tag == "{urn:hl7-org:v3}ClinicalDocument"


class TestAuthorization:
    def test_anonymous_is_sent_to_login(self, client, db):
        m = msg_world(db)
        db.commit()
        page = client.get(f"/patients/{m.patient_id}/documents", headers=HTML, follow_redirects=False)
        assert page.status_code in (302, 303, 401)

    def test_an_analyst_gets_403(self, client, db):
        m = msg_world(db)
        analyst = make_user(db, "analyst")
        db.commit()
        sign_in(client, db, analyst)
        assert client.get(f"/patients/{m.patient_id}/documents", headers=HTML).status_code == 403

    def test_a_physician_without_a_relationship_gets_404_on_the_list_the_document_and_its_content(self, client, db):
        m = msg_world(db)
        db.commit()
        sign_in(client, db, m.gp)
        url = upload(client, m.patient_id).headers["location"].split("?")[0]
        client.cookies.clear()
        sign_in(client, db, m.outsider)
        for path in (f"/patients/{m.patient_id}/documents", url, f"{url}/contenu", f"{url}/fhir", f"{url}/cda"):
            assert client.get(path, headers=HTML).status_code == 404, path
