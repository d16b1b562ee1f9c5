"""``maillage audit …``: verify the keyed chain and sign its checkpoints, export it as FHIR, purge it, make a key."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from maillage.audit import keys, service
from maillage.audit.rules import Checkpoint, paris_day_start
from maillage.config import get_settings
from maillage.exceptions import MaillageError
from maillage.kit import french
from maillage.kit.clock import now
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.security.context import AuditContext

app = typer.Typer(help="Traces d'accès : vérification de la chaîne, points de contrôle signés, export FHIR, purge.",
                  no_args_is_help=True)
out = Console()
err = Console(stderr=True)

EXIT_BROKEN = 1
EXIT_ERROR = 2


def _operator_id() -> str | None:
    try:
        return f"os:{getpass.getuser()}"[:64]
    except (KeyError, OSError):
        return None


def _context() -> AuditContext:
    return AuditContext(request_id=f"cli-{uuid.uuid4().hex}", address="local")


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One command, one transaction on its own engine: committed at the end, rolled back on any error."""
    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    session = make_sessionmaker(engine)()
    try:
        yield session
        session.commit()
    except MaillageError as exc:
        session.rollback()
        err.print(f"[red]Erreur :[/red] {escape(exc.message)}", soft_wrap=True)
        raise typer.Exit(EXIT_ERROR) from exc
    except DBAPIError as exc:
        session.rollback()
        err.print("[red]Erreur de base de données :[/red] "
                  f"{escape(type(exc.orig).__name__ if exc.orig else type(exc).__name__)}. "
                  "La base est-elle à jour (maillage db upgrade) ?", soft_wrap=True)
        raise typer.Exit(EXIT_ERROR) from exc
    finally:
        session.close()
        engine.dispose()


def _parse_day(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"« {value} » n'est pas une date au format AAAA-MM-JJ.", param_hint=option) from None


def _checkpoint_label(checkpoint: Checkpoint) -> str:
    return f"n° {checkpoint.n} du {checkpoint.at[:10]} à {checkpoint.at[11:19]} UTC (entrée n° {checkpoint.seq})"


