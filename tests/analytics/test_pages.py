"""Analyst pages: catalogue, indicator chart and table, APL map, exports through the gate; authorization; audit."""

from __future__ import annotations

import io
import shutil
import uuid

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from maillage.analytics import audit as warehouse_audit
from maillage.analytics.warehouse import Warehouse
from maillage.config import Settings
from maillage.models.audit import AuditEntry
from maillage.security.actor import Actor
from maillage.security.deps import current_actor
from maillage.security.roles import Role

HTML = {"accept": "text/html"}


def actor(role: Role) -> Actor:
    return Actor(user_id=uuid.uuid4(), username=role.value, display_name=role.label, role=role)


@pytest.fixture
def settings(tmp_path, warehouse_with_extract) -> Settings:
    """The application's settings, pointing at a private copy of the synthetic warehouse."""
    root = tmp_path / "entrepot"
    shutil.copytree(warehouse_with_extract.root, root, ignore=shutil.ignore_patterns("results", "audit"))
    return Settings(environment="test", var_dir=tmp_path / "var", log_json=True, secret_key="t" * 40,
                    warehouse_dir=root)


@pytest.fixture
def as_analyst(app):
    analyst = actor(Role.ANALYST)
    app.dependency_overrides[current_actor] = lambda: analyst
    yield analyst
    app.dependency_overrides.pop(current_actor, None)


class TestCatalogue:
    def test_an_analyst_sees_every_indicator_with_unit_and_parameters_to_verify(self, as_analyst, client):
        response = client.get("/pilotage", headers=HTML)
        assert response.status_code == 200
        body = response.text
        assert "Indicateurs du territoire" in body and "Données synthétiques" in body
        for code in ("consultations-mg", "telemedecine", "apl-mg"):
            assert f"/pilotage/indicateurs/{code}" in body
        assert "(à vérifier)" in body

    def test_the_pilotage_entry_is_in_the_analyst_navigation_only(self):
        from types import SimpleNamespace

        from maillage.web.nav import nav_items

        def hrefs(role: Role) -> list[str]:
            request = SimpleNamespace(state=SimpleNamespace(actor=actor(role)))
            return [item.href for item in nav_items(request)]  # type: ignore[arg-type]

        assert "/pilotage" in hrefs(Role.ANALYST)
        assert "/pilotage" not in hrefs(Role.PHYSICIAN)

    def test_anonymous_visitors_are_sent_to_the_login(self, client):
        response = client.get("/pilotage", headers=HTML, follow_redirects=False)
        assert response.status_code in (303, 401)
        if response.status_code == 303:
            assert "/connexion" in response.headers["location"]

    def test_other_roles_are_refused(self, app, client):
        app.dependency_overrides[current_actor] = lambda: actor(Role.PHYSICIAN)
        try:
            assert client.get("/pilotage", headers=HTML).status_code == 403
            assert client.get("/pilotage/carte", headers=HTML).status_code == 403
            assert client.get("/pilotage/indicateurs/telemedecine/export?format=csv").status_code == 403
        finally:
            app.dependency_overrides.pop(current_actor, None)


class TestIndicatorPage:
    def test_shows_a_server_drawn_chart_and_the_gated_table(self, as_analyst, client):
        response = client.get("/pilotage/indicateurs/telemedecine?annee=2025", headers=HTML)
        assert response.status_code == 200
        body = response.text
        assert body.count("<svg") == 2 and "Tableau" in body and "Provenance du résultat" in body
        assert "secret" in body
        assert "https://" not in body.split("<main")[1]  # nothing loaded from elsewhere

    def test_filters_by_departement(self, as_analyst, client, warehouse_with_extract):
        body = client.get("/pilotage/indicateurs/consultations-mg?departement=01", headers=HTML).text
        assert "Département 01" in body and "Commune synthétique" in body

    def test_an_unknown_indicator_is_not_found(self, as_analyst, client):
        assert client.get("/pilotage/indicateurs/inconnu", headers=HTML).status_code == 404

    def test_a_bad_year_gets_a_french_error(self, as_analyst, client):
        response = client.get("/pilotage/indicateurs/telemedecine?annee=19", headers=HTML)
        assert response.status_code == 422 and "Année invalide" in response.text

    def test_each_view_is_audited_in_the_platform_trail_and_the_warehouse_journal(self, as_analyst, client, db,
                                                                                   settings):
        client.get("/pilotage/indicateurs/apl-mg", headers=HTML)
        entries = db.scalars(select(AuditEntry).where(AuditEntry.object_type == "analytics_indicator")).all()
        assert [(e.action, e.object_id, e.actor_id) for e in entries] == [("read", "apl-mg", str(as_analyst.user_id))]
        journal = warehouse_audit.entries(Warehouse(settings.warehouse_dir))
        assert journal[-1]["indicator"] == "apl-mg" and journal[-1]["actor"] == str(as_analyst.user_id)


