"""Finding 3: masked cells recomputed by linear programming. The attacker (``lp_attack``) runs on every indicator of
the catalogue at several sizes; every small count it targets must keep its protection interval [0, threshold - 1],
and every masked GP FTE of the APL the whole [0, 2 FTE] a one- or two-GP commune allows."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from typing import ClassVar

import ibis
import numpy as np
import pandas as pd
import pytest

from maillage.analytics import apl, clinical, engines, gate, service
from maillage.analytics.catalogue import all_indicators, get_indicator
from maillage.analytics.extract import PSEUDONYM_COLUMN
from maillage.analytics.gate import publish
from maillage.analytics.indicators import finalise
from maillage.analytics.warehouse import Warehouse
from maillage.demo.claims import generate_claims
from maillage.demo.communes import synthetic_communes
from tests.analytics.lp_attack import apl_fte_ranges, attack, small_cells, unprotected

THRESHOLD = 11
# (communes, claim lines): a sparse territory where most cells are small, and a denser one.
SIZES = [(8, 4_000), (12, 12_000)]


@pytest.fixture(scope="module", params=SIZES, ids=lambda s: f"{s[0]}communes-{s[1]}lignes")
def claims(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Warehouse, pd.DataFrame]:
    communes, rows = request.param
    territory = synthetic_communes(communes, seed=5, departements=2)
    wh = Warehouse(tmp_path_factory.mktemp("lp"))
    generate_claims(wh, territory, rows=rows, seed=7, year=2025, chunk_rows=rows)
    return wh, territory


@functools.cache
def _raw_and_gated(code: str, root: Path) -> tuple[pd.DataFrame, gate.GatedTable, dict[str, str]]:
    wh = Warehouse(root)
    indicator = get_indicator(code)
    raw = service.compute(indicator, indicator.resolve_params({}), wh, engines.EngineConfig(name="duckdb")).frame
    parents = service.geo_parents(wh)
    return raw, publish(indicator, raw, geo_parent=parents), parents


def raw_and_gated(code: str, wh: Warehouse) -> tuple[pd.DataFrame, gate.GatedTable, dict[str, str]]:
    """The raw result and the gated table (computed once per warehouse: the gate's audit takes seconds)."""
    raw, gated, parents = _raw_and_gated(code, wh.root)
    return raw.copy(), gated, parents


def weakened(indicator_code: str, raw: pd.DataFrame) -> pd.DataFrame:
    """What the gate published before finding 3: primary cells only, zeros and populations shown, labelled."""
    indicator = get_indicator(indicator_code)
    out = raw.copy()
    small = ((raw[list(indicator.patients)] < THRESHOLD) & (raw[list(indicator.patients)] > 0)).any(axis=1)
    for m in indicator.measures:
        if m.kind != "population":
            out[m.name] = out[m.name].astype("float64").where(~small)
    out["secret"] = np.where(small, "primaire", "")
    return out


class TestClaimsIndicators:
    @pytest.mark.parametrize("code", ["consultations-mg", "telemedecine"])
    def test_no_small_count_is_narrowed_below_its_protection_interval(self, claims, code):
        wh, _ = claims
        raw, gated, parents = raw_and_gated(code, wh)
        indicator = get_indicator(code)
        targets = small_cells(indicator, raw, gated.frame, THRESHOLD)
        assert targets, "the territory is small enough to have small cells"
        assert unprotected(indicator, raw, gated.frame, parents, THRESHOLD) == {}

    @pytest.mark.parametrize("code", ["consultations-mg", "telemedecine"])
    def test_the_same_attacker_pins_cells_of_the_gate_before_the_fix(self, claims, code):
        """Controls that the attacker is real: primary masking with zeros and populations shown leaks counts."""
        wh, _ = claims
        raw, _, parents = raw_and_gated(code, wh)
        indicator = get_indicator(code)
        old = weakened(code, raw)
        leaks = unprotected(indicator, raw, old, parents, THRESHOLD)
        assert leaks
        exact = {cell: r for cell, r in leaks.items() if r.exact}
        if code == "consultations-mg":  # as in the finding: counts given back exactly (bounded by the population)
            assert exact, "some masked counts come back exactly"
        for (pos, name), r in leaks.items():
            assert r.low - 1e-6 <= raw.loc[pos, name] <= r.high + 1e-6  # ranges around the warehouse's value

    def test_no_population_zero_or_label_is_published_next_to_a_masked_count(self, claims):
        wh, _ = claims
        _, gated, _ = raw_and_gated("consultations-mg", wh)
        out = gated.frame
        masked = out["secret"] != ""
        assert out.loc[masked, ["population", "patients", "consultations", "taux"]].isna().all(axis=None)
        assert set(out.loc[masked, "secret"]) == {gate.MASKED}  # one label: no "under 11" / "at least 11"
        assert not (out.loc[~masked, "patients"] == 0).any()  # no published zero


class TestApl:
    def test_masked_gp_fte_keep_their_whole_range(self, claims):
        wh, territory = claims
        raw, gated, _ = raw_and_gated("apl-mg", wh)
        params = apl.DEFAULT_PARAMETERS
        fte_max = 2 * params.fte_cap
        ranges = apl_fte_ranges(gated.frame, raw, territory, params, fte_max)
        assert ranges, "some communes have one or two GPs"
        assert {c: r for c, r in ranges.items() if not r.covers(0.0, fte_max)} == {}

    def test_the_published_scores_gave_them_back_before_the_fix(self, claims):
        wh, territory = claims
        raw, gated, _ = raw_and_gated("apl-mg", wh)
        old = gated.frame.copy()
        old["apl"], old["desert"] = raw["apl"].round(2), raw["desert"]  # the score shown everywhere, as before
        params = apl.DEFAULT_PARAMETERS
        ranges = apl_fte_ranges(old, raw, territory, params, 2 * params.fte_cap)
        truth = raw.set_index("code_geo")["medecins_etp"]
        narrow = {c: r for c, r in ranges.items() if r.high - r.low < 0.1}
        assert narrow
        for code, r in narrow.items():
            assert r.low - 0.01 <= truth[code] <= r.high + 0.01

    def test_scores_away_from_any_small_supply_stay_published(self, claims):
        wh, _ = claims
        raw, gated, _ = raw_and_gated("apl-mg", wh)
        shown = gated.frame["apl"].notna()
        assert (raw.loc[shown, "medecins_zone_min"].eq(0) | raw.loc[shown, "medecins_zone_min"].ge(3)).all()


# --- indicator 4, from synthetic operational rows ------------------------------------------------------------------
def clinical_tables(n: int, seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 365, n)
    answered = rng.random(n) < 0.8
    orientation = np.array(list(clinical.ORIENTATIONS))[rng.integers(0, len(clinical.ORIENTATIONS), n)]
    requests = pd.DataFrame({
        PSEUDONYM_COLUMN: [f"SYN{p}" for p in rng.integers(0, n // 2 + 1, n)],
        "ligne": rng.choice(["Cardiologie", "Dermatologie"], n, p=[0.7, 0.3]),
        "specialite": "x", "urgence": "normale",
        "etablissement_demandeur": rng.choice(["EHPAD A", "CH B"], n, p=[0.6, 0.4]),
        "statut": np.where(answered, "answered", np.where(rng.random(n) < 0.5, "declined", "submitted")),
        "date_demande": pd.to_datetime("2025-01-01") + pd.to_timedelta(days, unit="D"),
        "repondue": answered,
        "delai_reponse_minutes": np.where(answered, rng.integers(30, 5000, n), 0),
        "dans_les_delais": answered & (rng.random(n) < 0.7),
        "orientation": np.where(answered, orientation, None),
    })
    follow_rows = []
    alerts_rows = []
    for p in range(n // 4):
        programme = rng.choice(["heart_failure", "diabetes", "renal_failure"], p=[0.6, 0.3, 0.1])
        start = int(rng.integers(1, 13))
        for month in range(start, min(13, start + int(rng.integers(1, 6)))):
            monitored = int(rng.integers(1, 29))
            follow_rows.append({PSEUDONYM_COLUMN: f"SYN{p}", "programme": programme, "equipe": "e",
                                "mois": dt.date(2025, month, 1), "jours_suivis": monitored,
                                "jours_avec_mesure": int(rng.integers(0, monitored + 1)),
                                "debut_inclusion": month == start})
            for _ in range(int(rng.poisson(0.5))):
                alerts_rows.append({PSEUDONYM_COLUMN: f"SYN{p}", "programme": programme, "equipe": "e",
                                    "date_ouverture": dt.date(2025, month, int(rng.integers(1, 28))),
                                    "gravite": rng.choice(["red", "orange"]),
                                    "absence_transmission": bool(rng.random() < 0.2)})
    return {clinical.TE_REQUESTS_TABLE: requests, clinical.MONITORING_TABLE: pd.DataFrame(follow_rows),
            clinical.ALERTS_TABLE: pd.DataFrame(alerts_rows)}


@pytest.mark.parametrize("n", [60, 600])
@pytest.mark.parametrize("code", ["teleexpertise-reponses", "telesurveillance"])
class TestClinicalIndicators:
    def test_no_small_count_is_narrowed_below_its_protection_interval(self, code, n):
        indicator = get_indicator(code)
        con = ibis.duckdb.connect()
        tables = {name: ibis.memtable(frame) for name, frame in clinical_tables(n, seed=n).items()}
        raw = finalise(indicator, con.to_pyarrow(indicator.build(tables, indicator.resolve_params({"annee": 2025}))
                                                 ).to_pandas())
        gated = publish(indicator, raw)
        assert small_cells(indicator, raw, gated.frame, THRESHOLD)
        assert unprotected(indicator, raw, gated.frame, {}, THRESHOLD) == {}

    def test_the_same_attacker_pins_cells_of_the_gate_before_the_fix(self, code, n):
        indicator = get_indicator(code)
        con = ibis.duckdb.connect()
        tables = {name: ibis.memtable(frame) for name, frame in clinical_tables(n, seed=n).items()}
        raw = finalise(indicator, con.to_pyarrow(indicator.build(tables, indicator.resolve_params({"annee": 2025}))
                                                 ).to_pandas())
        assert unprotected(indicator, raw, weakened(code, raw), {}, THRESHOLD)


def test_every_indicator_of_the_catalogue_is_attacked_here():
    """A new indicator must be added to the attacks above (or to the APL's)."""
    attacked = {"consultations-mg", "telemedecine", "apl-mg", "teleexpertise-reponses", "telesurveillance"}
    # The telemedicine activity is attacked in test_activity (determinable_cells on each gated table).
    attacked_in_test_activity = {"activite-partenaires", "activite-sites"}
    # The billed activity is attacked in test_billing_activity, the same way.
    attacked_in_test_billing_activity = {"facturation-partenaires", "facturation-sites"}
    # The hospital-stay indicators are attacked in test_pmsi (the same attacker, on a generated cohort).
    attacked_in_test_pmsi = {"rehospitalisations-ic", "hospitalisations-telesurveillance"}
    # The coverage per modality is attacked in test_coverage.
    attacked_in_test_pmsi |= {"couverture-modalites"}
    assert {i.code for i in all_indicators()} == (attacked | attacked_in_test_activity
                                                  | attacked_in_test_billing_activity | attacked_in_test_pmsi)


class TestTheAttacker:
    """The attacker on a hand-made margin: département 01 = three communes."""

    PARENTS: ClassVar[dict[str, str]] = {"01001": "01", "01002": "01", "01003": "01"}

    def table(self, values: list[float | None], total: float, labels: list[str] | None = None) -> pd.DataFrame:
        rows = [{"niveau_geo": "commune", "code_geo": c, "niveau_periode": "annee", "periode": "2025",
                 "patients": v, "patients_consultants": v, "teleconsultations": v, "teleexpertises": 0,
                 "consultations": v, "part_teleconsultation": None, "secret": "" if v is not None else "secret"}
                for c, v in zip(self.PARENTS, values, strict=True)]
        rows.append({"niveau_geo": "departement", "code_geo": "01", "niveau_periode": "annee", "periode": "2025",
                     "patients": total, "patients_consultants": total, "teleconsultations": total,
                     "teleexpertises": 0, "consultations": total, "part_teleconsultation": 1.0, "secret": ""})
        frame = pd.DataFrame(rows)
        if labels:
            frame.loc[:2, "secret"] = labels
        return frame

    def test_a_masked_cell_alone_in_its_margin_comes_back_exactly(self):
        ranges = attack(get_indicator("telemedecine"), self.table([None, 30, 20], 54), self.PARENTS)
        assert ranges[(0, "patients")].exact and ranges[(0, "patients")].low == 4

    def test_a_masked_pair_leaves_the_small_one_its_whole_interval(self):
        ranges = attack(get_indicator("telemedecine"), self.table([None, None, 20], 54), self.PARENTS)
        assert ranges[(0, "patients")].covers(0, 10)

    def test_labels_and_a_small_partner_narrow_it(self):
        """primaire (1..10) next to secondaire (>= 11) in a margin of 15: the small one is 1..4, not 1..10."""
        ranges = attack(get_indicator("telemedecine"), self.table([None, None, 39], 54, ["primaire", "secondaire",
                                                                                        ""]), self.PARENTS)
        assert (ranges[(0, "patients")].low, ranges[(0, "patients")].high) == pytest.approx((1, 4))
