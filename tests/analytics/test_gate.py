"""The confidentiality gate: primary and secondary suppression, and attacks that try to undo it, and fail."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from maillage.analytics import gate, service
from maillage.analytics.catalogue import get_indicator
from maillage.analytics.gate import GateConfig, determinable_cells, margin_equations, publish, suppress
from maillage.analytics.indicators import ALL_AGES, TOTAL
from maillage.exceptions import ValidationFailed

TELE = get_indicator("telemedecine")
CONSULT = get_indicator("consultations-mg")


def tele_table(cells: dict[tuple[str, str], int], communes: dict[str, str]) -> pd.DataFrame:
    """A telemedicine result built from patient counts per (commune, month), with every margin, additive.

    Each patient makes exactly 2 teleconsultations, so ``teleconsultations`` = 2 × ``patients`` in every cell.
    """
    rows = []
    months = sorted({m for _, m in cells})
    deps = sorted(set(communes.values()))
    geo = [("commune", c) for c in sorted(communes)] + [("departement", d) for d in deps] + [("territoire", TOTAL)]
    for (level, code), (plevel, period) in itertools.product(geo, [("mois", m) for m in months] + [("annee", "2025")]):
        def members(level: str = level, code: str = code) -> list[str]:
            if level == "commune":
                return [code]
            if level == "departement":
                return [c for c, d in communes.items() if d == code]
            return list(communes)

        ms = [period] if plevel == "mois" else months
        n = sum(cells.get((c, m), 0) for c in members() for m in ms)
        rows.append({"niveau_geo": level, "code_geo": code, "niveau_periode": plevel, "periode": period,
                     "patients": n, "patients_consultants": n + 40, "teleconsultations": 2 * n,
                     "teleexpertises": 0, "consultations": 2 * n + 100,
                     "part_teleconsultation": 2 * n / (2 * n + 100), "annee": 2025, "source": "snds"})
    return pd.DataFrame(rows)


COMMUNES = {"01001": "01", "01002": "01", "01003": "01", "02001": "02", "02002": "02"}
CELLS = {
    ("01001", "2025-01"): 4, ("01001", "2025-02"): 30, ("01001", "2025-03"): 25,
    ("01002", "2025-01"): 40, ("01002", "2025-02"): 3, ("01002", "2025-03"): 22,
    ("01003", "2025-01"): 19, ("01003", "2025-02"): 33, ("01003", "2025-03"): 28,
    ("02001", "2025-01"): 12, ("02001", "2025-02"): 15, ("02001", "2025-03"): 7,
    ("02002", "2025-01"): 50, ("02002", "2025-02"): 61, ("02002", "2025-03"): 45,
}


@pytest.fixture
def raw() -> pd.DataFrame:
    return tele_table(CELLS, COMMUNES)


@pytest.fixture
def gated(raw) -> gate.GatedTable:
    return publish(TELE, raw, geo_parent=COMMUNES)


def attack_by_single_unknowns(published: pd.DataFrame, measure: str) -> dict[int, float]:
    """The classic attack: any margin equation with one unknown term gives it away. Repeat until nothing moves."""
    known = {i: v for i, v in published[measure].items() if pd.notna(v)}
    equations = margin_equations(TELE, published, COMMUNES)
    recovered: dict[int, float] = {}
    changed = True
    while changed:
        changed = False
        for parent, kids in equations:
            terms = [parent, *kids]
            unknown = [t for t in terms if t not in known]
            if len(unknown) == 1:
                u = unknown[0]
                kid_sum = sum(known[k] for k in kids if k in known)
                known[u] = kid_sum if u == parent else known[parent] - (kid_sum - known.get(u, 0))
                recovered[u] = known[u]
                changed = True
    return recovered


def attack_by_least_squares(published: pd.DataFrame, measure: str) -> set[int]:
    """The strong attack: solve all published equations at once; a cell is exposed if its value is unique."""
    masked = published[measure].isna().to_numpy()
    return determinable_cells(masked, margin_equations(TELE, published, COMMUNES))


class TestPrimarySuppression:
    def test_cells_under_eleven_distinct_patients_are_masked_with_all_their_measures(self, gated):
        frame = gated.frame
        small = frame[(frame.niveau_geo == "commune") & (frame.periode == "2025-01") & (frame.code_geo == "01001")]
        assert gated.primary[small.index[0]] and small.iloc[0][gate.SECRET_COLUMN] == gate.MASKED
        assert small[["patients", "teleconsultations", "consultations", "part_teleconsultation"]].isna().all(
            axis=None)

    def test_a_cell_of_exactly_the_threshold_is_published_and_a_zero_is_not(self):
        """Zeros are small cells (finding 3): a published zero pins a term of every margin it is in."""
        primary, _ = suppress(np.array([10, 11, 0]), [], GateConfig())
        assert primary.tolist() == [True, False, True]

    def test_zeros_can_be_published_by_configuration(self):
        primary, _ = suppress(np.array([10, 11, 0]), [], GateConfig(mask_zero=False))
        assert primary.tolist() == [True, False, False]

    def test_the_label_does_not_say_why_a_cell_is_masked(self, gated):
        """« primaire » would mean 0 to 10, « secondaire » at least 11: bounds for the attacker's linear program."""
        labels = set(gated.frame[gate.SECRET_COLUMN])
        assert labels == {"", gate.MASKED}
        assert gated.primary.any() and gated.secondary.any()

    def test_the_threshold_is_configurable(self):
        primary, _ = suppress(np.array([4, 5, 6]), [], GateConfig(threshold=5))
        assert primary.tolist() == [True, False, False]

    def test_masking_looks_at_raw_counts_before_any_rounding(self, raw):
        """EHDEN's bug: the small-cell filter ran after rounding. Here 8 patients rounded to 10 stay masked."""
        frame = raw.copy()
        frame.loc[0, ["patients", "teleconsultations"]] = [8, 16]
        gated = publish(TELE, frame, config=GateConfig(threshold=10, count_rounding=5), geo_parent=COMMUNES)
        assert gated.primary[0]
        assert pd.isna(gated.frame.loc[0, "patients"])

    def test_a_cell_is_masked_when_any_of_its_patient_populations_is_small(self, raw):
        frame = raw.copy()
        big = frame.index[frame.patients >= 30][0]
        frame.loc[big, "patients_consultants"] = 5
        assert publish(TELE, frame, geo_parent=COMMUNES).primary[big]

    def test_a_threshold_below_two_is_refused(self):
        with pytest.raises(ValidationFailed):
            GateConfig(threshold=1)


