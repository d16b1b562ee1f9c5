"""``maillage analytics generate-claims``: a synthetic SNDS in the analytics warehouse.

The command lives with the generator it drives; the console (``maillage.cli``) adds it to the ``analytics``
group, since the analytics package may not import the demo package above it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from maillage.analytics.cli import WarehouseOption, console, fail, open_warehouse
from maillage.exceptions import MaillageError
from maillage.kit.numbers import fr_number


def generate_claims_command(
    rows: Annotated[int, typer.Option("--rows", help="Nombre de lignes de prestations (1 000 à 1 200 000 000)")],
    seed: Annotated[int, typer.Option("--seed", help="Graine du générateur")] = 1,
    annee: Annotated[int, typer.Option("--annee", help="Année des soins")] = 2025,
    territoire: Annotated[str, typer.Option(
        "--territoire", help="france, un code de département (01, 2A…) ou synthetique ; par défaut le département "
                             "du territoire enregistré (GHT), sinon france")] = "",
    communes_synthetiques: Annotated[int, typer.Option(
        "--communes-synthetiques", help="Nombre de communes pour --territoire synthetique")] = 300,
    lots: Annotated[int, typer.Option("--lots", help="Lignes par fichier Parquet")] = 2_000_000,
    entrepot: WarehouseOption = None,
) -> None:
    """Écrit un SNDS SYNTHÉTIQUE cohérent (bénéficiaires, prestations, séjours, télémédecine) dans l'entrepôt."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from maillage.analytics.communes import load_real_communes
    from maillage.demo.claims import generate_claims
    from maillage.demo.communes import synthetic_communes

    try:
        territoire = territoire or _recorded_territory()
        if territoire == "synthetique":
            communes = synthetic_communes(communes_synthetiques, seed=seed)
        else:
            communes = load_real_communes(None if territoire == "france" else territoire)
        warehouse = open_warehouse(entrepot)
        with Progress(TextColumn("[bold]Génération"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console) as progress:
            task = progress.add_task("lignes", total=rows)
            report = generate_claims(warehouse, communes, rows=rows, seed=seed, year=annee, chunk_rows=lots,
                                     progress=lambda n: progress.advance(task, n), territory=territoire)
    except MaillageError as exc:
        fail(exc)
        return
    console.print(f"Territoire : {'France entière' if territoire == 'france' else territoire}.")
    console.print(f"Données SYNTHÉTIQUES écrites dans {warehouse.root} : {fr_number(report.rows, 0)} prestations, "
                  f"{fr_number(report.beneficiaries, 0)} bénéficiaires, {fr_number(report.stays, 0)} séjours, "
                  f"{fr_number(len(communes), 0)} communes.")


def _recorded_territory() -> str:
    """The département of the GHT recorded in the operational database (read only), else « france »."""
    from sqlalchemy.exc import OperationalError

    from maillage.analytics.extract import territory_departements
    from maillage.config import get_settings
    from maillage.kit.db import make_engine, make_sessionmaker

    engine = make_engine(get_settings().effective_database_url, read_only=True, pool=False)
    try:
        with make_sessionmaker(engine)() as session:
            found = territory_departements(session)
    except OperationalError:  # no operational database here (yet)
        found = []
    finally:
        engine.dispose()
    return found[0] if len(found) == 1 else "france"
