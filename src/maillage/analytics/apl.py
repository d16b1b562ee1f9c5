"""APL (accessibilité potentielle localisée) to general practitioners, the DREES/IRDES method.

A two-step floating catchment area with distance decay (research/health-data.md §4.1):

1. each commune j offering care gets a ratio R_j = S_j / Σ_i W(t_ij) · P_i, where S_j is the GP activity offered
   in j (full-time equivalents × consultations per FTE) and P_i the age-standardised population of commune i;
2. each commune i gets APL_i = Σ_j W(t_ij) · R_j, in consultations per year per standardised inhabitant.

W is a step function of the travel time, zero beyond the catchment (20 minutes). Both steps are one set-based
query over an origin–destination table (``two_step_fca``), compiled by Ibis for DuckDB or Spark.

Travel times come from a real matrix when the warehouse has a ``TEMPS_TRAJET`` table (origine, destination,
minutes); otherwise from commune coordinates by a documented approximation: great-circle distance × a detour
factor, at a mean road speed, 0 minute inside a commune (``APPROXIMATION`` below).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from maillage.analytics import indicators as ind
from maillage.analytics import rules, snds
from maillage.exceptions import ValidationFailed

EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class AplParameters:
    """A versioned parameter set. ``UNVERIFIED`` lists the values research/health-data.md could not source."""

    version: str = "drees-2015-mg/maillage-1"
    catchment_minutes: float = 20.0  # "exerçant dans une commune à moins de 20 minutes" (DREES ER 1144)
    # Step weights for (upper bound in minutes, weight), bounds inclusive: ≤10 → 1, ≤15 → 0.66, ≤20 → 0.33.
    decay: tuple[tuple[float, float], ...] = ((10.0, 1.0), (15.0, 0.66), (20.0, 0.33))
    consultations_per_fte: float = 5400.0  # ARS BFC: "la production moyenne d'un ETP … est de 5400 consultations"
    min_activity: int = 250  # below this yearly activity a GP is not counted
    fte_cap: float = 1.0  # one GP counts for at most this many FTE
    desert_threshold: float = 2.5  # "inférieure à 2,5 consultations par an et par habitant" (DREES Dossiers 17)
    detour_factor: float = 1.3  # approximation: road distance / great-circle distance
    speed_kmh: float = 60.0  # approximation: mean road speed

    UNVERIFIED = ("decay", "min_activity", "fte_cap")

    def __post_init__(self) -> None:
        bounds = [b for b, _ in self.decay]
        if not self.decay or bounds != sorted(bounds) or any(w < 0 for _, w in self.decay):
            raise ValidationFailed("Les paliers de décroissance doivent être croissants et de poids positifs.")
        if bounds[-1] > self.catchment_minutes:
            raise ValidationFailed("Le dernier palier dépasse la zone de recours.")
        if self.speed_kmh <= 0 or self.detour_factor < 1 or self.consultations_per_fte <= 0:
            raise ValidationFailed("Paramètres de temps de trajet ou d'activité invalides.")

    @property
    def reach_km(self) -> float:
        """Largest great-circle distance that can fall inside the catchment with the approximation."""
        return self.catchment_minutes / 60.0 * self.speed_kmh / self.detour_factor

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decay"] = [list(b) for b in self.decay]
        data["a_verifier"] = list(self.UNVERIFIED)
        return data


DEFAULT_PARAMETERS = AplParameters()
APPROXIMATION = (
    "Temps de trajet approché : distance orthodromique entre les coordonnées des communes × 1,3 (détour routier), "
    "à 60 km/h de moyenne, 0 minute à l'intérieur d'une commune. Remplacé par une matrice réelle (table "
    "TEMPS_TRAJET : origine, destination, minutes) quand l'entrepôt en contient une."
)


def decay_weight(minutes: ir.NumericValue, params: AplParameters) -> ir.FloatingValue:
    branches = [(minutes <= bound, ibis.literal(weight, "float64")) for bound, weight in params.decay]
    return ibis.cases(*branches, else_=ibis.literal(0.0, "float64"))


def approximate_travel_times(communes: ir.Table, params: AplParameters) -> ir.Table:
    """Origin–destination pairs within the catchment, from coordinates, as one set-based query.

    Communes are bucketed on a grid whose cell is at least the reach: a pair within reach sits in the same or a
    neighbouring cell, so the join never forms the full cross product (35,000 communes → ~1.5 M pairs).
    """
    cell_km = params.reach_km
    km_per_deg_lat = math.pi * EARTH_RADIUS_KM / 180.0
    # Longitude cells are sized at the highest latitude present, where a degree is shortest.
    base = communes.mutate(lat_max=communes.latitude.abs().max())
    lon_km = km_per_deg_lat * (base.lat_max.radians().cos())
    grid = base.select(
        code=base.code_insee,
        lat=base.latitude,
        lon=base.longitude,
        gx=(base.longitude * lon_km / cell_km).floor().cast("int64"),
        gy=(base.latitude * km_per_deg_lat / cell_km).floor().cast("int64"),
    )
    offsets = ibis.memtable({"dx": [-1, -1, -1, 0, 0, 0, 1, 1, 1], "dy": [-1, 0, 1, -1, 0, 1, -1, 0, 1]})
    origins = grid.cross_join(offsets)
    origins = origins.select(
        origine=origins.code, lat1=origins.lat, lon1=origins.lon,
        nx=origins.gx + origins.dx, ny=origins.gy + origins.dy,
    )
    other = grid.view()
    dest = other.select(destination=other.code, lat2=other.lat, lon2=other.lon, nx=other.gx, ny=other.gy)
    pairs = origins.view().inner_join(dest, ["nx", "ny"])
    phi1 = pairs.lat1.radians()
    phi2 = pairs.lat2.radians()
    dphi = (pairs.lat2 - pairs.lat1).radians()
    dlmb = (pairs.lon2 - pairs.lon1).radians()
    h = (dphi / 2).sin() ** 2 + phi1.cos() * phi2.cos() * (dlmb / 2).sin() ** 2
    km = 2 * EARTH_RADIUS_KM * h.sqrt().asin()
    minutes = ibis.ifelse(pairs.origine == pairs.destination, ibis.literal(0.0, "float64"),
                          km * params.detour_factor / params.speed_kmh * 60.0)
    od = pairs.select("origine", "destination", minutes=minutes)
    return od.filter(od.minutes <= params.catchment_minutes)


def catchment_pairs(od: ir.Table, params: AplParameters) -> ir.Table:
    """The origin–destination pairs inside the catchment with their distance-decay weight, ``w`` > 0.

    Depends only on the travel times and the parameter version: compute it once per version and reuse it for every
    supply and demand (the benchmark does; ``two_step_fca`` accepts either this table or raw travel times).
    """
    od = od.filter(od.minutes <= params.catchment_minutes)
    pairs = od.select("origine", "destination", w=decay_weight(od.minutes, params))
    return pairs.filter(pairs.w > 0)


def two_step_fca(demand: ir.Table, supply: ir.Table, od: ir.Table, params: AplParameters) -> ir.Table:
    """The 2SFCA with step decay, as one query.

    demand(code, demande), supply(code, offre) with one row per code, and either od(origine, destination, minutes)
    or the weighted pairs of ``catchment_pairs`` (origine, destination, w) → (code, apl). Communes with no supply
    within reach get 0.

    Only pairs whose destination offers care contribute to either step, so the pairs are cut to those first (about
    a third of them for France): both steps then read that one smaller set.
    """
    pairs = od if "w" in od.columns else catchment_pairs(od, params)
    offered = pairs.inner_join(supply.select(destination=supply.code, offre=supply.offre), "destination")
    offered = offered.select("origine", "destination", "w", "offre")
    step1 = offered.inner_join(demand.select(origine=demand.code, demande=demand.demande), "origine")
    catchment = step1.group_by("destination").aggregate(
        offre=step1.offre.max(), demande_ponderee=(step1.w * step1.demande).sum()
    )
    ratio = catchment.filter(catchment.demande_ponderee > 0).select(
        "destination", r=catchment.offre.cast("float64") / catchment.demande_ponderee
    )
    step2 = offered.view().inner_join(ratio, "destination")
    access = step2.group_by(code=step2.origine).aggregate(apl=(step2.w * step2.r).sum())
    out = demand.select("code").left_join(access, "code")
    return out.select(code=out.code, apl=out.apl.fill_null(0.0))


# --- inputs from the warehouse ---------------------------------------------------------------------------------
def gp_supply(tables: Mapping[str, ir.Table], year: int, params: AplParameters) -> ir.Table:
    """Activity offered per commune: each GP's yearly consultations and visits, converted to FTE."""
    lines = rules.clean_dcir(tables["ER_PRS_F"], tables["ER_ETE_F"], dt.date(year, 1, 1), dt.date(year + 1, 1, 1))
    lines = lines.filter(
        lines.PRS_NAT_REF.isin(sorted(snds.CONSULTATION_CODES | snds.VISIT_CODES)),
        lines.PSE_SPE_COD.isin(sorted(snds.GP_SPECIALTIES)),
    )
    activity = lines.group_by(lines.PFS_EXE_NUM).aggregate(actes=lines.PRS_ACT_QTE.sum())
    pra = tables["DA_PRA_R"]
    gps = pra.filter(pra.PFS_PRA_SPE.isin(sorted(snds.GP_SPECIALTIES)))
    located = activity.inner_join(gps.rename(PFS_EXE_NUM="PFS_PFS_NUM"), "PFS_EXE_NUM")
    fte = ibis.ifelse(
        located.actes < params.min_activity,
        ibis.literal(0.0, "float64"),
        ibis.least(located.actes.cast("float64") / params.consultations_per_fte, params.fte_cap),
    )
    located = located.mutate(etp=fte)
    # ``medecins``: how many GPs the commune's FTE adds up; kept in the warehouse, never published (the gate masks
    # the FTE of a commune with fewer than three GPs, where it would reveal one practitioner's activity).
    return located.group_by(code=located.PFS_EXC_COM).aggregate(etp=located.etp.sum(), medecins=located.count())


