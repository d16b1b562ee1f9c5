"""The demo's Model 2 (``demo.predict.seed_demo_population``): trained on the demo territory's communes, so that after
``make run`` the analysts' page ``/pilotage/modeles/hospitalisation`` shows an evaluation and gated aggregates
instead of an empty state."""

from __future__ import annotations

from maillage.analytics.predict import service
from maillage.demo.predict import seed_demo_population
from tests.demo.test_analytics import demo_warehouse, lozere  # noqa: F401 - fixtures
from tests.fixtures.factories import make_user
from tests.fixtures.web import sign_in


def test_the_demo_model_is_stored_with_gated_aggregates_and_shown_to_the_analyst(client, db, demo_warehouse):  # noqa: F811
    communes = demo_warehouse.read_table("COMMUNES").to_pandas()
    model = seed_demo_population(db, communes, seed=1)
    db.commit()
    assert service.latest_population(db).id == model.id
    rows = model.metrics["aggregats"]
    assert rows
    assert all(row["personnes"] is None or row["personnes"] >= 11 for row in rows)
    analyst = make_user(db, "analyst")
    db.commit()
    sign_in(client, db, analyst)
    page = client.get("/pilotage/modeles/hospitalisation", headers={"accept": "text/html"})
    assert page.status_code == 200 and f"Version {model.version}" in page.text and "AUC ROC" in page.text
