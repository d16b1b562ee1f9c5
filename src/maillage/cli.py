"""The ``maillage`` console: serve, worker, db, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from maillage.analytics import cli as analytics_cli
from maillage.analytics.predict import cli as predict_cli
from maillage.audit import cli as audit_cli
from maillage.auth import cli as auth_cli
from maillage.billing import cli as billing_cli
from maillage.config import get_settings
from maillage.demo import cli as demo_cli
from maillage.directory import cli as directory_cli
from maillage.document import cli as document_cli
from maillage.kit import french
from maillage.monitoring import cli as monitoring_cli
from maillage.operations import cli as operations_cli
from maillage.prescription import cli as prescription_cli
from maillage.programme import cli as programme_cli
from maillage.vault import cli as vault_cli

app = typer.Typer(help="Maillage : plateforme de télésanté du GHT. Commandes d'exploitation.", no_args_is_help=True)
db_app = typer.Typer(help="Schéma de la base de données (migrations Alembic).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_cli.app, name="audit")
app.add_typer(auth_cli.user_app, name="user")
app.add_typer(auth_cli.device_app, name="device")
app.add_typer(auth_cli.token_app, name="token")
app.add_typer(vault_cli.app, name="keys")
vault_cli.app.command("export")(operations_cli.export_command)
vault_cli.app.command("import")(operations_cli.import_command)
app.command("backup")(operations_cli.backup_command)
app.command("restore")(operations_cli.restore_command)
app.add_typer(directory_cli.app, name="directory")
app.add_typer(document_cli.app, name="documents")
app.add_typer(prescription_cli.app, name="drugs")
app.add_typer(programme_cli.app, name="programme")
app.add_typer(billing_cli.app, name="billing")
analytics_cli.app.command("generate-claims")(demo_cli.generate_claims_command)
app.add_typer(analytics_cli.app, name="analytics")
app.add_typer(predict_cli.app, name="predict")
app.command("ingest-mqtt")(monitoring_cli.ingest_mqtt)
console = Console(stderr=True, soft_wrap=True)

# Modules whose import registers job handlers; each capability adds its tasks module here.
TASK_MODULES = [
    "maillage.worker.builtin",
    "maillage.audit.tasks",
    "maillage.vault.tasks",
    "maillage.document.tasks",
    "maillage.idempotency.service",
    "maillage.monitoring.tasks",
    "maillage.teleexpertise.tasks",
    "maillage.teleconsultation.tasks",
    "maillage.analytics.tasks",
    "maillage.analytics.predict.tasks",
    "maillage.exchange.tasks",
    "maillage.billing.tasks",
    "maillage.fhir.tasks",
]


def _alembic_config() -> object:
    from alembic.config import Config

    root = Path(__file__).resolve().parents[2]
    ini = root / "alembic.ini"
    cfg = Config(str(ini)) if ini.exists() else Config()
    cfg.set_main_option("script_location", str(root / "migrations"))
    cfg.set_main_option("sqlalchemy.url", get_settings().effective_database_url.replace("%", "%%"))
    return cfg


def upgrade_database(revision: str = "heads") -> None:
    from alembic import command

    get_settings().var_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(_alembic_config(), revision)  # type: ignore[arg-type]


def pending_migrations(revision: str = "heads") -> tuple[list[str], list[tuple[str, str]]]:
    """(current revisions of the database, [(revision, description)] the upgrade to ``revision`` would run, in
    order). Reads the database, changes nothing."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from maillage.kit.db import make_engine

    script = ScriptDirectory.from_config(_alembic_config())  # type: ignore[arg-type]
    engine = make_engine(get_settings().effective_database_url, pool=False)
    try:
        with engine.connect() as conn:
            current = sorted(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()
    steps = list(script.iterate_revisions(revision, tuple(current) or None))
    steps.reverse()  # iterate_revisions walks from the target down to the current revision
    return current, [(step.revision, (step.doc or "").strip().splitlines()[0] if step.doc else "") for step in steps]


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Révision cible")] = "heads",
    check: Annotated[bool, typer.Option("--check", help="Dire quelles migrations seraient appliquées, sans rien "
                                                        "changer (code 1 s'il y en a)")] = False,
) -> None:
    """Met la base de données à jour jusqu'à la révision donnée (par défaut la dernière)."""
    if check:
        current, steps = pending_migrations(revision)
        console.print(f"Révision actuelle de la base : {', '.join(current) or 'aucune (base vide)'}.")
        if not steps:
            console.print("Aucune migration à appliquer : la base est à jour.")
            return
        console.print(f"{french.count(len(steps), 'migration serait appliquée', 'migrations seraient appliquées')}"
                      " (rien n'a été changé) :")
        for rev, doc in steps:
            console.print(f"  {rev}  {doc}")
        raise typer.Exit(1)
    upgrade_database(revision)
    console.print(f"Base de données à jour ({revision}).")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Révision cible, par exemple -1")]) -> None:
    """Revient à une révision antérieure du schéma."""
    from alembic import command

    command.downgrade(_alembic_config(), revision)  # type: ignore[arg-type]
    console.print(f"Schéma ramené à {revision}.")