def standardised_demand(tables: Mapping[str, ir.Table], year: int, bounds: tuple[int, ...]) -> ir.Table:
    """Population weighted by the relative GP consumption of its age band, measured on the same claims.

    P_i = Σ_a pop_{i,a} · c_a / c̄, with c_a the territory's consultations per inhabitant in band a and c̄ the
    overall rate, so that Σ_i P_i = Σ_i pop_i.
    """
    per_band = ind.build_gp_consultations(tables, {"annee": year, "tranches_age": bounds})
    terr = per_band.filter(per_band.niveau_geo == "territoire")
    overall = terr.filter(terr.tranche_age == ind.ALL_AGES).select(taux_global=terr.taux)
    bands = terr.filter(terr.tranche_age != ind.ALL_AGES).select("tranche_age", taux_tranche=terr.taux)
    factors = bands.cross_join(overall)
    factors = factors.select(
        "tranche_age",
        facteur=ibis.ifelse(factors.taux_global > 0, factors.taux_tranche / factors.taux_global,
                            ibis.literal(1.0, "float64")),
    )
    communes = per_band.filter((per_band.niveau_geo == "commune") & (per_band.tranche_age != ind.ALL_AGES))
    weighted = communes.inner_join(factors, "tranche_age")
    return weighted.group_by(code=weighted.code_geo).aggregate(
        population=weighted.population.sum(),
        demande=(weighted.population.cast("float64") * weighted.facteur).sum(),
    )


