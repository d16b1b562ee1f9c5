"""``maillage analytics …``: extract, run, export (and the catalogue, the key rotation).

``generate-claims`` (a synthetic SNDS) belongs to ``maillage.demo.cli``; the console adds it to this group.

Heavy imports (Ibis, DuckDB, pandas, Spark) happen inside the commands, so the rest of the console stays fast.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from maillage.exceptions import MaillageError

app = typer.Typer(help="Données de santé pour le pilotage du territoire (entrepôt, indicateurs, exports).",
                  no_args_is_help=True)
console = Console(stderr=True)
out = Console()

EngineOption = Annotated[str | None, typer.Option("--moteur", help="duckdb ou spark (par défaut : configuration)")]
MasterOption = Annotated[str | None, typer.Option("--master", help="URL du maître Spark, par exemple local[2]")]
ParamOption = Annotated[list[str] | None, typer.Option("--param", "-p", help="Paramètre nom=valeur (répétable)")]
WarehouseOption = Annotated[Path | None, typer.Option("--entrepot", help="Dossier de l'entrepôt (par défaut : "
                                                                           "var/warehouse)")]


def open_warehouse(path: Path | None) -> Any:
    """The warehouse at ``path``, or the configured one."""
    from maillage.analytics.warehouse import Warehouse, default_warehouse

    return Warehouse(path) if path else default_warehouse()


def _engine(name: str | None, master: str | None) -> Any:
    from maillage.analytics import engines

    base = engines.config_from_settings()
    return engines.EngineConfig(name=name or base.name, spark_master=master or base.spark_master)


def _params(items: list[str] | None) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise MaillageError(f"Paramètre mal formé : « {item} » (attendu nom=valeur).")
        key, value = item.split("=", 1)
        params[key.strip()] = value.strip()
    return params


def fail(exc: MaillageError) -> None:
    """Print the error in French and leave with status 1."""
    console.print(f"[red]Erreur :[/red] {exc.message}")
    raise typer.Exit(code=1)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:inconnu"


@app.command("extract")
def extract_command(
    only: Annotated[str, typer.Option("--seulement", help="Extracteurs à lancer, séparés par des virgules")] = "",
    entrepot: WarehouseOption = None,
) -> None:
    """Copie les faits pseudonymisés de la base opérationnelle dans l'entrepôt (patients opposés exclus), puis
    recalcule les indicateurs. Peut tourner pendant que le serveur tourne : la lecture ne bloque aucune écriture."""
    from maillage.analytics import catalogue, extract, service
    from maillage.config import get_settings

    warehouse = open_warehouse(entrepot)
    try:
        report = extract.extract_from_database(
            get_settings().effective_database_url, warehouse, extractors=catalogue.EXTRACTORS,
            objection_sources=catalogue.OBJECTION_SOURCES, only=[n for n in only.split(",") if n] or None,
            progress=lambda name: console.print(f"  extrait : {name}"),
        )
        refreshed = service.refresh_results(warehouse, _engine(None, None))
    except MaillageError as exc:
        fail(exc)
        return
    for table, rows in report.tables.items():
        console.print(f"{table} : {rows} ligne(s), {report.excluded_rows.get(table, 0)} exclue(s) (opposition)")
    for name, reason in report.skipped.items():
        console.print(f"[yellow]{name} non extrait :[/yellow] {reason}")
    console.print(f"Clé de pseudonymisation : version {report.key_version}.")
    console.print(f"Indicateurs recalculés et contrôlés : {', '.join(sorted(refreshed)) or 'aucun'}.")


@app.command("rotate-key")
def rotate_key_command(entrepot: WarehouseOption = None) -> None:
    """Crée une nouvelle clé de pseudonymisation ; la prochaine extraction change tous les pseudonymes."""
    from maillage.analytics import extract

    try:
        key = extract.keyring_from_settings(open_warehouse(entrepot)).rotate()
    except MaillageError as exc:
        fail(exc)
        return
    console.print(f"Nouvelle clé de pseudonymisation : version {key.version}. Relancez l'extraction.")


@app.command("catalogue")
def catalogue_command() -> None:
    """Liste les indicateurs, leurs unités et leurs paramètres."""
    from maillage.analytics.catalogue import all_indicators

    table = Table("Code", "Indicateur", "Unité", "Paramètres")
    for indicator in all_indicators():
        params = ", ".join(
            f"{p.name}={p.default}" + ("" if p.verified else " (à vérifier)") for p in indicator.parameters
        )
        table.add_row(indicator.code, indicator.label, indicator.unit, params)
    out.print(table)


@app.command("run")
def run_command(
    indicator: Annotated[str, typer.Argument(help="Code de l'indicateur (voir « catalogue »)")],
    param: ParamOption = None,
    moteur: EngineOption = None,
    master: MasterOption = None,
    entrepot: WarehouseOption = None,
) -> None:
    """Calcule un indicateur sur DuckDB ou Spark et l'enregistre avec sa provenance ; affiche un aperçu protégé."""
    from maillage.analytics import audit, service

    try:
        warehouse = open_warehouse(entrepot)
        config = _engine(moteur, master)
        with console.status(f"Calcul de {indicator} sur {config.name}…"):
            result = service.run_indicator(indicator, _params(param), warehouse, config)
        gated, provenance = service.published(indicator, result.provenance.parameters, warehouse, config)
    except MaillageError as exc:
        fail(exc)
        return
    audit.record(warehouse, actor=_actor(), action="calcul", indicator=indicator, parameters=provenance.parameters,
                 rows=len(gated.frame), run_id=provenance.run_id)
    preview = gated.select(niveaux_geo=["territoire", "departement"])
    out.print(preview.head(20).to_string(index=False))
    console.print(json.dumps(provenance.as_dict(), ensure_ascii=False, indent=2, default=str))


@app.command("export")
def export_command(
    indicator: Annotated[str, typer.Argument(help="Code de l'indicateur")],
    sortie: Annotated[Path, typer.Option("--sortie", "-o", help="Fichier à écrire")],
    fmt: Annotated[str, typer.Option("--format", help="csv ou parquet")] = "csv",
    param: ParamOption = None,
    departement: Annotated[str | None, typer.Option("--departement", help="Code du département")] = None,
    periode: Annotated[list[str] | None, typer.Option("--periode", help="Période (2025-03, 2025…), répétable")] = None,
    moteur: EngineOption = None,
    master: MasterOption = None,
    entrepot: WarehouseOption = None,
) -> None:
    """Exporte un indicateur passé par le contrôle de confidentialité (CSV ou Parquet), avec sa provenance."""
    from maillage.analytics import service

    try:
        warehouse = open_warehouse(entrepot)
        done = service.export(indicator, _params(param), warehouse, _engine(moteur, master), fmt=fmt,
                              actor=_actor(), departement=departement, periodes=periode)
    except MaillageError as exc:
        fail(exc)
        return
    sortie.parent.mkdir(parents=True, exist_ok=True)
    sortie.write_bytes(done.content)
    sidecar = sortie.with_name(sortie.name + ".provenance.json")
    sidecar.write_text(json.dumps(done.provenance.as_dict(), ensure_ascii=False, indent=2, default=str),
                       encoding="utf-8")
    console.print(f"{done.rows} ligne(s) exportée(s) dans {sortie} (provenance : {sidecar.name}).")
