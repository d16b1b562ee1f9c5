"""Model 2 stored and shown: the version keeps its evaluation and its aggregates already through the gate (no row
per person), and the analysts' steering page shows them, audited; care roles are refused."""

from __future__ import annotations

from html import unescape
from typing import Any

from sqlalchemy import select

from maillage.analytics.predict import population, service
from maillage.demo.communes import synthetic_communes
from maillage.models.audit import AuditEntry
from tests.fixtures.factories import make_user
from tests.fixtures.web import assert_triplet, sign_in

URL = "/pilotage/modeles/hospitalisation"
GRID = {"num_leaves": [7], "learning_rate": [0.05], "n_estimators": [80]}


def trained(db: Any) -> Any:
    communes = synthetic_communes(6, seed=2, departements=2)
    model = service.train_population(db, communes, persons=6_000, seed=1, rounds=20, grid=GRID)
    db.commit()
    return model


class TestStoredVersion:
    def test_the_version_holds_gated_aggregates_only(self, db):
        model = trained(db)
        rows = model.metrics["aggregats"]
        allowed = {*population.AGGREGATES.dimension_columns, *population.AGGREGATES.measure_names, "secret"}
        assert rows and all(set(row) <= allowed for row in rows)
        assert len(rows) < 6_000 / 50
        assert all(row["personnes"] is None or row["personnes"] >= 11 for row in rows)
        assert model.metrics["controle_secret"]["intervalles_insuffisants"] == 0
        assert model.status == "trained" and service.latest_population(db).id == model.id


    def test_the_deployment_s_threshold_is_the_one_applied(self, db, monkeypatch):
        # A deployment that sets a higher threshold gets it for Model 2 too, not the gate's default of 11.
        from maillage.config import get_settings

        monkeypatch.setenv("MAILLAGE_SMALL_CELL_THRESHOLD", "20")
        get_settings.cache_clear()
        try:
            model = trained(db)
        finally:
            monkeypatch.delenv("MAILLAGE_SMALL_CELL_THRESHOLD")
            get_settings.cache_clear()
        assert int(model.metrics["controle_secret"]["seuil"]) == 20
        assert all(row["personnes"] is None or row["personnes"] >= 20 for row in model.metrics["aggregats"])


class TestSteeringPage:
    def test_an_analyst_sees_the_evaluation_and_the_masked_cells_audited(self, client, db):
        model = trained(db)
        analyst = make_user(db, "analyst")
        db.commit()
        sign_in(client, db, analyst)
        response = client.get(URL, headers={"accept": "text/html"})
        html = unescape(response.text)
        assert response.status_code == 200
        assert f"Version {model.version}" in html and "AUC ROC" in html and "Secret statistique" in html
        assert "Aucun usage individuel" in html and "Usage prévu" in html  # the page is Model 2's card
        db.commit()
        entry = db.scalars(select(AuditEntry).where(AuditEntry.actor_id == str(analyst.id),
                                                    AuditEntry.object_id == population.AGGREGATES.code)).one()
        assert entry.action == "read"

    def test_without_a_version_the_page_says_how_to_make_one(self, client, db):
        analyst = make_user(db, "analyst")
        db.commit()
        sign_in(client, db, analyst)
        html = unescape(client.get(URL, headers={"accept": "text/html"}).text)
        assert "maillage predict population" in html

    def test_triplet_care_roles_are_refused(self, client, db):
        db.commit()
        assert_triplet(client, db, "GET", URL, wrong_role_user=make_user(db, "nurse"), outsider_user=None, page=True)