@app.command("verify")
def verify(
    batch_size: Annotated[int, typer.Option(min=100, max=100_000, help="Entrées lues par lot")] = 5000,
) -> None:
    """Vérifie la chaîne d'audit scellée par clé, depuis la dernière ancre de purge, et la confronte aux points de
    contrôle signés conservés hors de la base.

    Code de sortie 0 si la chaîne est intègre, 1 à la première entrée modifiée, supprimée, insérée ou réécrite,
    ou si la chaîne s'arrête avant le dernier point de contrôle ; 2 si la vérification est impossible.
    """
    with unit_of_work() as session:
        report = service.verify_chain(session, batch_size=batch_size)
    if report.broken is not None:
        err.print(f"[bold red]Chaîne d'audit rompue[/bold red] : {escape(report.broken.message)} "
                  "(audit chain BROKEN)", soft_wrap=True)
        err.print(f"{french.count(report.checked, 'entrée intègre', 'entrées intègres')} avant la rupture.")
        raise typer.Exit(EXIT_BROKEN)
    out.print(f"Chaîne d'audit intègre : {report.checked} entrées vérifiées (audit chain OK)", soft_wrap=True)
    if report.start.anchor_id is not None:
        out.print(f"Depuis l'ancre de purge n° {report.start.anchor_id} (entrées jusqu'au n° {report.start.seq} "
                  "purgées).", soft_wrap=True)
    if report.keyed_since is not None:
        out.print(f"Scellée par la clé d'audit depuis l'entrée n° {report.keyed_since}"
                  + (" (les entrées précédentes, antérieures à la clé, sont chaînées sans clé)."
                     if report.keyed_since > report.start.seq + 1 else "."), soft_wrap=True)
    elif report.head_seq is not None:
        out.print("Aucune entrée scellée par la clé d'audit : chaîne antérieure à la clé (empreintes sans clé).",
                  soft_wrap=True)
    if report.head_seq is not None:
        out.print(f"Tête de chaîne : n° {report.head_seq}, empreinte {report.head_hash}", soft_wrap=True)
    if report.last_checkpoint is None:
        out.print(f"[yellow]Aucun point de contrôle signé[/yellow] ({escape(report.store)}) : la suppression des "
                  "entrées les plus récentes ne serait pas détectée. Lancez « maillage audit checkpoint » et le "
                  "processus « maillage worker ».", soft_wrap=True)
    else:
        out.print(f"Dernier point de contrôle signé : {_checkpoint_label(report.last_checkpoint)}, "
                  f"{report.checkpoints} au total ({escape(report.store)}) ; "
                  f"{french.count(report.after_last_checkpoint, 'entrée écrite', 'entrées écrites')} depuis, "
                  f"{french.plural(report.after_last_checkpoint, 'non encore couverte', 'non encore couvertes')} "
                  "contre une suppression.", soft_wrap=True)
        interval = dt.timedelta(minutes=get_settings().audit_checkpoint_minutes)
        taken = dt.datetime.strptime(report.last_checkpoint.at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
        if report.after_last_checkpoint and now() - taken > 2 * interval:
            out.print("[yellow]Ce point de contrôle date de plus de deux intervalles[/yellow] "
                      f"({int(interval.total_seconds() // 60)} min) : le processus « maillage worker » "
                      "tourne-t-il ? La fenêtre de détection s'allonge d'autant.", soft_wrap=True)


@app.command("checkpoint")
def checkpoint() -> None:
    """Vérifie les entrées écrites depuis le dernier point de contrôle, puis signe la tête de chaîne et l'ajoute
    au registre hors de la base (MAILLAGE_AUDIT_CHECKPOINT_DIR). Le processus « worker » le fait périodiquement.
    """
    with unit_of_work() as session:
        result = service.write_checkpoint(session)
    if result.written is not None:
        out.print(f"Point de contrôle signé écrit : {_checkpoint_label(result.written)}, "
                  f"{french.count(result.checked, 'entrée vérifiée', 'entrées vérifiées')} "
                  f"({escape(result.store)}).", soft_wrap=True)
    elif result.last is not None:
        out.print(f"Aucune nouvelle entrée depuis le point de contrôle {_checkpoint_label(result.last)} : "
                  "rien à signer.", soft_wrap=True)
    else:
        out.print("La chaîne d'audit est vide : rien à signer.")


@app.command("keygen")
def keygen() -> None:
    """Crée une nouvelle clé d'audit dans MAILLAGE_AUDIT_KEY_DIR (var/audit-keys par défaut) ; elle devient la
    clé active au prochain démarrage des processus. Conservez les anciennes : elles vérifient leurs entrées.
    """
    settings = get_settings()
    if settings.audit_keys.get_secret_value().strip():
        err.print(f"[red]Erreur :[/red] les clés d'audit viennent de {keys.ENV_VARIABLE} : générez 32 octets "
                  "aléatoires en base64 et placez « id:clé » en tête de la variable.", soft_wrap=True)
        raise typer.Exit(EXIT_ERROR)
    key_dir = settings.effective_audit_key_dir
    try:
        key_id = keys.create_key_file(key_dir)
    except OSError as exc:
        err.print(f"[red]Erreur :[/red] la clé ne peut pas être écrite dans {key_dir} ({escape(str(exc.strerror))}).",
                  soft_wrap=True)
        raise typer.Exit(EXIT_ERROR) from exc
    out.print(f"Clé d'audit « {key_id} » créée dans {key_dir} (droits 0600). Redémarrez les processus pour "
              "qu'elle scelle les nouvelles entrées.", soft_wrap=True)


@app.command("export")
def export(
    date_from: Annotated[str, typer.Option("--from", help="Premier jour inclus (AAAA-MM-JJ, heure de Paris)")],
    date_to: Annotated[str, typer.Option("--to", help="Dernier jour inclus (AAAA-MM-JJ, heure de Paris)")],
    output: Annotated[Path, typer.Option("--output", help="Fichier JSON à écrire (Bundle FHIR R4)")],
) -> None:
    """Exporte les traces d'une période en ressources FHIR R4 AuditEvent (Bundle de type collection)."""
    first = _parse_day(date_from, "--from")
    last = _parse_day(date_to, "--to")
    if first > last:
        raise typer.BadParameter("La date de début doit précéder la date de fin.", param_hint="--from")
    if not output.parent.is_dir():
        raise typer.BadParameter(f"Le dossier « {output.parent} » n'existe pas.", param_hint="--output")
    since, until = paris_day_start(first), paris_day_start(last + dt.timedelta(days=1))
    handle, tmp_name = tempfile.mkstemp(prefix=".audit-export-", suffix=".json", dir=output.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream, unit_of_work() as session:
            count = service.export_fhir(session, since, until, stream, actor_id=_operator_id(), actor_role="cli",
                                        context=_context())
        tmp.replace(output)
    finally:
        tmp.unlink(missing_ok=True)
    out.print(f"{french.count(count, 'trace exportée', 'traces exportées')} du {first:%d/%m/%Y} au {last:%d/%m/%Y} "
              f"dans {output}.", soft_wrap=True)


@app.command("purge")
def purge(
    retention_days: Annotated[int | None, typer.Option(
        "--retention-days", help="Durée de conservation en jours (par défaut : MAILLAGE_AUDIT_RETENTION_DAYS)")] = None,
    force: Annotated[bool, typer.Option("--force", help="Accepter une durée inférieure à six mois")] = False,
) -> None:
    """Supprime les traces plus anciennes que la durée de conservation et ancre la chaîne là où elles s'arrêtent."""
    days = retention_days if retention_days is not None else get_settings().audit_retention_days
    with unit_of_work() as session:
        result = service.purge(session, retention_days=days, force=force, actor_id=_operator_id(),
                               actor_role="cli", context=_context())
    if result.purged == 0:
        out.print(f"Aucune trace antérieure au {result.cutoff:%d/%m/%Y %H:%M} UTC à purger.")
        return
    out.print(f"{french.count(result.purged, 'trace purgée', 'traces purgées')} (jusqu'au n° {result.through_seq}), "
              f"ancre de purge n° {result.anchor_id}. Conservation : {days} jours.", soft_wrap=True)


@app.command("verify-lists")
def verify_lists(
    batch_size: Annotated[int, typer.Option(min=100, max=100_000, help="Lignes lues par lot")] = 5000,
) -> None:
    """Vérifie les patients des lectures de listes (recherches, « mes patients », listes de travail) : chaque liste
    doit correspondre à l'empreinte que son entrée, chaînée, en garde.

    Code de sortie 0 si tout correspond, 1 sinon (un patient ajouté à une liste ou retiré hors de l'application).
    """
    with unit_of_work() as session:
        mismatches = service.verify_list_patients(session, batch_size=batch_size)
    if mismatches:
        reads = french.count(len(mismatches), "lecture de liste", "lectures de liste")
        err.print(f"[bold red]Listes de patients altérées[/bold red] : {reads}.", soft_wrap=True)
        for m in mismatches[:20]:
            where = f"entrée n° {m.seq}" if m.seq is not None else f"entrée {m.entry_id} (qui ne liste aucun patient)"
            expected = (french.count(m.expected, "patient attendu", "patients attendus") if m.expected is not None
                        else "aucun patient attendu")
            err.print(f"  {where} : {expected}, {french.count(m.found, 'trouvé')}", soft_wrap=True)
        raise typer.Exit(EXIT_BROKEN)
    out.print("Patients des lectures de listes conformes à la chaîne d'audit.", soft_wrap=True)
