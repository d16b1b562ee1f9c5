"""Hospital stays (PMSI MCO) for the programme's evaluation: hospitalisations of telesurveillance patients before
and after their enrolment, and readmissions within 30 days after a heart-failure stay.

Stays are the warehouse's PMSI MCO tables, cleaned as every SNDS query must (``rules.clean_mco_stays``: duplicate
FINESS, error GHMs, unchainable patients dropped); the patient is ``NIR_ANO_17``.

**Readmissions for heart failure** (``rehospitalisations-ic``). An index stay is a stay whose principal diagnosis
is heart failure (CIM-10 category I50, « Insuffisance cardiaque », ICD-10 of the WHO as used by the PMSI) and whose
discharge (``EXE_SOI_DTF``) falls in the year. It is readmitted when the same patient enters hospital again, for any
cause, 1 to 30 days after that discharge (an entry the day of the discharge is a transfer, not a readmission), as in
the all-cause 30-day readmission indicators of the HAS (IQSS « réhospitalisations à 30 jours »). Every stay of the
year with an I50 principal diagnosis is an index stay, a readmission included. Place: the patient's residence code
of the index stay (``BDI_COD``), communes of the territory only.

**Before and after enrolment** (``hospitalisations-telesurveillance``). The operational database does not hold
the patient's SNDS identifier, and the warehouse cannot compute it (the CNAM's hashing keys are its own): the link
is the **matching table** ``TS_APPARIEMENT_SNDS`` the CNAM returns for an authorised matching (appariement) of the
telesurveillance cohort, one row per enrolment: ``NIR_ANO_17``, the first day of monitoring, the programme. Each
patient's first enrolment of the year is kept. Stays entering in the 365 days before that day are « before »; in
the 365 days from it (the day itself included), « after ». A patient is counted only when the PMSI covers their
whole « after » year (the latest discharge of the PMSI on or after the enrolment day plus 364 days): a window cut
short by data not yet available would look like an improvement. Before/after is a crude comparison: no control
group, and patients are often enrolled after a stay (regression to the mean); the report says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from maillage.analytics import indicators as ind
from maillage.analytics import rules
from maillage.analytics.clinical import _ratio, _require, _year_window

HEART_FAILURE = "I50"  # CIM-10 category « Insuffisance cardiaque »
READMISSION_DAYS = 30
WINDOW_DAYS = 365
MATCHING_TABLE = "TS_APPARIEMENT_SNDS"
MATCHING_SCHEMA = pa.schema([
    pa.field("NIR_ANO_17", pa.string()),
    pa.field("debut_inclusion", pa.date32()),
    pa.field("programme", pa.string()),
])
PMSI_TABLES = ("T_MCOB", "T_MCOC")


def clean_stays(tables: Mapping[str, ir.Table]) -> ir.Table:
    """One row per countable stay: patient, entry and discharge dates, principal diagnosis, residence code."""
    stays = rules.clean_mco_stays(tables["T_MCOB"], tables["T_MCOC"])
    return stays.select(pid=stays.NIR_ANO_17, entree=stays.EXE_SOI_DTD, sortie=stays.EXE_SOI_DTF,
                        dp=stays.DGN_PAL, commune=stays.BDI_COD, eta=stays.ETA_NUM, rsa=stays.RSA_NUM)


# --- readmissions within 30 days after a heart-failure stay ------------------------------------------------------
def build_readmissions(tables: Mapping[str, ir.Table], params: dict[str, Any]) -> ir.Table:
    year = int(params["annee"])
    stays = clean_stays(tables)
    communes = tables["COMMUNES"].select(commune=tables["COMMUNES"].code_insee,
                                         departement=tables["COMMUNES"].departement)
    index = stays.filter(stays.dp.startswith(HEART_FAILURE), _year_window(stays.sortie, year))
    index = index.inner_join(communes, "commune")
    later = stays.select(pid2=stays.pid, entree2=stays.entree)
    window = index.left_join(later, [
        index.pid == later.pid2,
        later.entree2 > index.sortie,
        later.entree2 <= index.sortie + ibis.interval(days=READMISSION_DAYS),
    ])
    per_stay = window.group_by(["eta", "rsa", "pid", "commune", "departement"]).aggregate(
        relu=window.entree2.count())
    per_stay = per_stay.mutate(readmis=ibis.ifelse(per_stay.relu > 0, 1, 0).cast("int64"))
    x = ind.expand_levels(per_stay)
    cells = x.group_by(["niveau_geo", "code_geo"]).aggregate(
        patients=x.pid.nunique(), sejours_index=x.count(), sejours_suivis_de_rehospitalisation=x.readmis.sum())
    return cells.mutate(taux_rehospitalisation=_ratio(cells.sejours_suivis_de_rehospitalisation,
                                                      cells.sejours_index),
                        annee=ibis.literal(year))


READMISSIONS = ind.Indicator(
    code="rehospitalisations-ic",
    label="Réhospitalisations à 30 jours après un séjour pour insuffisance cardiaque",
    description=(
        "Séjours MCO terminés dans l'année dont le diagnostic principal est une insuffisance cardiaque (CIM-10 "
        "I50), et part de ceux suivis d'une nouvelle hospitalisation du même patient, toutes causes, 1 à 30 jours "
        "après la sortie (une entrée le jour de la sortie est un transfert). Lieu : résidence du patient lors du "
        "séjour index. Règles PMSI appliquées : doublons FINESS, GHM en erreur et patients non chaînables exclus. "
        "Source : PMSI MCO."
    ),
    unit="séjours",
    version="1.0",
    measures=(
        ind.Measure("patients", "Patients hospitalisés pour insuffisance cardiaque", "patients", "patients"),
        ind.Measure("sejours_index", "Séjours pour insuffisance cardiaque", "séjours", "count"),
        ind.Measure("sejours_suivis_de_rehospitalisation", "Séjours suivis d'une réhospitalisation à 30 jours",
                    "séjours", "count"),
        ind.Measure("taux_rehospitalisation", "Taux de réhospitalisation à 30 jours", "proportion", "ratio", 3),
    ),
    dimensions=("geo",),
    parameters=(ind.Parameter("annee", "Année de sortie du séjour", ind.CURRENT_YEAR_DEFAULT),),
    build=build_readmissions,
    tables=(*PMSI_TABLES, "COMMUNES"),
    patients=("patients",),
    # Each patient has at least one index stay; readmitted stays are index stays.
    relations=(
        (("patients",), ("sejours_index",), 1.0),
        (("sejours_suivis_de_rehospitalisation",), ("sejours_index",), 1.0),
    ),
    chart="bars",
    main_measure="taux_rehospitalisation",
)


# --- stays before and after enrolment in telesurveillance --------------------------------------------------------
def build_before_after(tables: Mapping[str, ir.Table], params: dict[str, Any]) -> ir.Table:
    year = int(params["annee"])
    matching = _require(tables, MATCHING_TABLE)
    stays = clean_stays(tables)
    data_end = tables["T_MCOC"].aggregate(fin_pmsi=tables["T_MCOC"].EXE_SOI_DTF.max())
    enrolled = matching.filter(_year_window(matching.debut_inclusion, year))
    first = enrolled.group_by("NIR_ANO_17").aggregate(debut=enrolled.debut_inclusion.min())
    first = first.inner_join(enrolled, [first.NIR_ANO_17 == enrolled.NIR_ANO_17,
                                        first.debut == enrolled.debut_inclusion])
    first = first.group_by([first.NIR_ANO_17, first.debut]).aggregate(programme=first.programme.min())
    first = first.cross_join(data_end)
    cohort = first.filter(first.debut + ibis.interval(days=WINDOW_DAYS - 1) <= first.fin_pmsi)
    cohort = cohort.select(pid=cohort.NIR_ANO_17, debut=cohort.debut, programme=cohort.programme)
    near = stays.select(pid2=stays.pid, entree=stays.entree)
    joined = cohort.left_join(near, [
        cohort.pid == near.pid2,
        near.entree >= cohort.debut - ibis.interval(days=WINDOW_DAYS),
        near.entree < cohort.debut + ibis.interval(days=WINDOW_DAYS),
    ])
    before = joined.entree.notnull() & (joined.entree < joined.debut)
    after = joined.entree.notnull() & (joined.entree >= joined.debut)
    per_patient = joined.group_by(["pid", "programme"]).aggregate(
        avant=before.cast("int64").sum(), apres=after.cast("int64").sum())
    per_patient = per_patient.mutate(avant=per_patient.avant.fill_null(0), apres=per_patient.apres.fill_null(0))
    levels = per_patient.cross_join(ibis.memtable({"_tous": [False, True]}))
    levels = levels.mutate(programme=ibis.ifelse(levels._tous, ibis.literal(ind.TOTAL), levels.programme))
    cells = levels.group_by("programme").aggregate(
        patients=levels.count(),
        patients_hospitalises_avant=(levels.avant > 0).cast("int64").sum(),
        patients_hospitalises_apres=(levels.apres > 0).cast("int64").sum(),
        sejours_avant=levels.avant.sum(),
        sejours_apres=levels.apres.sum(),
    )
    return cells.mutate(
        sejours_par_patient_avant=_ratio(cells.sejours_avant, cells.patients),
        sejours_par_patient_apres=_ratio(cells.sejours_apres, cells.patients),
        annee=ibis.literal(year),
    )


BEFORE_AFTER = ind.Indicator(
    code="hospitalisations-telesurveillance",
    label="Hospitalisations des patients télésurveillés, 12 mois avant et après l'inclusion",
    description=(
        "Patients inclus en télésurveillance dans l'année (première inclusion), retrouvés dans le SNDS par la "
        "table d'appariement de la CNAM : séjours MCO entrés dans les 365 jours avant l'inclusion et dans les 365 "
        "jours à partir d'elle, et patients hospitalisés au moins une fois dans chaque période. Seuls les patients "
        "dont l'année suivant l'inclusion est entièrement couverte par le PMSI sont comptés. Comparaison avant / "
        "après sans groupe témoin : elle ne mesure pas l'effet de la télésurveillance. Source : PMSI MCO et "
        "appariement."
    ),
    unit="patients",
    version="1.0",
    measures=(
        ind.Measure("patients", "Patients inclus (année suivante couverte)", "patients", "patients"),
        ind.Measure("patients_hospitalises_avant", "Patients hospitalisés dans les 12 mois avant", "patients",
                    "patients"),
        ind.Measure("patients_hospitalises_apres", "Patients hospitalisés dans les 12 mois après", "patients",
                    "patients"),
        ind.Measure("sejours_avant", "Séjours dans les 12 mois avant", "séjours", "count"),
        ind.Measure("sejours_apres", "Séjours dans les 12 mois après", "séjours", "count"),
        ind.Measure("sejours_par_patient_avant", "Séjours par patient, 12 mois avant", "séjours/patient",
                    "ratio", 3),
        ind.Measure("sejours_par_patient_apres", "Séjours par patient, 12 mois après", "séjours/patient",
                    "ratio", 3),
    ),
    dimensions=(),
    groups=("programme",),
    parameters=(ind.Parameter("annee", "Année d'inclusion", ind.CURRENT_YEAR_DEFAULT),),
    build=build_before_after,
    tables=(MATCHING_TABLE, *PMSI_TABLES),
    patients=("patients", "patients_hospitalises_avant", "patients_hospitalises_apres"),
    # Patients hospitalised are among the patients, and each has at least one stay in the period.
    relations=(
        (("patients_hospitalises_avant",), ("patients",), 1.0),
        (("patients_hospitalises_apres",), ("patients",), 1.0),
        (("patients_hospitalises_avant",), ("sejours_avant",), 1.0),
        (("patients_hospitalises_apres",), ("sejours_apres",), 1.0),
    ),
    chart="bars",
    main_measure="sejours_par_patient_apres",
)

INDICATORS = (READMISSIONS, BEFORE_AFTER)


def default_year(indicator: ind.Indicator, pmsi_end: dt.date) -> int:
    """The year a page shows by default, given the latest discharge of the PMSI: for the readmissions, the year of
    the latest discharge that can be followed for 30 days; for before / after, the newest enrolment year whose
    every enrolment is followed for a whole year."""
    if indicator is BEFORE_AFTER:
        year = pmsi_end.year - 1
        return year if dt.date(year, 12, 31) + dt.timedelta(days=WINDOW_DAYS - 1) <= pmsi_end else year - 1
    return (pmsi_end - dt.timedelta(days=READMISSION_DAYS)).year