def parse_decay(text: str) -> tuple[tuple[float, float], ...]:
    """``"10:1;15:0.66;20:0.33"`` → ((10.0, 1.0), (15.0, 0.66), (20.0, 0.33))."""
    try:
        steps = tuple(
            (float(bound), float(weight))
            for bound, weight in (item.split(":") for item in text.replace(",", ";").split(";") if item.strip())
        )
    except ValueError as exc:
        raise ValidationFailed("Paliers invalides : attendu « minutes:poids;minutes:poids… ».") from exc
    if not steps:
        raise ValidationFailed("Il faut au moins un palier de décroissance.")
    return steps


def format_decay(decay: tuple[tuple[float, float], ...]) -> str:
    return ";".join(f"{bound:g}:{weight:g}" for bound, weight in decay)


def params_from(values: Mapping[str, Any]) -> AplParameters:
    base = DEFAULT_PARAMETERS
    decay = parse_decay(str(values["paliers"])) if values.get("paliers") else base.decay
    return AplParameters(
        catchment_minutes=float(values.get("zone_minutes", base.catchment_minutes)),
        consultations_per_fte=float(values.get("consultations_par_etp", base.consultations_per_fte)),
        min_activity=int(values.get("activite_minimale", base.min_activity)),
        desert_threshold=float(values.get("seuil_desert", base.desert_threshold)),
        decay=decay,
        fte_cap=base.fte_cap,
        detour_factor=base.detour_factor,
        speed_kmh=base.speed_kmh,
    )


def build_apl(tables: Mapping[str, ir.Table], values: dict[str, Any]) -> ir.Table:
    year = int(values["annee"])
    params = params_from(values)
    bounds = tuple(values["tranches_age"])
    communes = tables["COMMUNES"]
    if "TEMPS_TRAJET" in tables:
        tt = tables["TEMPS_TRAJET"]
        od = tt.select(origine=tt.origine, destination=tt.destination, minutes=tt.minutes.cast("float64"))
    else:
        od = approximate_travel_times(communes, params)
    demand = standardised_demand(tables, year, bounds)
    supply_fte = gp_supply(tables, year, params)
    supply = supply_fte.select(code=supply_fte.code, offre=supply_fte.etp * params.consultations_per_fte)
    pairs = catchment_pairs(od, params)
    apl = two_step_fca(demand.select("code", "demande"), supply, pairs, params)
    # The APL is linear in the supplies it sums: published exactly next to the other communes' scores, it gives
    # back a masked FTE (finding 3). ``medecins_zone_min``, the fewest GPs of a commune within reach that has any,
    # lets the gate mask the score (and the flag) of every commune one such supply reaches; it never leaves.
    near = pairs.inner_join(supply_fte.select(destination=supply_fte.code, medecins_offre=supply_fte.medecins),
                            "destination")
    near = near.filter(near.medecins_offre > 0)
    zone = near.group_by(code=near.origine).aggregate(medecins_zone_min=near.medecins_offre.min())
    out = demand.inner_join(apl, "code").left_join(supply_fte, "code")
    out = out.select(*[c for c in out.columns if c != "code_right"]).left_join(zone, "code")
    return out.select(
        niveau_geo=ibis.literal("commune"),
        code_geo=out.code,
        population=out.population,
        population_standardisee=out.demande,
        medecins_etp=out.etp.fill_null(0.0),
        apl=out.apl,
        medecins=out.medecins.fill_null(0),
        medecins_zone_min=out.medecins_zone_min.fill_null(0),
        desert=ibis.ifelse(out.apl < params.desert_threshold, 1, 0),
        annee=ibis.literal(year),
        version_parametres=ibis.literal(params.version),
    )


