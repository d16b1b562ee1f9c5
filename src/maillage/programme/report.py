"""The programme's evaluation for a year: the figures of the board (indicators against their targets, budget),
and the same figures written as a French PDF and as a CSV bundle.

The pages and the report read the same function (``indicator_rows``, ``budget_rows``), so they cannot disagree;
every value bound to the analytics catalogue comes out of the confidentiality gate (``progress``). The CSV bundle
holds only those published values and the programme's own figures (amounts, targets, values entered by hand),
never a count under the threshold.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd
from markupsafe import Markup

from maillage.analytics import activity, coverage, outcomes
from maillage.analytics import service as analytics
from maillage.analytics.catalogue import get_indicator
from maillage.analytics.gate import GateConfig
from maillage.analytics.indicators import TOTAL
from maillage.analytics.warehouse import Warehouse
from maillage.exceptions import MaillageError
from maillage.kit import charts
from maillage.kit.numbers import fr_number
from maillage.kit.pdf import FAMILY, UnicodePDF
from maillage.programme import progress as measured
from maillage.programme.rules import MilestoneStatus, format_euros
from maillage.programme.service import Programme


@dataclass(frozen=True)
class IndicatorRow:
    axis: str
    project: str
    label: str
    unit: str
    source: str
    target: Decimal | None
    value: Decimal | None
    percent: int | None
    note: str

    @property
    def target_text(self) -> str:
        return "—" if self.target is None else fr_number(float(self.target), _decimals(self.target))

    @property
    def value_text(self) -> str:
        return "—" if self.value is None else fr_number(float(self.value), _decimals(self.value))


def _decimals(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return min(3, -exponent) if isinstance(exponent, int) and exponent < 0 else 0


def _source(code: str | None, measure: str | None, source: str | None) -> str:
    if code and measure:
        indicator = get_indicator(code)
        label = next((m.label for m in indicator.measures if m.name == measure), measure)
        return f"Entrepôt : {indicator.label} — {label}"
    return f"Saisie manuelle : {source}"


def indicator_rows(programme: Programme, year: int, warehouse: Warehouse, gate: GateConfig) -> list[IndicatorRow]:
    """Every indicator of the programme for ``year``: target, value (gated), share of the target reached."""
    axes = {a.id: a.title for a in programme.axes}
    rows = []
    cache: measured.Territory = {}  # one read of each stored result, however many indicators bind to it
    for project, view in programme.indicators:
        i = view.indicator
        found = measured.progress(view, year, warehouse, gate, cache)
        rows.append(IndicatorRow(
            axis=axes.get(project.project.axis_id, ""), project=project.project.title, label=i.label, unit=i.unit,
            source=_source(i.catalogue_code, i.measure, i.source),
            target=found.target if found else None, value=found.value if found else None,
            percent=found.percent if found else None,
            note=(found.why_missing if found else measured.NO_TARGET)))
    return rows


ACTIVITY_TABLES = (("activite-partenaires", "type_partenaire", "Activité et délais par type de partenaire"),
                   ("activite-sites", "site", "Activité et délais par site"))


@dataclass(frozen=True)
class BudgetRow:
    axis: str
    project: str
    planned: int
    committed: int
    paid: int


def budget_rows(programme: Programme, year: int) -> list[BudgetRow]:
    axes = {a.id: a.title for a in programme.axes}
    rows = []
    for view in programme.projects:
        lines = [b for b in view.budget if b.year == year]
        rows.append(BudgetRow(axes.get(view.project.axis_id, ""), view.project.title,
                              sum(b.planned_cents for b in lines), sum(b.committed_cents for b in lines),
                              sum(b.paid_cents for b in lines)))
    return rows


def progress_svg(rows: list[IndicatorRow], year: int) -> Markup:
    """The board's chart: the share of each target reached, as labelled bars (values written beside each bar, a
    missing value hatched and labelled: nothing is told by colour alone)."""
    bars = [charts.Bar(r.label, None if r.percent is None else float(r.percent)) for r in rows
            if r.target is not None]
    return charts.bar_chart(f"Part de la cible {year} atteinte, par indicateur", bars, "% de la cible", 0)


NOT_BUILT = [
    "Transferts évités : seule l'orientation donnée par le spécialiste est observée ; le nombre publié est une "
    "borne haute (on ne sait pas si le patient aurait été transféré sans l'avis).",
]
NO_COVERAGE = ("Couverture territoriale par modalité : aucun résultat enregistré dans l'entrepôt pour cette année "
               "(l'activité n'a pas été extraite, ou la table des communes manque).")
COVERAGE_HEADER = ["Modalité", "Communes desservies", "Communes secrètes", "Sous-denses desservies",
                   "Sous-denses non desservies", "Sous-denses secrètes"]
NO_STAYS = ("Séjours hospitaliers (PMSI) : aucun résultat enregistré dans l'entrepôt pour cette année ni les trois "
            "précédentes (tables PMSI ou table d'appariement de la CNAM absentes).")
ACTIVITY_COLUMNS = ("actes", "patients", "delai_moyen_heures", "maintiens_sur_place", "transferts_urgents")


def activity_rows(warehouse: Warehouse, gate: GateConfig, year: int, code: str, group: str
                  ) -> list[list[str]] | None:
    """The year's activity of every value of ``group`` (all modalities), from the stored gated result: published
    cells as they are, « secret » where masked; None when no result is stored for the year."""
    try:
        result = analytics.latest_result(warehouse, code, {"annee": year})
    except MaillageError:
        result = None
    if result is None:
        return None
    frame = analytics.gated_result(warehouse, result, gate).frame
    rows = frame[(frame.niveau_periode == "annee") & (frame.modalite == TOTAL)].sort_values(group)
    labels = activity.PARTNER_TYPES if group == "type_partenaire" else {}
    out = []
    for record in rows.to_dict("records"):
        name = "Ensemble" if record[group] == TOTAL else labels.get(record[group], record[group])
        out.append([name, *("secret" if pd.isna(record[c]) else fr_number(float(record[c]),
                                                                           1 if c.startswith("delai") else 0)
                            for c in ACTIVITY_COLUMNS)])
    return out


def not_measured(rows: list[IndicatorRow], stays: list[outcomes.OutcomeTable], covered: bool = True) -> list[str]:
    """What the evaluation could not measure, and why (each indicator without a value, with its reason)."""
    return ([f"{r.label} ({r.project}) : {r.note}." for r in rows if r.value is None]
            + ([] if stays else [NO_STAYS]) + ([] if covered else [NO_COVERAGE]) + NOT_BUILT)


def coverage_table(warehouse: Warehouse, gate: GateConfig, year: int) -> tuple[list[list[str]], int] | None:
    """The coverage per modality as the report writes it (counts of communes), and the year it covers."""
    found = coverage.stored_coverage(warehouse, gate, year)
    if found is None:
        return None
    rows, shown = found
    return [[r.modality, str(r.served), str(r.undetermined), str(r.deserts_served), str(r.deserts_not_served),
             str(r.deserts_undetermined)] for r in rows], shown


# --- PDF -----------------------------------------------------------------------------------------------------------


def pdf(programme: Programme, year: int, warehouse: Warehouse, gate: GateConfig) -> bytes:
    rows = indicator_rows(programme, year, warehouse, gate)
    budget = budget_rows(programme, year)
    doc = UnicodePDF(format="A4")
    doc.set_title(f"Évaluation du programme numérique — {year}")
    doc.set_author("Maillage")
    doc.set_auto_page_break(auto=True, margin=15)
    doc.add_page()

    def heading(text: str, size: int = 12) -> None:
        doc.ln(2)
        doc.set_font(FAMILY, "B", size)
        doc.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        doc.set_font(FAMILY, "", 9)

    def text(value: str) -> None:
        doc.multi_cell(0, 5, value, new_x="LMARGIN", new_y="NEXT")

    heading(f"Évaluation du programme numérique du territoire — année {year}", 15)
    text("Rapport d'évaluation de la première année du plan pluriannuel. Les valeurs issues de l'entrepôt de "
         "données passent par le contrôle de confidentialité : les effectifs inférieurs au seuil de "
         f"{gate.threshold} patients sont masqués (« secret »).")

    heading("1. État du programme")
    for axis in programme.axes:
        doc.set_font(FAMILY, "B", 10)
        text(axis.title)
        doc.set_font(FAMILY, "", 9)
        projects = programme.of_axis(axis.id)
        if not projects:
            text("  Aucun projet pour cet axe.")
        for p in projects:
            done = sum(1 for m in p.milestones if m.status == MilestoneStatus.DONE.value)
            text(f"  • {p.project.title} — responsable : {p.project.owner} ; du "
                 f"{p.project.starts_on:%d/%m/%Y} au {p.project.ends_on:%d/%m/%Y} ; jalons atteints : "
                 f"{done} sur {len(p.milestones)}")

    heading(f"2. Budget {year} (prévu, engagé, payé)")
    with doc.table(col_widths=(70, 40, 40, 40), text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT")) as table:
        table.row(["Projet", "Prévu", "Engagé", "Payé"])
        for b in budget:
            table.row([b.project, format_euros(b.planned), format_euros(b.committed), format_euros(b.paid)])
        table.row(["Total", format_euros(sum(b.planned for b in budget)),
                   format_euros(sum(b.committed for b in budget)), format_euros(sum(b.paid for b in budget))])

    heading(f"3. Indicateurs et cibles {year}")
    with doc.table(col_widths=(62, 26, 26, 18, 58), text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "LEFT")) as table:
        table.row(["Indicateur", "Cible", "Valeur", "Atteinte", "Source"])
        for r in rows:
            table.row([f"{r.label} ({r.unit})" if r.unit else r.label, r.target_text, r.value_text,
                       f"{r.percent} %" if r.percent is not None else "—", r.source])
    _progress_chart(doc, rows)

    for number, (code, group, title) in enumerate(ACTIVITY_TABLES, start=4):
        heading(f"{number}. {title} ({year})")
        table_rows = activity_rows(warehouse, gate, year, code, group)
        if table_rows is None:
            text("Non calculé pour cette année : l'entrepôt n'a pas de résultat enregistré.")
            continue
        with doc.table(col_widths=(60, 22, 22, 26, 30, 26), text_align=("LEFT", *["RIGHT"] * 5)) as table:
            table.row(["", "Actes", "Patients", "Délai moyen (h)", "Transferts évités", "Transferts urgents"])
            for row in table_rows:
                table.row(row)
    stays = outcomes.outcome_tables(warehouse, gate, year)
    heading("6. Séjours hospitaliers (PMSI)")
    for table_data in stays:
        doc.set_font(FAMILY, "B", 9)
        text(table_data.title)
        doc.set_font(FAMILY, "", 8)
        first = 190 - 19 * (len(table_data.header) - 1)
        with doc.table(col_widths=(first, *[19] * (len(table_data.header) - 1)),
                       text_align=("LEFT", *["RIGHT"] * (len(table_data.header) - 1))) as table:
            table.row(table_data.header)
            for row in table_data.rows:
                table.row(row)
        doc.set_font(FAMILY, "", 9)
    for caveat in outcomes.CAVEATS if stays else ():
        text(f"• {caveat}")
    covered = coverage_table(warehouse, gate, year)
    heading("7. Couverture territoriale par modalité" + (f" ({covered[1]})" if covered else ""))
    if covered:
        text("Communes dont au moins un habitant a eu recours à la modalité dans l'année, et communes sous-denses "
             "(APL) desservies ou non ; « secrètes » : effectif masqué par le contrôle de confidentialité.")
        with doc.table(col_widths=(40, 30, 30, 30, 30, 30), text_align=("LEFT", *["RIGHT"] * 5)) as table:
            table.row(COVERAGE_HEADER)
            for row in covered[0]:
                table.row(row)
    heading("8. Ce qui n'a pas été mesuré, et pourquoi")
    for line in not_measured(rows, stays, covered is not None):
        text(f"• {line}")
    return bytes(doc.output())


def _progress_chart(doc: UnicodePDF, rows: list[IndicatorRow]) -> None:
    """Share of each target reached, as labelled bars (the percentage is written: no colour is needed to read it);
    an indicator without a value is drawn as a hatched box labelled « non mesuré »."""
    shown = [r for r in rows if r.target is not None]
    if not shown:
        return
    doc.ln(3)
    doc.set_font(FAMILY, "B", 10)
    doc.multi_cell(0, 6, "Part de la cible atteinte", new_x="LMARGIN", new_y="NEXT")
    doc.set_font(FAMILY, "", 8)
    left, width, bar_h = doc.l_margin + 62, 100.0, 5.0
    for r in shown:
        if doc.get_y() > doc.h - 25:
            doc.add_page()
        y = doc.get_y()
        doc.set_xy(doc.l_margin, y)
        doc.cell(60, bar_h, r.label[:40], align="R")
        doc.set_draw_color(80, 80, 80)
        doc.rect(left, y, width, bar_h)
        if r.percent is None:
            for x in range(0, 20, 2):
                doc.line(left + x, y + bar_h, left + x + 2, y)
            doc.set_xy(left + 22, y)
            doc.cell(40, bar_h, "non mesuré")
        else:
            doc.set_fill_color(33, 102, 172)
            doc.rect(left, y, width * min(r.percent, 100) / 100, bar_h, style="F")
            doc.set_xy(left + width + 2, y)
            doc.cell(20, bar_h, f"{r.percent} %")
        doc.set_y(y + bar_h + 1.5)


# --- CSV bundle ----------------------------------------------------------------------------------------------------


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def csv_bundle(programme: Programme, year: int, warehouse: Warehouse, gate: GateConfig) -> bytes:
    rows = indicator_rows(programme, year, warehouse, gate)
    budget = budget_rows(programme, year)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"indicateurs_{year}.csv", _csv(
            ["axe", "projet", "indicateur", "unite", "source", "cible", "valeur", "atteinte_pourcent", "remarque"],
            [[r.axis, r.project, r.label, r.unit, r.source, "" if r.target is None else str(r.target),
              "" if r.value is None else str(r.value), "" if r.percent is None else str(r.percent), r.note]
             for r in rows]))
        archive.writestr(f"budget_{year}.csv", _csv(
            ["axe", "projet", "prevu_centimes", "engage_centimes", "paye_centimes"],
            [[b.axis, b.project, str(b.planned), str(b.committed), str(b.paid)] for b in budget]))
        for code, group, _title in ACTIVITY_TABLES:
            table_rows = activity_rows(warehouse, gate, year, code, group)
            if table_rows is not None:
                archive.writestr(f"{code}_{year}.csv", _csv([group, *ACTIVITY_COLUMNS], table_rows))
        covered = coverage_table(warehouse, gate, year)
        if covered is not None:
            archive.writestr(f"couverture-modalites_{covered[1]}.csv", _csv(COVERAGE_HEADER, covered[0]))
        for stays in outcomes.outcome_tables(warehouse, gate, year):
            archive.writestr(f"{stays.code}_{stays.year}.csv", _csv(["", *stays.measures], stays.rows))
        archive.writestr("LISEZMOI.txt", (
            f"Évaluation du programme numérique, année {year}.\n"
            "Montants en centimes d'euro (entiers). Valeurs issues de l'entrepôt après contrôle de "
            f"confidentialité : tout effectif inférieur à {gate.threshold} est masqué (valeur vide, remarque "
            "« secret statistique »).\n").encode())
    return buffer.getvalue()
