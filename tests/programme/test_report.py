"""The evaluation report states the same figures as the pages, and no small cell can be recovered from its tables
and totals: its values from the warehouse are published cells of gated tables, and the gate's own linear-programming
attacker finds no small count it can narrow below the protection interval in those tables."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import uuid
import zipfile
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from maillage.analytics import board, outcomes
from maillage.analytics import service as analytics
from maillage.analytics.catalogue import get_indicator
from maillage.analytics.gate import GateConfig, densify, margin_equations_by_dim, protection_shortfalls, small_cells
from maillage.demo.hospital_stays import synthetic_cohort, write
from maillage.programme import progress, report, service
from maillage.security.actor import Actor
from maillage.security.roles import Role
from tests.analytics.test_activity import extracted  # noqa: F401 - a fixture
from tests.analytics.test_clinical import operational, settings  # noqa: F401 - fixtures
from tests.analytics.test_pmsi import COMMUNES

MANAGER = Actor(user_id=uuid.uuid4(), username="chef", display_name="Chef de programme", role=Role.PROGRAMME_MANAGER)
BINDINGS = [("Actes de télémédecine", "actes", "30"), ("Transferts évités", "maintiens_sur_place", "10"),
            ("Patients", "patients", "20")]


@pytest.fixture
def programme(db: Any, extracted: Any) -> Any:  # noqa: F811
    for year in (2026,):
        analytics.run_indicator("activite-partenaires", {"annee": year}, extracted, analytics.engines.EngineConfig())
    axes = service.start_programme(db, MANAGER)
    project = service.save_project(db, MANAGER, None, axis_id=axes[0].id, title="Télémédecine en EHPAD",
                                   owner="Direction", sites=[], starts_on=dt.date(2026, 1, 1),
                                   ends_on=dt.date(2026, 12, 31))
    for label, measure, target in BINDINGS:
        row = service.add_indicator(db, MANAGER, project.id, label=label, unit="",
                                    catalogue_code="activite-partenaires", measure=measure)
        service.set_target(db, MANAGER, row.id, year=2026, target=Decimal(target))
    hand = service.add_indicator(db, MANAGER, project.id, label="Chariots installés", unit="chariots",
                                 source="Inventaire biomédical")
    service.set_target(db, MANAGER, hand.id, year=2026, target=Decimal("8"), manual_value=Decimal("6"))
    service.set_budget(db, MANAGER, project.id, year=2026, planned_cents=1_000_000, committed_cents=600_000,
                       paid_cents=100_050)
    db.commit()
    return service.programme(db, MANAGER)


def _csv_rows(bundle: bytes) -> list[dict[str, str]]:
    archive = zipfile.ZipFile(io.BytesIO(bundle))
    return list(csv.DictReader(io.StringIO(archive.read("indicateurs_2026.csv").decode("utf-8-sig")), delimiter=";"))


class TestSameFigures:
    def test_the_page_the_pdf_and_the_csv_state_the_same_values(self, programme, extracted, app, client):  # noqa: F811
        gate = GateConfig()
        rows = report.indicator_rows(programme, 2026, extracted, gate)
        by_label = {r.label: r for r in rows}
        indicator = get_indicator("activite-partenaires")
        gated = analytics.gated_result(extracted, analytics.latest_result(extracted, indicator.code,
                                                                          {"annee": 2026}), gate)
        territory = progress.territory_row(gated.frame, indicator).iloc[0]
        for label, measure, _ in BINDINGS:
            expected = territory[measure]
            assert by_label[label].value == (None if pd.isna(expected) else Decimal(str(expected)))
            assert by_label[label].value is not None or "secret" in by_label[label].note
        assert by_label["Chariots installés"].percent == 75 and by_label["Chariots installés"].value == 6
        csv_rows = {r["indicateur"]: r for r in _csv_rows(report.csv_bundle(programme, 2026, extracted, gate))}
        text = "".join(p.extract_text() for p in
                       PdfReader(io.BytesIO(report.pdf(programme, 2026, extracted, gate))).pages)
        from maillage.security.deps import current_actor

        app.dependency_overrides[current_actor] = lambda: MANAGER
        try:
            page = client.get("/programme?annee=2026", headers={"accept": "text/html"}).text
        finally:
            app.dependency_overrides.clear()
        for r in rows:
            assert csv_rows[r.label]["valeur"] == ("" if r.value is None else str(r.value))
            assert csv_rows[r.label]["cible"] == str(r.target)
            cells = re.search(rf"<td>{re.escape(r.label)}.*?</tr>", page, re.S).group(0)
            assert f"<td>{r.target_text}</td>" in cells and f"<td>{r.value_text}" in cells
            assert re.search(rf"{re.escape(r.label)}.*?{re.escape(r.target_text)}\s+{re.escape(r.value_text)}",
                             text, re.S), r.label
        assert "Activité et délais par type de partenaire" in text and "EHPAD" in text
        flat = re.sub(r"\s+", " ", text)
        assert "Séjours hospitaliers (PMSI) : aucun résultat" in flat  # no PMSI in this warehouse: said so
        assert "1000000" in zipfile.ZipFile(io.BytesIO(report.csv_bundle(programme, 2026, extracted, gate))) \
            .read("budget_2026.csv").decode("utf-8-sig")


@pytest.fixture
def with_stays(extracted: Any) -> Any:  # noqa: F811
    """The extracted activity, plus communes, a generated telesurveillance cohort enrolled in 2025 and its stays
    (2024 … 2026), with both PMSI indicators stored."""
    extracted.write_table("COMMUNES", COMMUNES, synthetic=True)
    generated, matching = synthetic_cohort(["01001", "01002", "02001"], 2025, 400, seed=9)
    write(extracted, generated, matching)
    for code, year in (("rehospitalisations-ic", 2026), ("hospitalisations-telesurveillance", 2025)):
        analytics.run_indicator(code, {"annee": year}, extracted, analytics.engines.EngineConfig())
    return extracted


class TestHospitalStays:
    def test_the_board_the_pdf_and_the_csv_state_the_same_stay_figures(self, programme, with_stays):
        gate = GateConfig()
        tables = outcomes.outcome_tables(with_stays, gate, 2026)
        assert [(t.code, t.year) for t in tables] == [("rehospitalisations-ic", 2026),
                                                      ("hospitalisations-telesurveillance", 2025)]
        figures = board.outcome_figures(with_stays, gate, 2026)
        assert [f.rows for f in figures] == [t.rows for t in tables]
        text = re.sub(r"\s+", " ", "".join(
            p.extract_text() for p in PdfReader(io.BytesIO(report.pdf(programme, 2026, with_stays, gate))).pages))
        archive = zipfile.ZipFile(io.BytesIO(report.csv_bundle(programme, 2026, with_stays, gate)))
        for table in tables:
            lines = list(csv.reader(io.StringIO(archive.read(f"{table.code}_{table.year}.csv").decode("utf-8-sig")),
                                    delimiter=";"))
            assert lines[0] == ["", *table.measures] and lines[1:] == table.rows
            for row in table.rows:
                assert re.search(r"\s*".join(re.escape(c) for c in row), text), row
        assert any(c != "secret" for t in tables for r in t.rows for c in r[1:])

    def test_every_stay_figure_is_a_published_cell(self, programme, with_stays):
        gate = GateConfig()
        for table in outcomes.outcome_tables(with_stays, gate, 2026):
            result = analytics.latest_result(with_stays, table.code, {"annee": table.year})
            frame = analytics.gated_result(with_stays, result, gate).frame
            for values in table.values:
                for measure, value in zip(table.measures, values, strict=True):
                    published = set(frame.loc[frame.secret == "", measure].astype(float))
                    assert value is None or value in published, (table.code, measure, value)


class TestNothingRecoverable:
    def test_every_warehouse_value_of_the_report_is_a_published_cell_and_the_attacker_finds_no_small_count(
            self, programme, extracted):  # noqa: F811
        gate = GateConfig()
        indicator = get_indicator("activite-partenaires")
        result = analytics.latest_result(extracted, indicator.code, {"annee": 2026})
        gated = analytics.gated_result(extracted, result, gate)
        published = gated.frame[gated.frame.secret == ""]
        for r in report.indicator_rows(programme, 2026, extracted, gate):
            if r.value is not None and r.source.startswith("Entrepôt"):
                measure = next(m for m in indicator.measures if m.label in r.source)
                assert float(r.value) in set(published[measure.name].astype(float)), r.label
        archive = zipfile.ZipFile(io.BytesIO(report.csv_bundle(programme, 2026, extracted, gate)))
        lines = list(csv.reader(io.StringIO(archive.read("activite-partenaires_2026.csv").decode("utf-8-sig")),
                                delimiter=";"))
        year_rows = gated.frame[(gated.frame.niveau_periode == "annee") & (gated.frame.modalite == "ENSEMBLE")]
        assert len(lines) - 1 == len(year_rows)
        published_acts = {str(int(v)) for v in year_rows.actes.dropna()}
        for line in lines[1:]:
            assert line[1] == "secret" or line[1] in published_acts, line
        # The report's tables are selections of this gated table: the gate's linear-programming attacker, given
        # every published value and margin, narrows no small count below [0, threshold - 1].
        raw = densify(indicator, result.frame.reset_index(drop=True), {})
        by_dim = margin_equations_by_dim(indicator, raw, {})
        masked = (gated.frame.secret != "").to_numpy()
        small = small_cells(raw[list(indicator.patients)].to_numpy(), gate)
        assert small.any() and masked.sum() >= np.count_nonzero(small)
        assert protection_shortfalls(indicator, raw, masked, small, by_dim, gate) == []