APL = ind.Indicator(
    code="apl-mg",
    label="Accessibilité potentielle localisée aux médecins généralistes (APL)",
    description=(
        "Méthode DREES à deux étapes (2SFCA) : offre des médecins généralistes en équivalents temps plein, "
        "demande standardisée sur l'âge, zone de recours de 20 minutes avec décroissance par paliers. "
        "Une commune est sous-dense (désert médical) sous 2,5 consultations par an et par habitant standardisé. "
        + APPROXIMATION
    ),
    unit="consultations par an et par habitant standardisé",
    version=DEFAULT_PARAMETERS.version,
    measures=(
        ind.Measure("population", "Bénéficiaires", "personnes", "population"),
        ind.Measure("population_standardisee", "Population standardisée", "habitants standardisés", "population", 1),
        ind.Measure("medecins_etp", "Médecins généralistes (ETP)", "ETP", "ratio", 1),
        ind.Measure("apl", "APL", "consultations/an/habitant standardisé", "ratio", 2),
        ind.Measure("desert", "Sous-dense (< 2,5)", "oui/non", "flag"),
    ),
    dimensions=("geo",),
    parameters=(
        ind.Parameter("annee", "Année de soins", ind.CURRENT_YEAR_DEFAULT),
        ind.Parameter("tranches_age", "Bornes des tranches d'âge", ind.AGE_BOUNDS_DEFAULT),
        ind.Parameter("zone_minutes", "Zone de recours (minutes)", DEFAULT_PARAMETERS.catchment_minutes,
                      source="DREES, Études et Résultats n° 1144"),
        ind.Parameter("paliers", "Paliers de décroissance (minutes:poids)", format_decay(DEFAULT_PARAMETERS.decay),
                      verified=False, source="non vérifié (tableau 1 de la DREES non consulté)"),
        ind.Parameter("consultations_par_etp", "Consultations par ETP", DEFAULT_PARAMETERS.consultations_per_fte,
                      source="ARS Bourgogne-Franche-Comté"),
        ind.Parameter("activite_minimale", "Activité minimale comptée (actes/an)", DEFAULT_PARAMETERS.min_activity,
                      verified=False, source="non vérifié"),
        ind.Parameter("seuil_desert", "Seuil de sous-densité", DEFAULT_PARAMETERS.desert_threshold,
                      source="DREES, Dossiers n° 17"),
    ),
    build=build_apl,
    tables=("ER_PRS_F", "ER_ETE_F", "IR_BEN_R", "DA_PRA_R", "COMMUNES"),
    patients=(),
    # The FTE where one or two GPs practise; the APL and its flag wherever such a supply is within reach.
    professionals=(("medecins_etp", "medecins"), ("apl", "medecins_zone_min"), ("desert", "medecins_zone_min")),
    chart="bars",
    main_measure="apl",
)


def reference_apl(demand: Any, supply: Any, od: Any, params: AplParameters = DEFAULT_PARAMETERS) -> Any:
    """The same 2SFCA computed by PySAL ``access`` (pandas, one Python call per OD row): the yardstick for tests
    and benchmarks. Takes pandas frames demand(code, demande), supply(code, offre), od(origine, destination,
    minutes); returns a Series of APL by commune code (0 where no supply is within reach).
    """
    import warnings

    from access import Access, weights

    step = weights.step_fn({bound: weight for bound, weight in params.decay})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Access(
            demand_df=demand, demand_index="code", demand_value="demande",
            supply_df=supply, supply_index="code", supply_value="offre",
            cost_df=od, cost_origin="origine", cost_dest="destination", cost_name="minutes",
        )
        scores = model.two_stage_fca(name="apl", max_cost=params.catchment_minutes, weight_fn=step)
    series = scores["apl_offre"].reindex(demand["code"]).fillna(0.0)
    series.index.name = "code"
    return series