class TestLongListsAndEmptySelections:
    def test_the_commune_table_pages_and_says_which_rows_it_shows(self, as_analyst, client, territory):
        communes_01 = int((territory.departement == "01").sum())
        first = client.get("/pilotage/indicateurs/consultations-mg?departement=01&annee=2025", headers=HTML).text
        assert f"Communes 1 à {min(50, communes_01)} sur {communes_01}" in first

    def test_a_page_past_the_end_falls_back_to_the_first(self, as_analyst, client):
        body = client.get("/pilotage/indicateurs/consultations-mg?departement=01&page=999", headers=HTML).text
        assert "Communes 1 à" in body

    def test_a_year_without_results_says_so_instead_of_an_empty_chart(self, as_analyst, client):
        body = client.get("/pilotage/indicateurs/apl-mg?annee=2031", headers=HTML).text
        assert "Aucun résultat pour cette sélection (année 2031)" in body and "<svg" not in body
        body = client.get("/pilotage/carte?annee=2031", headers=HTML).text  # no claims that year: no APL of 0
        assert "aucune\nactivité de médecin généraliste" in body and "data-commune=" not in body
        assert "Aucun résultat pour cette sélection" in client.get("/pilotage/indicateurs/apl-mg?annee=2031&"
                                                                  "departement=01", headers=HTML).text

    def test_a_selection_where_every_cell_is_masked_says_why(self, as_analyst, app, client, monkeypatch):
        strict = app.state.settings.model_copy(update={"small_cell_threshold": 10**9})
        monkeypatch.setattr(app.state, "settings", strict)
        body = client.get("/pilotage/indicateurs/telemedecine?annee=2025", headers=HTML).text
        assert "rien n'en est publié" in body

    def test_no_command_line_or_server_path_on_an_empty_warehouse(self, as_analyst, client, settings, tmp_path):
        import shutil

        shutil.rmtree(settings.warehouse_dir / "tables")
        for path in ("/pilotage", "/pilotage/indicateurs/apl-mg", "/pilotage/carte"):
            body = client.get(path, headers=HTML).text
            assert "encore vide" in body
            assert "maillage analytics" not in body and "<code>" not in body and str(tmp_path) not in body


class TestMapPage:
    def test_draws_every_commune_and_lists_the_deserts(self, as_analyst, client, territory):
        response = client.get("/pilotage/carte", headers=HTML)
        assert response.status_code == 200
        body = response.text
        assert body.count("data-commune=") == len(territory)
        assert "Communes sous-denses" in body and "sous-dense" in body
        outlines = body.count('class="departement"')
        assert outlines >= territory.departement.nunique() and "contour approché" in body
        assert body.index('class="departement"') < body.index("data-commune=")  # drawn beneath the communes

    def test_the_gp_fte_of_communes_with_fewer_than_three_gps_is_not_shown(self, as_analyst, client):
        response = client.get("/pilotage/carte", headers=HTML)
        assert "moins de trois médecins" in response.text


class TestExports:
    def test_csv_export_goes_through_the_gate(self, as_analyst, client):
        response = client.get("/pilotage/indicateurs/telemedecine/export?format=csv&annee=2025")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        frame = pd.read_csv(io.BytesIO(response.content), sep=";", decimal=",", encoding="utf-8-sig",
                            dtype={"code_geo": str})
        masked = frame[frame.secret == "secret"]
        assert len(masked) and masked.teleconsultations.isna().all()
        shown = frame[frame.secret.isna()]
        published = shown.patients.dropna()
        assert (published >= 11).all()  # no zero, no small count
        assert "patient_pseudonyme" not in frame.columns

    def test_parquet_export_carries_its_provenance(self, as_analyst, client):
        response = client.get("/pilotage/indicateurs/consultations-mg/export?format=parquet&departement=01")
        assert response.status_code == 200
        table = pq.read_table(io.BytesIO(response.content))
        assert b"maillage.provenance" in table.schema.metadata
        assert set(table.column("niveau_geo").to_pylist()) <= {"commune", "departement", "territoire"}

    def test_an_unknown_format_is_refused(self, as_analyst, client):
        assert client.get("/pilotage/indicateurs/telemedecine/export?format=xlsx").status_code == 422
