"""``maillage billing …``: the dated tariff table, and the month's statements on demand."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from maillage.billing import service
from maillage.config import get_settings
from maillage.directory.tariffs import TARIFFS
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.kit.numbers import fr_euros

app = typer.Typer(help="Facturation des actes de télémédecine : tarifs datés, relevés mensuels.", no_args_is_help=True)
out = Console(soft_wrap=True)


@app.command("tariffs")
def tariffs() -> None:
    """Print the dated tariff table (one row per code and period; a change of tariff is a new row)."""
    table = Table(title="Tarifs datés des actes de télémédecine")
    for column in ("Code", "Libellé", "Montant", "Depuis le", "Jusqu'au", "Source"):
        table.add_column(column)
    for t in sorted(TARIFFS, key=lambda t: (t.code, t.valid_from)):
        table.add_row(t.code, t.label, fr_euros(t.amount), t.valid_from.strftime("%d/%m/%Y"),
                      t.valid_to.strftime("%d/%m/%Y") if t.valid_to else "—", t.source)
    out.print(table)


@app.command("statements")
def statements(month: Annotated[str, typer.Argument(help="Mois AAAA-MM")]) -> None:
    """Collect the acts and compute the month's statements (per establishment and per professional) now."""
    try:
        target = dt.date.fromisoformat(f"{month}-01")
    except ValueError:
        raise typer.BadParameter("Mois attendu au format AAAA-MM.") from None
    session = make_sessionmaker(make_engine(get_settings().effective_database_url, statement_timeout_ms=None))()
    try:
        count = service.compute_statements(session, target)
        session.commit()
    finally:
        session.close()
    out.print(f"{count} relevé(s) calculé(s) pour {month}.")
