"""``maillage drugs …``: import the public drug database (BDPM) and look it up from the console.

One command, one transaction: a release refused by the error threshold imports nothing, an accepted one replaces the
whole base at commit, and an interrupted import leaves the previous release in service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from maillage.config import get_settings
from maillage.exceptions import MaillageError
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.prescription import drugs

app = typer.Typer(help="Base des médicaments (BDPM) : import et recherche.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
SHOWN_ISSUES = 20


def _print_issues(title: str, issues: list[str]) -> None:
    if not issues:
        return
    err.print(f"{title} ({len(issues)}) :")
    for issue in issues[:SHOWN_ISSUES]:
        err.print(f"  {issue}", markup=False)
    if len(issues) > SHOWN_ISSUES:
        err.print(f"  … et {len(issues) - SHOWN_ISSUES} autre(s).")


@app.command("import")
def import_directory(
    directory: Annotated[Path, typer.Argument(help="Dossier des fichiers BDPM (CIS_bdpm.txt, CIS_CIP_bdpm.txt…)",
                                              exists=True, file_okay=False, readable=True)],
    threshold: Annotated[float, typer.Option(
        "--threshold", "--seuil", help="Part maximale de lignes invalides (0.05 = 5 %) au-delà de laquelle rien "
                                       "n'est importé")] = drugs.DEFAULT_ERROR_THRESHOLD,
) -> None:
    """Importe une version de la BDPM : lignes invalides signalées (fichier:ligne) et ignorées."""
    settings = get_settings()
    engine = make_engine(settings.effective_database_url, statement_timeout_ms=None)
    session = make_sessionmaker(engine)()
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                        transient=True)
    try:
        with progress:
            task = progress.add_task("Import", total=None)
            outcome = drugs.import_release(session, directory, threshold=threshold,
                                           on_step=lambda label: progress.update(task, description=label))
        session.commit()
    except MaillageError as exc:
        session.rollback()
        err.print(f"[red]{exc.message}[/red]")
        _print_issues("Lignes en erreur", exc.details if isinstance(exc.details, list) else [])
        raise typer.Exit(2) from exc
    finally:
        session.close()
        engine.dispose()
    _print_issues("Lignes ignorées", [str(issue) for issue in outcome.issues])
    out.print(outcome.summary)


@app.command("search")
def search_command(query: Annotated[str, typer.Argument(help="Nom, substance (DCI), CIS ou CIP13")]) -> None:
    """Cherche un médicament par nom, substance, code CIS ou CIP13."""
    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    session = make_sessionmaker(engine)()
    try:
        hits = drugs.search(session, query)
    finally:
        session.close()
        engine.dispose()
    if not hits:
        out.print("Aucun médicament trouvé.")
    for hit in hits:
        state = "" if hit.marketed else " (non commercialisé)"
        out.print(f"{hit.cis}  {hit.name}{state} — {', '.join(hit.substances)}", markup=False)
