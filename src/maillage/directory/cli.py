"""``maillage directory …``: import the national directory extracts (RPPS, FINESS) from the console.

One command, one transaction: a file refused by the error threshold imports nothing, and a file accepted is
written whole or not at all. Re-importing the same file changes nothing (upsert by identifier).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from maillage.config import get_settings
from maillage.directory import import_service, imports
from maillage.exceptions import MaillageError
from maillage.kit.db import make_engine, make_sessionmaker

app = typer.Typer(help="Annuaire du territoire : import des extractions RPPS et FINESS.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
LARGE_FILE_BYTES = 1_000_000
SHOWN_ISSUES = 20


class ImportKind(enum.StrEnum):
    RPPS = "rpps"
    FINESS = "finess"


def _counted_lines(path: Path, progress: Progress | None, task: object) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        for line in handle:
            if progress is not None:
                progress.advance(task, len(line))  # type: ignore[arg-type]
            yield line


def _print_issues(title: str, issues: list[imports.ImportIssue] | list[dict[str, object]], total: int) -> None:
    if not total:
        return
    err.print(f"{title} ({total}) :")
    for issue in issues[:SHOWN_ISSUES]:
        if isinstance(issue, dict):
            err.print(f"  ligne {issue.get('line', '?')}, {issue.get('field', '')} : {issue.get('message', '')}")
        else:
            err.print(f"  {issue}")
    if total > SHOWN_ISSUES:
        err.print(f"  … et {total - SHOWN_ISSUES} autre(s).")


@app.command("import")
def import_file(
    kind: Annotated[ImportKind, typer.Argument(help="Type d'extraction : rpps (PS_LibreAcces) ou finess (etalab)")],
    file: Annotated[Path, typer.Argument(help="Fichier à importer", exists=True, dir_okay=False, readable=True)],
    threshold: Annotated[float, typer.Option(
        "--threshold", "--seuil", help="Part maximale de lignes invalides (0.01 = 1 %) au-delà de laquelle rien "
                                       "n'est importé")] = imports.DEFAULT_ERROR_THRESHOLD,
    dry_run: Annotated[bool, typer.Option("--dry-run", "--essai", help="Vérifier le fichier sans rien écrire")] = False,
) -> None:
    """Importe une extraction RPPS ou FINESS : rapport des erreurs par ligne, rien d'importé au-delà du seuil."""
    try:
        imports.check_threshold(threshold)
    except MaillageError as exc:
        err.print(f"[red]Erreur :[/red] {exc.message}")
        raise typer.Exit(2) from exc
    settings = get_settings()
    engine = make_engine(settings.effective_database_url, statement_timeout_ms=settings.statement_timeout_ms)
    session = make_sessionmaker(engine)()
    large = file.stat().st_size >= LARGE_FILE_BYTES
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), DownloadColumn(),
                        TimeRemainingColumn(), console=err, transient=True, disable=not large)
    try:
        with progress:
            reading = progress.add_task("Lecture", total=file.stat().st_size)
            writing = progress.add_task("Enregistrement", total=None, visible=False)

            def on_rows(advance: int, total: int) -> None:
                progress.update(writing, total=total, visible=True)
                progress.advance(writing, advance)

            outcome = import_service.run_import(session, kind.value, _counted_lines(file, progress, reading),
                                         threshold=threshold, progress=on_rows)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    except MaillageError as exc:
        session.rollback()
        err.print(f"[red]{exc.message}[/red]")
        details = exc.details if isinstance(exc.details, list) else []
        _print_issues("Lignes en erreur", details, len(details))
        err.print("Rien n'a été importé.")
        raise typer.Exit(2) from exc
    finally:
        session.close()
        engine.dispose()
    report = outcome.report
    _print_issues("Lignes en erreur (ignorées)", report.errors, report.error_count)
    _print_issues("Avertissements (lignes importées)", report.warnings, report.warning_count)
    if dry_run:
        out.print(f"Essai : {report.summary()} Rien n'a été écrit.")
    else:
        out.print(outcome.summary)
