"""Hospital-stay outcomes of the steering board and of the year report, from the gated PMSI indicators
(``analytics.pmsi``): 30-day readmissions after a heart-failure stay, by département and for the territory; stays
before and after enrolment in telesurveillance, by programme.

One function builds the tables (``outcome_tables``); the board draws them and the report writes them, so the
page, the PDF and the CSV state the same figures. Each table is the newest stored result of its indicator for the
year asked or, failing that, for one of the three years before it, and says which year it covers. Values are the
published cells as they are, « secret » where the gate masked them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from maillage.analytics import pmsi
from maillage.analytics import service as analytics
from maillage.analytics.gate import GateConfig
from maillage.analytics.indicators import TOTAL, Indicator
from maillage.analytics.warehouse import Warehouse
from maillage.exceptions import MaillageError
from maillage.kit.numbers import fr_number

PROGRAMME_LABELS = {"heart_failure": "Insuffisance cardiaque", "diabetes": "Diabète",
                    "renal_failure": "Insuffisance rénale", "respiratory_failure": "Insuffisance respiratoire",
                    TOTAL: "Ensemble"}
LOOK_BACK_YEARS = 3


@dataclass(frozen=True)
class OutcomeTable:
    code: str
    title: str
    year: int  # the year of the stored result shown (at most the year asked)
    header: list[str]
    rows: list[list[str]]  # first cell the row's label, then the measures (« secret » where masked)
    values: list[list[float | None]]  # the same measures as numbers (None where masked), for the charts
    measures: tuple[str, ...]  # the measure of each column after the label

    def column(self, measure: str) -> int:
        return self.measures.index(measure)


def _cell(value: object, decimals: int) -> tuple[str, float | None]:
    if value is None or pd.isna(value):
        return "secret", None
    number = float(value)  # type: ignore[arg-type]
    return fr_number(number, decimals), number


def _stored(warehouse: Warehouse, gate: GateConfig, code: str, year: int) -> tuple[pd.DataFrame, int] | None:
    for wanted in range(year, year - LOOK_BACK_YEARS - 1, -1):
        try:
            result = analytics.latest_result(warehouse, code, {"annee": wanted})
        except MaillageError:
            return None
        if result is not None:
            return analytics.gated_result(warehouse, result, gate).frame, wanted
    return None


def _table(indicator: Indicator, title: str, year: int, rows: pd.DataFrame, label_of: dict[str, str],
           label_column: str, measures: tuple[str, ...]) -> OutcomeTable:
    by_name = {m.name: m for m in indicator.measures}
    text_rows, value_rows = [], []
    for record in rows.to_dict("records"):
        cells = [_cell(record[m], by_name[m].decimals or 0) for m in measures]
        text_rows.append([label_of.get(record[label_column], record[label_column]), *(c[0] for c in cells)])
        value_rows.append([c[1] for c in cells])
    return OutcomeTable(indicator.code, title, year, ["", *(by_name[m].label for m in measures)], text_rows,
                        value_rows, measures)


READMISSION_MEASURES = ("patients", "sejours_index", "sejours_suivis_de_rehospitalisation", "taux_rehospitalisation")
BEFORE_AFTER_MEASURES = ("patients", "sejours_avant", "sejours_apres", "sejours_par_patient_avant",
                         "sejours_par_patient_apres", "patients_hospitalises_avant", "patients_hospitalises_apres")


def outcome_tables(warehouse: Warehouse, gate: GateConfig, year: int) -> list[OutcomeTable]:
    """The outcome tables available for ``year`` (an indicator without a stored result is left out)."""
    tables = []
    found = _stored(warehouse, gate, pmsi.READMISSIONS.code, year)
    if found is not None:
        frame, shown = found
        rows = frame[frame.niveau_geo.isin(["departement", "territoire"])].sort_values(["niveau_geo", "code_geo"])
        labels = {TOTAL: "Territoire", **{c: f"Département {c}" for c in rows.code_geo if c != TOTAL}}
        tables.append(_table(pmsi.READMISSIONS, f"Réhospitalisations à 30 jours après un séjour pour insuffisance "
                             f"cardiaque (sorties {shown})", shown, rows, labels, "code_geo", READMISSION_MEASURES))
    # Enrolments of a year are followed through the next one: the report of ``year`` shows those of ``year - 1``.
    found = _stored(warehouse, gate, pmsi.BEFORE_AFTER.code, year - 1)
    if found is not None:
        frame, shown = found
        rows = frame.sort_values("programme")
        tables.append(_table(pmsi.BEFORE_AFTER, f"Séjours hospitaliers des patients inclus en télésurveillance en "
                             f"{shown}, 12 mois avant et 12 mois après l'inclusion", shown, rows, PROGRAMME_LABELS,
                             "programme", BEFORE_AFTER_MEASURES))
    return tables


CAVEATS = (
    "Réhospitalisations : toutes causes, 1 à 30 jours après la sortie d'un séjour dont le diagnostic principal est "
    "une insuffisance cardiaque (CIM-10 I50) ; une entrée le jour de la sortie est un transfert.",
    "Avant / après l'inclusion : patients retrouvés dans le SNDS par la table d'appariement de la CNAM, comptés "
    "seulement si le PMSI couvre toute l'année qui suit leur inclusion. Sans groupe témoin, la comparaison ne "
    "mesure pas l'effet de la télésurveillance (les patients sont souvent inclus après un séjour).",
)
