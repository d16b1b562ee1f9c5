"""``maillage keys``: status, rotation and retirement of the key-encryption keys.

Each command is one unit of work: it opens its own engine from the settings, commits at the end and
rolls back on error. Output is French; key material is printed only by ``generate``, on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from maillage.config import get_settings
from maillage.exceptions import MaillageError
from maillage.kit import crypto, french
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.vault import service
from maillage.vault.keys import ENV_VARIABLE, DirectoryKeyRing, KeyRing, encode_key, load_keyring, new_kek_id

app = typer.Typer(help="Clés de chiffrement des données au repos (chiffrement par enveloppe).", no_args_is_help=True)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@contextmanager
def _unit_of_work() -> Iterator[Session]:
    settings = get_settings()
    engine = make_engine(settings.effective_database_url, pool=False)
    try:
        with make_sessionmaker(engine)() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
    finally:
        engine.dispose()


def _fail(exc: MaillageError) -> typer.Exit:
    err.print(f"[red]Erreur :[/red] {exc.message}")
    return typer.Exit(code=1)


def _load(*, allow_empty: bool = False) -> KeyRing:
    return load_keyring(get_settings(), allow_empty=allow_empty)


@app.command("status")
def status() -> None:
    """Affiche la clé active et, pour chaque clé, le nombre de clés de données qu'elle protège."""
    try:
        keyring = _load()
        active_id = keyring.active().id
        with _unit_of_work() as session:
            usage = service.key_usage(session, keyring.ids())
    except MaillageError as exc:
        raise _fail(exc) from None
    out.print(f"Source des clés : {keyring.source}")
    out.print(f"Clé active : {active_id}")
    out.print("Clés du trousseau :")
    for kek_id in keyring.ids():
        count = usage.get(kek_id, 0)
        note = " (active)" if kek_id == active_id else (" — inutilisée, peut être retirée" if count == 0 else "")
        out.print(f"  {kek_id} : {french.count(count, 'clé de données', 'clés de données')}{note}")
    missing = {kek_id: count for kek_id, count in usage.items() if not keyring.has(kek_id)}
    if missing:
        for kek_id, count in sorted(missing.items()):
            unreadable = french.count(count, "clé de données illisible", "clés de données illisibles")
            err.print(f"[red]Clé absente du trousseau :[/red] {kek_id} protège {unreadable}.")
        raise typer.Exit(code=1)


@app.command("rotate")
def rotate(
    rewrap_only: Annotated[
        bool,
        typer.Option(
            "--rewrap-only",
            help="Ré-emballer sous la clé active actuelle sans en créer une nouvelle "
            f"(clés fournies par {ENV_VARIABLE}, ou reprise d'une rotation).",
        ),
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Clés de données traitées par lot", min=1)] = service.ROTATION_BATCH,
) -> None:
    """Crée une nouvelle clé active et ré-emballe toutes les clés de données, sans rechiffrer les contenus."""
    try:
        keyring = _load(allow_empty=True)
        with _unit_of_work() as session:
            report = service.rotate(session, keyring, new_key=not rewrap_only, batch_size=batch_size)
    except MaillageError as exc:
        raise _fail(exc) from None
    if report.created:
        out.print(f"Nouvelle clé active : {report.active_kek_id}")
    else:
        out.print(f"Clé active : {report.active_kek_id}")
    out.print(f"{french.count(report.rewrapped, 'clé de données ré-emballée', 'clés de données ré-emballées')}.")
    for kek_id, count in sorted(report.by_previous_kek.items()):
        out.print(f"  depuis {kek_id} : {count}")
    if report.changed_meanwhile:
        out.print(
            f"{french.count(report.changed_meanwhile, 'valeur modifiée', 'valeurs modifiées')} pendant la rotation : "
            "relancez "
            "« maillage keys rotate --rewrap-only » pour les reprendre."
        )


@app.command("retire")
def retire(
    kek_id: Annotated[
        str | None, typer.Argument(help="Clé à retirer ; sans argument, toutes les clés inutilisées")
    ] = None,
) -> None:
    """Retire les clés qui ne protègent plus aucune clé de données (refuse une clé encore utilisée)."""
    try:
        keyring = _load()
        with _unit_of_work() as session:
            if kek_id is None:
                retired = service.retire_unused_keys(keyring, session)
            else:
                service.retire_key(keyring, session, kek_id)
                retired = [kek_id]
    except MaillageError as exc:
        raise _fail(exc) from None
    if not retired:
        out.print("Aucune clé à retirer : toutes les clés du trousseau sont utilisées.")
        return
    out.print(f"{french.count(len(retired), 'clé retirée', 'clés retirées')} : {', '.join(retired)}")
    if isinstance(keyring, DirectoryKeyRing):
        out.print(
            f"Fichiers déplacés dans {keyring.key_dir / 'retired'} : détruisez-les quand plus aucune "
            "sauvegarde de la base n'en dépend."
        )
    else:
        out.print(f"Retirez-les de {ENV_VARIABLE} puis redémarrez les processus.")


@app.command("generate")
def generate() -> None:
    """Affiche une nouvelle clé « identifiant:clé_base64 » à placer en tête de MAILLAGE_VAULT_KEYS."""
    out.print(f"{new_kek_id()}:{encode_key(crypto.generate_key())}", soft_wrap=True)
    err.print(
        f"Placez cette valeur en tête de {ENV_VARIABLE} (séparée des autres par une virgule), redémarrez, "
        "puis lancez « maillage keys rotate --rewrap-only ». Ne la conservez nulle part ailleurs."
    )
