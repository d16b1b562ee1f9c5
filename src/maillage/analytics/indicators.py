"""The indicator catalogue. Each indicator is written once, as an Ibis expression over the warehouse tables.

Results are long tables with hierarchical dimensions, their margins computed by the expression itself (distinct
patients are not additive, so margins are never summed afterwards):

- geography: ``niveau_geo`` ∈ {commune, departement, territoire} and ``code_geo`` (INSEE code, département code,
  or ``ENSEMBLE``);
- time: ``niveau_periode`` ∈ {mois, annee} and ``periode`` (``2025-03`` or ``2025``), for monthly indicators;
- age: ``tranche_age`` (``0-14`` … or ``Ensemble``), for age-banded indicators.

The confidentiality gate (``gate.py``) uses these declarations to mask small cells and their complements.
Floating-point measures are rounded once, in Python, after the engine returns (``finalise``), so that DuckDB
and Spark produce identical published values.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from maillage.analytics import rules, snds
from maillage.exceptions import NotFound, ValidationFailed

TOTAL = "ENSEMBLE"
ALL_AGES = "Ensemble"
GEO_LEVELS = ("commune", "departement", "territoire")
PERIOD_LEVELS = ("mois", "annee")
DECIMALS = 6


@dataclass(frozen=True)
class Measure:
    name: str
    label: str
    unit: str
    kind: str  # "patients" (distinct patients), "count" (additive count), "ratio", "population"
    decimals: int | None = None  # None: integer


@dataclass(frozen=True)
class Parameter:
    name: str
    label: str
    default: Any
    verified: bool = True  # False: "à vérifier" (research/health-data.md marks the value UNVERIFIED)
    source: str = ""


@dataclass(frozen=True)
class Indicator:
    code: str
    label: str
    description: str
    unit: str
    version: str
    measures: tuple[Measure, ...]
    dimensions: tuple[str, ...]  # among "geo", "periode", "age"
    parameters: tuple[Parameter, ...]
    build: Callable[[Mapping[str, ir.Table], dict[str, Any]], ir.Table]
    tables: tuple[str, ...]
    patients: tuple[str, ...] = ()  # the distinct-patient counts the small-cell rule applies to
    chart: str = "bars"  # "bars" or "line"
    main_measure: str = ""
    requires: tuple[str, ...] = field(default_factory=tuple)
    # Categorical dimensions without a hierarchy of their own (specialty line, establishment, programme): one
    # column each, whose margin is the value ``ENSEMBLE``.
    groups: tuple[str, ...] = ()
    # (measure, count of professionals behind it): the gate masks the measure where fewer than its professional
    # threshold (3) contribute, as a lone practitioner's activity would show; the count itself never leaves.
    professionals: tuple[tuple[str, str], ...] = ()
    # Linear facts that hold in every row, which an attacker may use as well as the gate: (lhs, rhs, factor)
    # says sum(lhs) <= factor * sum(rhs) (e.g. the patients of a cell are among its population; each patient
    # counted made at least one act). The gate's linear-programming audit uses them (gate.py, rule 2).
    relations: tuple[tuple[tuple[str, ...], tuple[str, ...], float], ...] = ()

    def resolve_params(self, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
        known = {p.name: p for p in self.parameters}
        params = {p.name: p.default for p in self.parameters}
        for key, value in (given or {}).items():
            if key not in known:
                raise ValidationFailed(f"Paramètre inconnu pour l'indicateur {self.code} : {key}.")
            if value is not None:
                params[key] = _coerce(known[key].default, value, key)
        return params

    @property
    def measure_names(self) -> list[str]:
        return [m.name for m in self.measures]

    @property
    def dimension_columns(self) -> list[str]:
        cols: list[str] = []
        if "geo" in self.dimensions:
            cols += ["niveau_geo", "code_geo"]
        if "periode" in self.dimensions:
            cols += ["niveau_periode", "periode"]
        cols += list(self.groups)
        if "age" in self.dimensions:
            cols += ["tranche_age"]
        return cols


def _coerce(default: Any, value: Any, key: str) -> Any:
    try:
        if isinstance(default, bool):
            return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "oui", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(type(default[0])(v) for v in items) if default else tuple(items)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(f"Valeur invalide pour le paramètre {key} : {value!r}.") from exc


# --- shared building blocks ----------------------------------------------------------------------------------
def age_band_labels(bounds: tuple[int, ...]) -> list[str]:
    labels = []
    for i, low in enumerate(bounds):
        labels.append(f"{low}-{bounds[i + 1] - 1}" if i + 1 < len(bounds) else f"{low} ans et plus")
    return labels


def _check_bounds(bounds: tuple[int, ...]) -> None:
    if not bounds or bounds[0] != 0 or any(b >= c for b, c in itertools.pairwise(bounds)):
        raise ValidationFailed("Les bornes des tranches d'âge doivent commencer à 0 et être croissantes.")


def age_band(age: ir.IntegerValue, bounds: tuple[int, ...]) -> ir.StringValue:
    labels = age_band_labels(bounds)
    branches = [(age < bounds[i + 1], ibis.literal(labels[i])) for i in range(len(bounds) - 1)]
    return ibis.cases(*branches, else_=ibis.literal(labels[-1])) if branches else ibis.literal(labels[0])


def _communes(tables: Mapping[str, ir.Table]) -> ir.Table:
    com = tables["COMMUNES"]
    return com.select(commune=com.code_insee, departement=com.departement)


def beneficiaries_alive(tables: Mapping[str, ir.Table], year: int) -> ir.Table:
    """IR_BEN_R rows alive on 1 January of ``year``, with their INSEE commune and age in years that year."""
    ben = tables["IR_BEN_R"]
    start = ibis.date(dt.date(year, 1, 1))
    alive = ben.filter(
        (ibis.date(dt.date.fromisoformat(snds.MISSING_DATE_ISO)) == ben.BEN_DCD_DTE)
        | ben.BEN_DCD_DTE.isnull()
        | (start <= ben.BEN_DCD_DTE)
    )
    return alive.select(
        "BEN_NIR_PSA", "BEN_RNG_GEM",
        commune=rules.residence_insee(alive),
        age=(ibis.literal(year) - alive.BEN_NAI_ANN.cast("int32")),
    )


def expand_levels(frame: ir.Table, *, age: bool = False, period: str | None = None) -> ir.Table:
    """Repeat each row once per published level (the Expand step of GROUPING SETS), so that every level of the
    result — commune, département, territory; band or all ages; month or year — comes out of ONE aggregation.

    Adds ``niveau_geo`` and ``code_geo``; with ``age``, rewrites ``tranche_age`` (or ``Ensemble``); with
    ``period`` (the year), adds ``niveau_periode`` and rewrites ``periode`` (``YYYY-MM`` or the year).
    """
    levels: dict[str, list[Any]] = {"niveau_geo": [], "all_ages": [], "niveau_periode": []}
    for geo in GEO_LEVELS:
        for all_ages in ((False, True) if age else (False,)):
            for per in (PERIOD_LEVELS if period else ("",)):
                levels["niveau_geo"].append(geo)
                levels["all_ages"].append(all_ages)
                levels["niveau_periode"].append(per)
    expanded = frame.cross_join(ibis.memtable(levels))
    values: dict[str, ir.Value] = {
        "code_geo": ibis.cases(
            (expanded.niveau_geo == "commune", expanded.commune),
            (expanded.niveau_geo == "departement", expanded.departement),
            else_=ibis.literal(TOTAL),
        )
    }
    if age:
        values["tranche_age"] = ibis.ifelse(expanded.all_ages, ibis.literal(ALL_AGES), expanded.tranche_age)
    if period:
        values["periode"] = ibis.ifelse(expanded.niveau_periode == "mois", expanded.periode, ibis.literal(period))
    return expanded.mutate(**values).view()


# --- indicator 1: GP consultations per inhabitant ------------------------------------------------------------
def build_gp_consultations(tables: Mapping[str, ir.Table], params: dict[str, Any]) -> ir.Table:
    year = int(params["annee"])
    bounds = tuple(params["tranches_age"])
    _check_bounds(bounds)
    communes = _communes(tables)
    ben = beneficiaries_alive(tables, year)
    ben = ben.mutate(tranche_age=age_band(ben.age, bounds)).inner_join(communes, "commune")

    lines = rules.clean_dcir(tables["ER_PRS_F"], tables["ER_ETE_F"], dt.date(year, 1, 1), dt.date(year + 1, 1, 1))
    lines = lines.filter(
        lines.PRS_NAT_REF.isin(sorted(snds.CONSULTATION_CODES | snds.VISIT_CODES)),
        lines.PSE_SPE_COD.isin(sorted(snds.GP_SPECIALTIES)),
    )
    lines = lines.inner_join(ben, list(snds.BENEFICIARY_KEY))
    per_patient = rules.net_quantity_by(lines, ["BEN_NIR_PSA", "BEN_RNG_GEM", "commune", "departement",
                                                "tranche_age"])
    per_patient = per_patient.mutate(
        patient=per_patient.BEN_NIR_PSA + "#" + per_patient.BEN_RNG_GEM.cast("string")
    )

    keys = ["niveau_geo", "code_geo", "tranche_age"]
    # A patient has one commune and one age band in IR_BEN_R: patient counts add up over communes and bands, so
    # the margins are sums of the commune × band cells (no distinct count over millions of rows).
    cells = per_patient.group_by(["commune", "departement", "tranche_age"]).aggregate(
        patients=per_patient.count(), consultations=per_patient.net_acts.sum()
    )
    cons_x = expand_levels(cells, age=True)
    cons = cons_x.group_by(keys).aggregate(patients=cons_x.patients.sum(), consultations=cons_x.consultations.sum())
    pop_x = expand_levels(ben, age=True)
    pop = pop_x.group_by(keys).aggregate(population=pop_x.count())
    joined = pop.left_join(cons, keys).select(
        *keys,
        population=pop.population,
        patients=cons.patients.fill_null(0),
        consultations=cons.consultations.fill_null(0),
    )
    joined = joined.mutate(taux=joined.consultations.cast("float64") / joined.population.cast("float64"))

    # Direct age standardisation on the territory's population (same year): sum over bands of rate × weight.
    bands = joined.filter(joined.tranche_age != ALL_AGES)
    territory = bands.filter(bands.niveau_geo == "territoire").select(
        tranche_age=bands.tranche_age, ref_pop=bands.population
    )
    total_ref = territory.aggregate(ref_total=territory.ref_pop.sum())
    weights = territory.cross_join(total_ref)
    weights = weights.select(
        "tranche_age", poids=weights.ref_pop.cast("float64") / weights.ref_total.cast("float64")
    )
    std = bands.inner_join(weights, "tranche_age")
    std = std.group_by(["niveau_geo", "code_geo"]).aggregate(
        taux_standardise=(std.taux.fill_null(0) * std.poids).sum()
    )
    result = joined.left_join(std, ["niveau_geo", "code_geo"])
    return result.select(
        "niveau_geo", "code_geo", "tranche_age", "population", "patients", "consultations", "taux",
        taux_standardise=ibis.ifelse(result.tranche_age == ALL_AGES, result.taux_standardise,
                                     ibis.null("float64")),
    ).mutate(annee=ibis.literal(year))


# --- indicator 3: telemedicine activity ------------------------------------------------------------------------
def _month_key(date: ir.DateValue) -> ir.IntegerValue:
    """YYYYMM as an integer: cheap to group on; turned into "YYYY-MM" only on the small result."""
    return date.year().cast("int32") * 100 + date.month().cast("int32")


def _month_label(key: ir.IntegerValue) -> ir.StringValue:
    return (key // 100).cast("string") + "-" + (key % 100).cast("string").lpad(2, "0")


KIND_CONSULTATION, KIND_TC, KIND_TE = 0, 1, 2


def build_telemedicine(tables: Mapping[str, ir.Table], params: dict[str, Any]) -> ir.Table:
    year = int(params["annee"])
    source = str(params["source"])
    communes = _communes(tables)
    if source == "snds":
        lines = rules.clean_dcir(tables["ER_PRS_F"], tables["ER_ETE_F"], dt.date(year, 1, 1),
                                 dt.date(year + 1, 1, 1))
        consult = sorted(snds.CONSULTATION_CODES | snds.VISIT_CODES | snds.TELECONSULTATION_CODES)
        lines = lines.filter(lines.PRS_NAT_REF.isin(consult) | lines.PRS_NAT_REF.isin(sorted(snds.TELEEXPERTISE_CODES)))
        lines = lines.select(
            pid=lines.BEN_NIR_PSA,
            rng=lines.BEN_RNG_GEM.cast("int32"),
            residence=lines.BEN_RES_DPT + lines.BEN_RES_COM,
            mois=_month_key(lines.EXE_SOI_DTD),
            kind=ibis.cases(
                (lines.PRS_NAT_REF.isin(sorted(snds.TELECONSULTATION_CODES)), ibis.literal(KIND_TC)),
                (lines.PRS_NAT_REF.isin(sorted(snds.TELEEXPERTISE_CODES)), ibis.literal(KIND_TE)),
                else_=ibis.literal(KIND_CONSULTATION),
            ),
            PRS_ACT_QTE=lines.PRS_ACT_QTE,
        )
        # Regularisations share the patient, residence, month and kind of the line they correct: summing there
        # nets them out.
        acts = rules.net_quantity_by(lines, ["pid", "rng", "residence", "mois", "kind"])
        to_insee = ibis.ifelse(acts.residence.startswith("97"), ibis.literal("97") + acts.residence.substr(3, 3),
                               acts.residence.substr(1, 5))
    elif source == "operationnel":
        if "OP_ACTES_TELEMEDECINE" not in tables:
            raise NotFound("Aucune donnée opérationnelle de télémédecine dans l'entrepôt : lancez l'extraction.")
        op = tables["OP_ACTES_TELEMEDECINE"]
        op = op.filter(op.date_acte >= ibis.date(dt.date(year, 1, 1)),
                       op.date_acte < ibis.date(dt.date(year + 1, 1, 1)))
        acts = op.select(
            pid=op.patient_pseudonyme, rng=ibis.literal(1, "int32"), residence=op.commune_residence,
            mois=_month_key(op.date_acte),
            kind=ibis.cases((op.nature == "tc", ibis.literal(KIND_TC)), (op.nature == "te", ibis.literal(KIND_TE)),
                            else_=ibis.literal(KIND_CONSULTATION)),
            net_acts=ibis.literal(1, "int64"),
        )
        to_insee = acts.residence
    else:
        raise ValidationFailed("Source inconnue : snds ou operationnel.")
    acts = acts.mutate(residence=to_insee)
    # Each patient is counted in one commune for the year (the smallest code among their acts' communes, should
    # they have moved), so that patient counts add up over communes and départements.
    home = acts.group_by(["pid", "rng"]).aggregate(commune=acts.residence.min())
    acts = acts.inner_join(home, ["pid", "rng"])
    month = acts.group_by(["pid", "rng", "commune", "mois"]).aggregate(
        tc=acts.net_acts.sum(where=acts.kind == KIND_TC),
        te=acts.net_acts.sum(where=acts.kind == KIND_TE),
        all_consult=acts.net_acts.sum(where=acts.kind != KIND_TE),
    )
    month = month.mutate(tc=month.tc.fill_null(0), te=month.te.fill_null(0),
                         all_consult=month.all_consult.fill_null(0))
    year_rows = month.group_by(["pid", "rng", "commune"]).aggregate(
        tc=month.tc.sum(), te=month.te.sum(), all_consult=month.all_consult.sum()
    )

    def commune_cells(t: ir.Table, by: list[str]) -> ir.Table:
        return t.group_by(["commune", *by]).aggregate(
            patients=t.count(where=(t.tc + t.te) > 0),
            patients_consultants=t.count(where=t.all_consult > 0),
            teleconsultations=t.tc.sum(),
            teleexpertises=t.te.sum(),
            consultations=t.all_consult.sum(),
        )

    monthly = commune_cells(month, ["mois"])
    monthly = monthly.mutate(niveau_periode=ibis.literal("mois"), periode=_month_label(monthly.mois))
    yearly = commune_cells(year_rows, []).mutate(niveau_periode=ibis.literal("annee"),
                                                 periode=ibis.literal(str(year)))
    measures = ["patients", "patients_consultants", "teleconsultations", "teleexpertises", "consultations"]
    cols = ["commune", "niveau_periode", "periode", *measures]
    cells = monthly.select(*cols).union(yearly.select(*cols)).inner_join(communes, "commune")
    expanded = expand_levels(cells)
    result = expanded.group_by(["niveau_geo", "code_geo", "niveau_periode", "periode"]).aggregate(
        **{m: expanded[m].sum() for m in measures}
    )
    return result.mutate(
        part_teleconsultation=ibis.ifelse(
            result.consultations > 0,
            result.teleconsultations.cast("float64") / result.consultations.cast("float64"),
            ibis.null("float64"),
        ),
        annee=ibis.literal(year),
        source=ibis.literal(source),
    )


# --- the catalogue ------------------------------------------------------------------------------------------------
CURRENT_YEAR_DEFAULT = 2025
AGE_BOUNDS_DEFAULT = (0, 15, 30, 45, 60, 75)

GP_CONSULTATIONS = Indicator(
    code="consultations-mg",
    label="Consultations de médecine générale par habitant",
    description=(
        "Consultations et visites de médecins généralistes (spécialités 01, 22, 23) remboursées aux habitants de "
        "chaque commune, par tranche d'âge, rapportées au nombre de bénéficiaires vivants au 1er janvier ; taux "
        "standardisé sur l'âge de la population du territoire (standardisation directe). Règles SNDS appliquées : "
        "18 mois de flux, lignes pour information et compléments exclus, établissements publics en T2A exclus, "
        "régularisations sommées."
    ),
    unit="consultations par habitant et par an",
    version="1.0",
    measures=(
        Measure("population", "Bénéficiaires", "personnes", "population"),
        Measure("patients", "Patients ayant consulté", "patients", "patients"),
        Measure("consultations", "Consultations et visites", "actes", "count"),
        Measure("taux", "Consultations par habitant", "consultations/habitant", "ratio", 4),
        Measure("taux_standardise", "Taux standardisé sur l'âge", "consultations/habitant", "ratio", 4),
    ),
    dimensions=("geo", "age"),
    parameters=(
        Parameter("annee", "Année de soins", CURRENT_YEAR_DEFAULT),
        Parameter("tranches_age", "Bornes des tranches d'âge", AGE_BOUNDS_DEFAULT),
    ),
    build=build_gp_consultations,
    tables=("ER_PRS_F", "ER_ETE_F", "IR_BEN_R", "COMMUNES"),
    patients=("patients",),
    # Patients are beneficiaries of the cell; each kept patient has a positive net number of acts.
    relations=((("patients",), ("population",), 1.0), (("patients",), ("consultations",), 1.0)),
    chart="bars",
    main_measure="taux_standardise",
)

TELEMEDICINE = Indicator(
    code="telemedecine",
    label="Activité de télémédecine",
    description=(
        "Téléconsultations (TC, TCG …) et téléexpertises (TE1, TE2 …) des habitants de chaque commune par mois, "
        "et part des téléconsultations dans l'ensemble des consultations. Source « snds » : codes de prestation "
        "du DCIR ; source « operationnel » : actes enregistrés dans Maillage et copiés par l'extraction."
    ),
    unit="actes par mois",
    version="1.0",
    measures=(
        Measure("patients", "Patients en télémédecine", "patients", "patients"),
        Measure("patients_consultants", "Patients ayant consulté", "patients", "patients"),
        Measure("teleconsultations", "Téléconsultations", "actes", "count"),
        Measure("teleexpertises", "Téléexpertises", "actes", "count"),
        Measure("consultations", "Consultations (toutes)", "actes", "count"),
        Measure("part_teleconsultation", "Part des téléconsultations", "proportion", "ratio", 4),
    ),
    dimensions=("geo", "periode"),
    parameters=(
        Parameter("annee", "Année de soins", CURRENT_YEAR_DEFAULT),
        Parameter("source", "Source (snds ou operationnel)", "snds"),
    ),
    build=build_telemedicine,
    tables=("ER_PRS_F", "ER_ETE_F", "COMMUNES"),
    patients=("patients", "patients_consultants"),
    # A patient in telemedicine made at least one TC or TE; a consulting patient at least one consultation;
    # teleconsultations are among all consultations.
    relations=(
        (("patients",), ("teleconsultations", "teleexpertises"), 1.0),
        (("patients_consultants",), ("consultations",), 1.0),
        (("teleconsultations",), ("consultations",), 1.0),
    ),
    chart="line",
    main_measure="teleconsultations",
)

def finalise(indicator: Indicator, frame: pd.DataFrame) -> pd.DataFrame:
    """Engine-independent last step: column order, integer and rounded float types, a deterministic row order."""
    dims = indicator.dimension_columns
    extra = [c for c in frame.columns if c not in dims and c not in indicator.measure_names]
    out = frame[[*dims, *indicator.measure_names, *extra]].copy()
    for m in indicator.measures:
        if m.decimals is None:
            out[m.name] = pd.to_numeric(out[m.name]).fillna(0).astype("int64")
        else:
            out[m.name] = pd.to_numeric(out[m.name]).astype("float64").round(DECIMALS)
    for c in dims:
        out[c] = out[c].astype(str)
    return out.sort_values(dims, kind="stable").reset_index(drop=True)
