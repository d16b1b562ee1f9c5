"""Billed telemedicine activity and its value per site (FINESS), partner type and modality
(``analytics.billing_activity``): exact values from a ledger built with the ORM (only acts marked billed count, an
objector is left out), DuckDB = Spark, and the gate leaves no small cell recoverable (LP attacker)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from maillage.analytics import billing_activity, catalogue, extract, service
from maillage.analytics.catalogue import get_indicator
from maillage.analytics.gate import determinable_cells, margin_equations, publish
from maillage.analytics.indicators import TOTAL
from maillage.analytics.warehouse import Warehouse
from maillage.kit.clock import frozen
from maillage.models.billing import BillingEntry
from maillage.models.directory import Establishment
from tests.analytics.test_clinical import TODAY, YEAR, cell, object_to_reuse, patient
from tests.fixtures.directory import hospital

CODES = ("facturation-partenaires", "facturation-sites")
AMOUNTS = {"TE2": "23.00", "RQD": "10.00", "TC": "25.00"}


def _entry(db: Any, p: Any, site: Any, code: str, day: dt.date, status: str = "billed") -> None:
    source_id = uuid.uuid4()
    db.add(BillingEntry(source="teleexpertise", source_id=source_id, source_key=f"x:{source_id}", patient_id=p.id,
                        establishment_id=site.id, finess=site.finess_et, code=code, act_date=day,
                        month=day.replace(day=1), amount=Decimal(AMOUNTS[code]), tariff_source="test",
                        status=status, reason="duplicate" if status == "rejected" else None))


@pytest.fixture
def ledger(db: Any) -> dict[str, Any]:
    """12 patients with a TE2 billed by the support hospital and the RQD billed by an EHPAD (Jan–Mar); 3 with a TC
    billed by a city practice (a small cell); acts to bill or rejected (not counted); an objector's billed act."""
    support = hospital(db, name="CH support facturation")
    ehpad = Establishment(kind="ehpad", name="EHPAD Les Chênes", finess_et="870999011")
    practice = Establishment(kind="city_practice", name="Cabinet des Halles", finess_et="870999029")
    db.add_all([ehpad, practice])
    db.flush()
    people = [patient(db) for _ in range(15)]
    for i, p in enumerate(people[:12]):
        day = dt.date(2026, 1 + i % 3, 5 + i)
        _entry(db, p, support, "TE2", day)
        _entry(db, p, ehpad, "RQD", day)
    for p in people[12:]:
        _entry(db, p, practice, "TC", dt.date(2026, 2, 10))
    _entry(db, people[0], support, "TE2", dt.date(2026, 3, 20), status="to_bill")
    _entry(db, people[1], support, "TE2", dt.date(2026, 3, 21), status="rejected")
    objector = patient(db)
    object_to_reuse(db, objector)
    _entry(db, objector, support, "TE2", dt.date(2026, 1, 8))
    db.flush()
    return {"support": support, "ehpad": ehpad, "practice": practice}


@pytest.fixture
def extracted(db: Any, ledger: dict[str, Any], tmp_path: Path) -> Warehouse:
    warehouse = Warehouse(tmp_path / "entrepot")
    keyring = extract.KeyRing(tmp_path / "cles" / "pseudonymes.keys")
    with frozen(TODAY):
        report = extract.run_extraction(
            extract.ExtractionContext(session=db), warehouse, keyring, extractors=catalogue.EXTRACTORS,
            objection_sources=catalogue.OBJECTION_SOURCES, only=["facturation-telemedecine"])
    assert report.excluded_rows == {billing_activity.BILLED_TABLE: 1}  # the objector's act
    return warehouse


def run(warehouse: Warehouse, code: str, engine: Any) -> pd.DataFrame:
    indicator = get_indicator(code)
    return service.compute(indicator, indicator.resolve_params({"annee": YEAR}), warehouse, engine).frame


class TestValues:
    def test_billed_acts_and_value_per_partner_type(self, extracted, duckdb_engine):
        frame = run(extracted, "facturation-partenaires", duckdb_engine)
        support = cell(frame, "2026", type_partenaire="support_hospital", modalite="te")
        assert (support["patients"], support["actes"], support["montant_euros"]) == (12, 12, 276.0)
        ehpad = cell(frame, "2026", type_partenaire="ehpad", modalite="te")
        assert (ehpad["patients"], ehpad["actes"], ehpad["montant_euros"]) == (12, 12, 120.0)
        city = cell(frame, "2026", type_partenaire="city_practice", modalite="tc")
        assert (city["patients"], city["actes"], city["montant_euros"]) == (3, 3, 75.0)
        total = cell(frame, "2026", type_partenaire=TOTAL, modalite=TOTAL)
        # Acts to bill and rejected ones are not counted; the objector's act is not extracted.
        assert (total["patients"], total["actes"], total["montant_euros"]) == (15, 27, 471.0)
        assert cell(frame, "2026-01", type_partenaire="support_hospital", modalite=TOTAL)["actes"] == 4

    def test_per_site_the_site_is_its_finess(self, extracted, duckdb_engine, ledger):
        frame = run(extracted, "facturation-sites", duckdb_engine)
        assert cell(frame, "2026", finess=ledger["ehpad"].finess_et, modalite=TOTAL)["montant_euros"] == 120.0
        assert cell(frame, "2026", finess=ledger["support"].finess_et, modalite="te")["patients"] == 12

    @pytest.mark.parametrize("code", CODES)
    def test_no_small_cell_is_recoverable_after_the_gate(self, extracted, duckdb_engine, code):
        indicator = get_indicator(code)
        gated = publish(indicator, run(extracted, code, duckdb_engine))
        out = gated.frame
        masked = (out.secret != "").to_numpy()
        assert masked.sum() > gated.primary.sum()  # secondary masks exist (3 city patients = total − others)
        assert out.loc[gated.primary, ["actes", "montant_euros"]].isna().all().all()
        assert not determinable_cells(masked, margin_equations(indicator, out, {}))
        assert gated.report["residuelles_calculables"] == 0


class TestBothEngines:
    def test_duckdb_and_spark_agree_exactly(self, extracted, duckdb_engine, spark_engine):
        for code in CODES:
            pd.testing.assert_frame_equal(run(extracted, code, duckdb_engine), run(extracted, code, spark_engine),
                                          check_exact=True, check_dtype=False)


@pytest.mark.parametrize(("code", "modality"), [
    ("TE2", "te"), ("RQD", "te"), ("TCG", "tc"), ("TC", "tc"), ("TLS", "tc"), ("TLL", "tc"), ("TLD", "tc"),
    ("TVA", "ts"), ("TVB", "ts"), ("TVB2", "ts"), ("TVB25", "ts"), ("XYZ", "autre")])
def test_each_billed_code_has_its_modality(code, modality):
    # DOMAIN.md §2: tele-expertise (TE2, RQD), teleconsultation with its nurse assistance (TCG, TC, TLS/TLL/TLD),
    # telesurveillance forfaits (TVA, TVB…), read from billing's own code families.
    assert billing_activity.modality_of(code) == modality


def test_every_code_of_the_tariff_table_has_a_modality():
    from maillage.directory.tariffs import TARIFFS

    assert {t.code for t in TARIFFS if billing_activity.modality_of(t.code) == "autre"} == set()
