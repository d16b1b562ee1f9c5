"""``maillage programme report --year 2026``: the programme's evaluation report, as a French PDF and a CSV bundle
(the same figures as the ``/programme`` pages, small cells masked)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Programme numérique du territoire (rapport d'évaluation).", no_args_is_help=True)
console = Console(stderr=True)


@app.command("report")
def report_command(
    year: Annotated[int, typer.Option("--year", "--annee", help="Année évaluée")],
    output: Annotated[Path, typer.Option("--sortie", help="Dossier où écrire le PDF et le CSV")] = Path("."),
) -> None:
    """Écrire le rapport d'évaluation de l'année (PDF) et ses données (archive de CSV)."""
    from maillage.analytics.service import gate_config_from_settings
    from maillage.analytics.warehouse import default_warehouse
    from maillage.config import get_settings
    from maillage.kit.db import make_engine, make_sessionmaker
    from maillage.programme import report, rules, service

    if year not in rules.PROGRAMME_YEARS:
        console.print(f"Année hors du programme ({rules.PROGRAMME_YEARS[0]} à {rules.PROGRAMME_YEARS[-1]}).")
        raise typer.Exit(2)
    engine = make_engine(get_settings().effective_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            programme = service.load_for_operator(session)
    finally:
        engine.dispose()
    warehouse, gate = default_warehouse(), gate_config_from_settings()
    output.mkdir(parents=True, exist_ok=True)
    pdf_path = output / f"evaluation-programme-{year}.pdf"
    zip_path = output / f"evaluation-programme-{year}.zip"
    pdf_path.write_bytes(report.pdf(programme, year, warehouse, gate))
    zip_path.write_bytes(report.csv_bundle(programme, year, warehouse, gate))
    console.print(f"Rapport écrit : {pdf_path} et {zip_path}")
