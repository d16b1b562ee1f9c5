"""Pages of the programme: the manager creates a project, a budget line and a target; the direction reads the board
and downloads the report; French refusals that change nothing; the authorization triplet."""

from __future__ import annotations

import io
import re
import zipfile

from pypdf import PdfReader
from sqlalchemy import func, select

from maillage.models.programme import ProgrammeBudgetLine
from tests.fixtures.factories import make_user
from tests.fixtures.web import assert_triplet, csrf_token, sign_in, sign_out

HTML = {"accept": "text/html"}


def post(client, url, data):
    return client.post(url, data={"csrf_token": csrf_token(client), **data}, headers=HTML, follow_redirects=False)


def build(client, db):
    manager = make_user(db, "programme_manager")
    db.commit()
    sign_in(client, db, manager)
    assert post(client, "/programme/demarrer", {}).status_code == 303
    home = client.get("/programme", headers=HTML)
    axis_id = re.search(r'name="axis_id" value="([0-9a-f-]{36})"', home.text).group(1)
    made = post(client, "/programme/projets", {"axis_id": axis_id, "title": "Téléexpertise en EHPAD",
                                               "owner": "Direction des soins", "starts_on": "2026-01-01",
                                               "ends_on": "2027-12-31"})
    assert made.status_code == 303, made.text[:500]
    url = made.headers["location"].split("?")[0]
    assert post(client, f"{url}/budget", {"year": "2026", "planned": "120 000", "committed": "80 000,50",
                                          "paid": "10 000"}).status_code == 303
    assert post(client, f"{url}/indicateurs", {"label": "Délai moyen de réponse", "unit": "heures",
                                               "binding": "teleexpertise-reponses:delai_moyen_heures",
                                               "year": "2026", "target": "48"}).status_code == 303
    return manager, url


class TestProgrammePages:
    def test_the_manager_builds_a_project_and_the_direction_reads_it_and_its_report(self, client, db):
        _, url = build(client, db)
        page = client.get(url, headers=HTML)
        assert "80\u202f000,50\u00a0€" in page.text and "Délai moyen de réponse" in page.text
        assert "Ligne budgétaire" in page.text  # the history
        sign_out(client)
        direction = make_user(db, "direction")
        db.commit()
        sign_in(client, db, direction)
        board = client.get("/programme?annee=2026", headers=HTML)
        assert board.status_code == 200 and "Voir les données" in board.text and "<svg" in board.text
        assert "non calculé" in board.text  # the warehouse holds no result: said, not guessed
        assert "Nouveau projet" not in board.text
        pdf = client.get("/programme/rapport.pdf?annee=2026")
        assert pdf.status_code == 200
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        assert "Délai moyen de réponse" in text and "48" in text and "Ce qui n'a pas été mesuré" in text
        bundle = zipfile.ZipFile(io.BytesIO(client.get("/programme/rapport.zip?annee=2026").content))
        assert "8000050" in bundle.read("budget_2026.csv").decode("utf-8-sig")
        home = client.get("/", headers=HTML)
        assert "projet du programme numérique" in home.text

    def test_a_paid_amount_above_the_committed_one_is_refused_in_french_and_changes_nothing(self, client, db):
        _, url = build(client, db)
        before = db.scalar(select(func.count()).select_from(ProgrammeBudgetLine))
        refused = post(client, f"{url}/budget", {"year": "2027", "planned": "10", "committed": "5", "paid": "6"})
        assert refused.status_code == 422 and "Le montant payé ne peut pas dépasser" in refused.text
        assert db.scalar(select(func.count()).select_from(ProgrammeBudgetLine)) == before

    def test_a_reader_cannot_edit_and_a_clinician_cannot_read(self, client, db):
        _, url = build(client, db)
        direction = make_user(db, "direction")
        physician = make_user(db, "physician")
        db.commit()
        assert_triplet(client, db, "POST", f"{url}/budget", wrong_role_user=direction, outsider_user=None,
                       data={"year": "2026"}, page=True)
        assert_triplet(client, db, "GET", "/programme", wrong_role_user=physician, outsider_user=None, page=True)

    def test_an_unknown_project_is_not_found(self, client, db):
        build(client, db)
        missing = client.get("/programme/projets/6f1c1d7e-0000-4000-8000-000000000000", headers=HTML)
        assert missing.status_code == 404
