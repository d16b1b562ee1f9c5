"""Telemedicine activity by partner type, site and modality (``analytics.activity``): exact values from activity
built with the ORM (the avoided-transfer count included), DuckDB = Spark, and the gate leaves no small cell
recoverable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from maillage.analytics import activity, catalogue, extract, service
from maillage.analytics.catalogue import get_indicator
from maillage.analytics.gate import determinable_cells, margin_equations, publish
from maillage.analytics.indicators import TOTAL
from maillage.analytics.warehouse import Warehouse
from maillage.kit.clock import frozen
from tests.analytics.test_clinical import TODAY, YEAR, cell, operational, settings  # noqa: F401 - fixtures

CODES = ("activite-partenaires", "activite-sites")


@pytest.fixture
def extracted(db: Any, operational: dict[str, Any], tmp_path: Path) -> Warehouse:  # noqa: F811
    warehouse = Warehouse(tmp_path / "entrepot")
    keyring = extract.KeyRing(tmp_path / "cles" / "pseudonymes.keys")
    with frozen(TODAY):
        report = extract.run_extraction(
            extract.ExtractionContext(session=db), warehouse, keyring, extractors=catalogue.EXTRACTORS,
            objection_sources=catalogue.OBJECTION_SOURCES, only=["activite-telemedecine"])
    # The objector's request and enrolment are left out.
    assert report.excluded_rows == {activity.ACTIVITY_TABLE: 2}
    return warehouse


def run(warehouse: Warehouse, code: str, engine: Any) -> pd.DataFrame:
    indicator = get_indicator(code)
    return service.compute(indicator, indicator.resolve_params({"annee": YEAR}), warehouse, engine).frame


class TestPartnerType:
    @pytest.mark.parametrize(("kind", "role", "expected"), [
        ("hospital", "support", "support_hospital"), ("hospital", "member", "member_hospital"),
        ("hospital", None, "member_hospital"), ("city_practice", None, "city_practice"),
        ("health_centre", None, "city_practice"), ("ehpad", None, "ehpad"), ("usmp", None, "usmp"),
        ("pharmacy", None, "pharmacy"), (None, None, "other"),
    ])
    def test_the_partner_type_follows_the_directory_kind_and_ght_role(self, kind, role, expected):
        assert activity.partner_type(kind, role) == expected


class TestActivityByPartner:
    def test_acts_response_times_and_transfers_avoided(self, extracted, duckdb_engine):
        frame = run(extracted, "activite-partenaires", duckdb_engine)
        ehpad = cell(frame, "2026", type_partenaire="ehpad", modalite="te")
        # 12 answered requests from the EHPAD, answered in 1 … 12 h: 6 « avis seul » (kept in place), 6 oriented
        # to a consultation (not counted as avoided).
        assert (ehpad["patients"], ehpad["actes"], ehpad["avis_rendus"]) == (12, 12, 12)
        assert ehpad["delai_moyen_heures"] == 6.5
        assert (ehpad["maintiens_sur_place"], ehpad["transferts_urgents"]) == (6, 0)
        city = cell(frame, "2026", type_partenaire="city_practice", modalite="te")
        # Three requests: one answered in 50 h with an urgent transfer, one declined, one open.
        assert (city["actes"], city["avis_rendus"], city["maintiens_sur_place"], city["transferts_urgents"]) == \
            (3, 1, 0, 1)
        assert city["delai_moyen_heures"] == 50.0
        ts = cell(frame, "2026", type_partenaire="member_hospital", modalite="ts")
        assert (ts["patients"], ts["actes"], ts["avis_rendus"]) == (12, 12, 0)
        total = cell(frame, "2026", type_partenaire=TOTAL, modalite=TOTAL)
        assert (total["patients"], total["actes"], total["avis_rendus"], total["maintiens_sur_place"]) == \
            (15, 27, 13, 6)
        assert cell(frame, "2026-02", type_partenaire=TOTAL, modalite="te")["actes"] == 3

    def test_by_site_the_sites_are_named(self, extracted, duckdb_engine):
        frame = run(extracted, "activite-sites", duckdb_engine)
        assert cell(frame, "2026", site="EHPAD Les Tilleuls", modalite=TOTAL)["actes"] == 12
        assert cell(frame, "2026", site="CH Limoges", modalite="ts")["patients"] == 12

    @pytest.mark.parametrize("code", CODES)
    def test_no_small_cell_is_recoverable_after_the_gate(self, extracted, duckdb_engine, code):
        indicator = get_indicator(code)
        gated = publish(indicator, run(extracted, code, duckdb_engine))
        out = gated.frame
        masked = (out.secret != "").to_numpy()
        assert masked.sum() > gated.primary.sum()  # secondary masks exist (3 city patients = total − others)
        assert out.loc[gated.primary, ["actes", "maintiens_sur_place"]].isna().all().all()
        assert not determinable_cells(masked, margin_equations(indicator, out, {}))
        assert gated.report["residuelles_calculables"] == 0


class TestBothEngines:
    def test_duckdb_and_spark_agree_exactly(self, extracted, duckdb_engine, spark_engine):
        for code in CODES:
            pd.testing.assert_frame_equal(run(extracted, code, duckdb_engine), run(extracted, code, spark_engine),
                                          check_exact=True, check_dtype=False)


class TestActivityPage:
    def test_the_board_shows_each_chart_with_its_data_and_filters_by_partner_type(self, app, client):
        import uuid

        from maillage.security.actor import Actor
        from maillage.security.deps import current_actor
        from maillage.security.roles import Role

        direction = Actor(user_id=uuid.uuid4(), username="dir", display_name="Direction", role=Role.DIRECTION)
        app.dependency_overrides[current_actor] = lambda: direction
        try:
            page = client.get("/pilotage/activite?annee=2026", headers={"accept": "text/html"})
            assert page.status_code == 200, page.text[:800]
            assert page.text.count("Voir les données") == page.text.count("<svg") >= 7
            assert "Actes par type de partenaire" in page.text and "EHPAD Les Tilleuls" in page.text
            assert "secret" in page.text  # the 3 city-practice patients are masked
            ehpad = client.get("/pilotage/activite?annee=2026&partenaire=ehpad", headers={"accept": "text/html"})
            assert "EHPAD, 2026" in ehpad.text and "Cabinet du Pont" not in ehpad.text
            bad = client.get("/pilotage/activite?partenaire=xyz", headers={"accept": "text/html"})
            assert bad.status_code == 422 and "Type de partenaire inconnu" in bad.text
        finally:
            app.dependency_overrides.clear()