class TestSecondarySuppression:
    def test_every_margin_with_a_masked_cell_has_at_least_two(self, gated):
        masked = gated.frame[gate.SECRET_COLUMN] != ""
        for parent, kids in margin_equations(TELE, gated.frame, COMMUNES):
            count = int(masked[[parent, *kids]].sum())
            assert count != 1

    def test_secondary_cells_are_reported(self, gated):
        assert gated.report["masquees_secondaires"] > 0
        assert gated.report["residuelles_calculables"] == 0

    def test_the_population_is_masked_with_its_cell(self):
        """Finding 3: published, the population bounds the masked count (patients <= population) and, with the
        margins, pins it."""
        frame = pd.DataFrame([
            {"niveau_geo": "commune", "code_geo": "01001", "tranche_age": band, "population": pop, "patients": n,
             "consultations": 3 * n, "taux": 3 * n / pop, "taux_standardise": None, "annee": 2025}
            for band, pop, n in [("0-14", 50, 4), ("15-29", 60, 30), ("30-44", 70, 35), (ALL_AGES, 180, 69)]
        ])
        frame.loc[3, "taux_standardise"] = 1.2
        gated = publish(CONSULT, frame, geo_parent={"01001": "01"})
        out = gated.frame
        assert gated.primary[0] and gated.secondary[1:3].any()
        masked = (out[gate.SECRET_COLUMN] == gate.MASKED).to_numpy()
        assert out.loc[masked, "population"].isna().all() and out.loc[~masked, "population"].notna().all()
        assert pd.isna(out.loc[3, "taux_standardise"])  # it would give one more equation on the masked bands