@db_app.command("revision")
def db_revision(message: Annotated[str, typer.Option("-m", "--message", help="Objet de la migration")]) -> None:
    """Crée une migration à partir des différences entre les modèles et la base (à relire avant commit)."""
    from alembic import command

    get_settings().var_dir.mkdir(parents=True, exist_ok=True)
    command.revision(_alembic_config(), message=message, autogenerate=True)  # type: ignore[arg-type]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Adresse d'écoute")] = None,
    port: Annotated[int | None, typer.Option(help="Port d'écoute")] = None,
    migrate: Annotated[bool, typer.Option(help="Appliquer les migrations avant de démarrer")] = True,
    demo: Annotated[bool, typer.Option(help="Charger le territoire de démonstration si la base est vide")] = False,
    workers: Annotated[int, typer.Option(
        min=1, max=64,
        help="Processus serveurs sur le même port (un par cœur : Python n'exécute qu'un fil à la fois par "
             "processus). Les migrations et la démonstration sont faites une fois, avant leur démarrage.")] = 1,
) -> None:
    """Démarre le serveur web (pages et API JSON ; les objets connectés y envoient aussi leurs mesures en FHIR)."""
    import uvicorn

    from maillage.app import create_app

    settings = get_settings()
    from maillage.audit.keys import check_audit_keys_ready
    from maillage.vault.keys import check_keys_ready

    check_keys_ready()
    check_audit_keys_ready()  # in development, creates the key here, once, before any serve process reads it
    if migrate:
        upgrade_database()
    if demo:
        from maillage.demo.load import load_demo_if_empty

        load_demo_if_empty(console)
    host = host or settings.host
    port = port or settings.port
    console.print(f"Maillage écoute sur http://{host}:{port}/  (API : http://{host}:{port}/api/docs)"
                  + (f", {workers} processus" if workers > 1 else ""))
    # proxy_headers=False: uvicorn would believe X-Forwarded-For from any loopback peer. The application reads
    # proxy headers itself, from MAILLAGE_TRUSTED_PROXIES only (maillage.web.middleware.resolve_client).
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "warning", "access_log": False,
                               "proxy_headers": False}
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    # Several processes: uvicorn starts each from the factory, which reads the same settings from the environment
    # and opens its own engine and batch pool (docs/adr/0012-web-tier-under-load.md).
    uvicorn.run("maillage.app:create_app", factory=True, workers=workers, **options)


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Exécuter les tâches dues puis s'arrêter")] = False,
    extra: Annotated[list[str] | None, typer.Option("--import", help="Module de tâches supplémentaire")] = None,
) -> None:
    """Démarre l'exécuteur des tâches de fond (relances de téléexpertise, non-transmissions et forfaits de
    télésurveillance, extractions de pilotage, courriels, purges)."""
    from maillage.kit.db import make_engine, make_sessionmaker
    from maillage.kit.logging import configure_logging
    from maillage.worker import registry
    from maillage.worker.runner import Worker, WorkerConfig

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    from maillage.audit.keys import check_audit_keys_ready
    from maillage.vault.keys import check_keys_ready

    check_keys_ready()
    check_audit_keys_ready()
    registry.load_modules([*TASK_MODULES, *(extra or [])])
    engine = make_engine(settings.effective_database_url, statement_timeout_ms=settings.statement_timeout_ms)
    runner = Worker(
        make_sessionmaker(engine),
        WorkerConfig(
            poll_seconds=settings.worker_poll_seconds,
            max_attempts=settings.job_max_attempts,
            backoff_base=settings.job_backoff_base_seconds,
            backoff_max=settings.job_backoff_max_seconds,
        ),
    )
    if once:
        stats = runner.run_until_idle()
        console.print(f"{french.count(stats.done, 'tâche terminée', 'tâches terminées')}, {stats.retried} à réessayer, "
                      f"{stats.failed} en échec.")
        return
    runner.run_forever()


@app.command()
def demo(
    departement: Annotated[str, typer.Option("--departement", "-d", help="Département (87, 2A, 974...)")] = "87",
    seed: Annotated[int, typer.Option("--seed", help="Graine : même département et même graine, même territoire")] = 1,
) -> None:
    """Charge un territoire de démonstration (GHT, établissements, professionnels, patients) si la base est vide."""
    from maillage.demo.load import load_demo_if_empty
    from maillage.exceptions import MaillageError

    upgrade_database()
    try:
        load_demo_if_empty(console, departement, seed)
    except MaillageError as exc:
        console.print(f"[red]Erreur :[/red] {exc.message}")
        raise typer.Exit(2) from exc


def main() -> None:
    app()


if __name__ == "__main__":
    main()
