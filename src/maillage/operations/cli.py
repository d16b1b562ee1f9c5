"""``maillage backup``, ``maillage restore``, ``maillage keys export`` and ``maillage keys import``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from maillage.config import get_settings
from maillage.exceptions import MaillageError
from maillage.kit import french
from maillage.operations import backup as backups
from maillage.operations import keyfile

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(exc: MaillageError) -> typer.Exit:
    err.print(f"[red]Erreur :[/red] {escape(exc.message)}")
    return typer.Exit(code=1)


def backup_command(
    dest: Annotated[Path, typer.Argument(help="Dossier neuf où écrire la sauvegarde")],
) -> None:
    """Sauvegarde cohérente de la base et des documents chiffrés pendant que la plateforme tourne (sans les clés :
    « maillage keys export »)."""
    try:
        report = backups.backup(get_settings(), dest)
    except MaillageError as exc:
        raise _fail(exc) from None
    tables, rows, blobs = backups.manifest_summary(report.manifest)
    out.print(f"Sauvegarde écrite dans {escape(str(report.folder))} en {report.seconds:.1f} s : "
              f"{french.count(tables, 'table')}, {french.count(rows, 'ligne')}, "
              f"{french.count(blobs, 'document chiffré', 'documents chiffrés')}.")
    out.print("Les clés n'y sont pas : conservez à part l'export de « maillage keys export ».")


def restore_command(
    src: Annotated[Path, typer.Argument(help="Dossier d'une sauvegarde de « maillage backup »")],
) -> None:
    """Restaure une sauvegarde dans une base et un stockage de documents VIDES, puis la vérifie contre son
    manifeste (importez d'abord les clés : « maillage keys import »)."""
    try:
        report = backups.restore(get_settings(), src)
    except MaillageError as exc:
        raise _fail(exc) from None
    out.print(f"Sauvegarde restaurée en {report.seconds:.1f} s et conforme à son manifeste : "
              f"{french.count(report.tables, 'table')}, {french.count(report.rows, 'ligne')}, "
              f"{french.count(report.blobs, 'document chiffré', 'documents chiffrés')}.")
    out.print("Vérifiez ensuite la chaîne d'audit : « maillage audit verify ».")


def _passphrase(*, confirm: bool) -> str:
    value = os.environ.get(keyfile.PASSPHRASE_VARIABLE, "")
    if value:
        return value
    return str(typer.prompt("Phrase de passe", hide_input=True, confirmation_prompt=confirm))


def export_command(
    file: Annotated[Path, typer.Argument(help="Fichier à créer (chiffré par la phrase de passe)")],
) -> None:
    """Exporte toutes les clés hors base (chiffrement, audit, pseudonymes) dans un fichier protégé par une phrase
    de passe (demandée, ou lue dans MAILLAGE_KEYS_PASSPHRASE)."""
    try:
        bundle = keyfile.collect(get_settings())
        keyfile.write_export(file, keyfile.encrypt(bundle, keyfile.check_passphrase(_passphrase(confirm=True))))
    except MaillageError as exc:
        raise _fail(exc) from None
    out.print(f"Clés exportées dans {escape(str(file))}. Conservez ce fichier et sa phrase de passe à part, "
              "séparément des sauvegardes de la base.")


def import_command(
    file: Annotated[Path, typer.Argument(help="Fichier écrit par « maillage keys export »")],
) -> None:
    """Importe les clés d'un export dans les dossiers de clés de cette installation (sans jamais remplacer une
    clé différente)."""
    try:
        bundle = keyfile.decrypt(Path(file).read_bytes(), _passphrase(confirm=False))
        report = keyfile.install(get_settings(), bundle)
    except FileNotFoundError:
        raise _fail(keyfile.KeyFileError(f"Fichier introuvable : {file}.")) from None
    except MaillageError as exc:
        raise _fail(exc) from None
    out.print(f"{french.count(len(report.written), 'fichier de clé écrit', 'fichiers de clés écrits')}, "
              f"{french.count(len(report.unchanged), 'déjà présent', 'déjà présents')}.")