class TestRecoveryAttempts:
    """A test tries to recover masked cells from margins and from two overlapping queries, and fails to."""

    @pytest.mark.parametrize("measure", ["patients", "teleconsultations"])
    def test_margins_do_not_give_back_any_masked_cell(self, gated, measure):
        assert attack_by_single_unknowns(gated.frame, measure) == {}
        assert attack_by_least_squares(gated.frame, measure) == set()

    def test_the_attack_would_succeed_without_secondary_suppression(self, raw):
        """Controls that the attack is real: primary masking alone leaks the masked cells."""
        primary_only = raw.copy()
        small = (primary_only.patients > 0) & (primary_only.patients < 11)
        primary_only.loc[small, ["patients", "teleconsultations"]] = np.nan
        recovered = attack_by_single_unknowns(primary_only, "teleconsultations")
        assert recovered and all(recovered[i] == raw.loc[i, "teleconsultations"] for i in recovered)

    def test_two_overlapping_queries_give_nothing_more_than_one(self, gated):
        """Département 01 and the first two months, then all communes of 01 minus 01003: selections of one table."""
        first = gated.select(departement="01")
        second = gated.select(communes=["01001", "01002"], periodes=["2025-01", "2025-02", "2025"])
        union = pd.concat([first, second]).drop_duplicates(subset=TELE.dimension_columns).reset_index(drop=True)
        # Differencing: the département total minus the communes seen in the second query.
        def dep01_year(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[(frame.niveau_geo == "departement") & (frame.code_geo == "01") & (frame.periode == "2025")]

        # Both queries show the same published margin: no new total is computed over the selected communes.
        assert dep01_year(first)["teleconsultations"].tolist() == dep01_year(second)["teleconsultations"].tolist()
        assert attack_by_single_unknowns(union, "teleconsultations") == {}
        assert attack_by_least_squares(union, "teleconsultations") == set()

    def test_the_same_cells_are_masked_whatever_the_selection(self, gated):
        whole = gated.frame.set_index(TELE.dimension_columns)[gate.SECRET_COLUMN]
        part = gated.select(departement="02").set_index(TELE.dimension_columns)[gate.SECRET_COLUMN]
        assert (whole.loc[part.index] == part).all()

    def test_a_real_indicator_leaves_no_masked_cell_computable(self, warehouse_with_extract, duckdb_engine):
        gated, provenance = service.published("telemedecine", {}, warehouse_with_extract, duckdb_engine)
        assert provenance.suppression["masquees_primaires"] > 0
        assert provenance.suppression["residuelles_calculables"] == 0
        equations = margin_equations(TELE, gated.frame, service.geo_parents(warehouse_with_extract))
        assert determinable_cells(gated.frame["teleconsultations"].isna().to_numpy(), equations) == set()


class TestIdentifiers:
    @pytest.mark.parametrize("column", ["BEN_NIR_PSA", "PFS_EXE_NUM", "patient_pseudonyme", "EXE_SOI_DTD",
                                        "BEN_NAI_ANN"])
    def test_a_result_carrying_an_identifier_is_refused(self, raw, column):
        with pytest.raises(ValidationFailed, match="identifiants"):
            publish(TELE, raw.assign(**{column: "x"}), geo_parent=COMMUNES)

    def test_only_declared_columns_leave(self, raw):
        out = publish(TELE, raw.assign(debug_internal=1), geo_parent=COMMUNES).frame
        assert "debug_internal" not in out.columns


class TestProfessionalActivity:
    def test_the_gp_fte_of_a_commune_with_one_or_two_gps_is_not_published(self, warehouse, duckdb_engine):
        indicator = get_indicator("apl-mg")
        frame = service.compute(indicator, indicator.resolve_params({}), warehouse, duckdb_engine).frame
        assert "medecins" in frame.columns
        frame = frame.copy()
        frame.loc[:4, "medecins"] = [1, 2, 3, 0, 7]
        frame.loc[:4, "medecins_etp"] = [0.8, 1.6, 2.4, 0.0, 5.3]
        out = publish(indicator, frame).frame
        assert "medecins" not in out.columns
        assert out.loc[:1, "medecins_etp"].isna().all() and (out.loc[:1, "secret"] == gate.PROFESSIONALS).all()
        assert out.loc[2:4, "medecins_etp"].tolist() == [2.4, 0.0, 5.3]
        near_small = (frame.medecins_zone_min > 0) & (frame.medecins_zone_min < 3)
        # The APL sums the supplies within reach: where one of them is masked, so are the score and its flag.
        assert out.loc[near_small, ["apl", "desert"]].isna().all(axis=None)
        assert out.loc[~near_small, "apl"].notna().all()
        lone = (frame.medecins > 0) & (frame.medecins < 3)
        assert out.loc[lone, "medecins_etp"].isna().all()
        assert out.loc[frame.medecins >= 3, "medecins_etp"].notna().all()

    def test_the_professional_threshold_is_configurable(self, warehouse, duckdb_engine):
        indicator = get_indicator("apl-mg")
        frame = service.compute(indicator, indicator.resolve_params({}), warehouse, duckdb_engine).frame.copy()
        frame.loc[:1, "medecins"] = [3, 4]
        out = publish(indicator, frame, config=GateConfig(professional_threshold=4)).frame
        assert out.loc[0, "medecins_etp"] != out.loc[0, "medecins_etp"] and out.loc[1, "medecins_etp"] >= 0
