"""``maillage documents …``: the retention purge from the console.

``purge --dry-run`` lists the documents past their retention (CSP R1112-7 by default, ``document.rules``) and those
kept under legal hold, and changes nothing; without ``--dry-run`` it deletes the others (content and vault blob; the
row stays, audited) in one transaction. Only ids, classes and dates are printed: no name, no title.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console

from maillage.config import get_settings
from maillage.document import service
from maillage.kit import french
from maillage.kit.db import make_engine, make_sessionmaker

app = typer.Typer(help="Documents des patients : purge à l'échéance de conservation.", no_args_is_help=True)
out = Console()


@app.command("purge")
def purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Lister sans rien supprimer")] = False,
    today: Annotated[str | None, typer.Option(help="Date de référence AAAA-MM-JJ (aujourd'hui par défaut)")] = None,
) -> None:
    """Supprime (ou liste, avec --dry-run) les documents dont la durée de conservation est échue."""
    day = dt.date.fromisoformat(today) if today else None
    settings = get_settings()
    sessions = make_sessionmaker(make_engine(settings.effective_database_url))
    with sessions() as session:
        items = service.purge(session, dry_run=dry_run, today=day)
        if not dry_run:
            session.commit()
    held = [i for i in items if i.held]
    gone = [i for i in items if not i.held]
    for item in items:
        what = "conservé (conservation légale)" if item.held else ("à supprimer" if dry_run else "supprimé")
        out.print(f"{item.document_id}  patient {item.patient_id}  {item.document_class.label}  "
                  f"conservation jusqu'au {item.retained_until.strftime('%d/%m/%Y')}  {what}")
    verb = "à supprimer" if dry_run else "supprimé(s)"
    out.print(f"{french.count(len(gone), 'document', 'documents')} {verb}, {len(held)} sous conservation légale.")
