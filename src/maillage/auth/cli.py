"""``maillage user …``, ``maillage device …`` and ``maillage token …``: account administration from the console."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.auth import repository as repo
from maillage.auth import second_factor, service, tokens
from maillage.config import get_settings
from maillage.exceptions import MaillageError
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.security.roles import Role

user_app = typer.Typer(help="Comptes des professionnels.", no_args_is_help=True)
device_app = typer.Typer(help="Identifiants des appareils connectés et passerelles (ingestion seulement).",
                         no_args_is_help=True)
token_app = typer.Typer(help="Jetons de service pour les systèmes tiers.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """One CLI command, one transaction: committed at the end, rolled back on error (with a French message)."""
    settings = get_settings()
    engine = make_engine(settings.effective_database_url, statement_timeout_ms=settings.statement_timeout_ms)
    session = make_sessionmaker(engine)()
    try:
        yield session
        session.commit()
    except MaillageError as exc:
        session.rollback()
        err.print(f"[red]Erreur :[/red] {exc.message}")
        if isinstance(exc.details, list):
            for d in exc.details:
                err.print(f"  - {d.get('field', '')} : {d.get('message', '')}")
        raise typer.Exit(2) from exc
    finally:
        session.close()
        engine.dispose()


def _audit_cli(session: Session, action: str, object_type: str, object_id: str) -> None:
    record(session, action=action, object_type=object_type, object_id=object_id, actor_role="cli",
           details={"via": "cli"})


def generate_password() -> str:
    return service.generate_one_time_password()


@user_app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="Identifiant de connexion")],
    role: Annotated[Role, typer.Option(help="Rôle du professionnel")],
    name: Annotated[str, typer.Option("--name", help="Nom affiché, par exemple « Dr Marie Curie »")],
    email: Annotated[str | None, typer.Option(help="Adresse électronique professionnelle")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Lire le mot de passe sur l'entrée standard")] = False,
) -> None:
    """Crée un compte. Sans --password-stdin, un mot de passe aléatoire est généré et affiché une seule fois.

    Le mot de passe initial est à usage unique : valable 24 heures, il doit être remplacé à la première connexion.
    """
    password = sys.stdin.readline().rstrip("\n") if password_stdin else generate_password()
    settings = get_settings()
    with unit_of_work() as db:
        user = service.create_user(db, username=username, display_name=name, role=role, password=password,
                                   email=email, one_time_password=True, settings=settings)
        _audit_cli(db, "create", "user_account", str(user.id))
    out.print(f"Compte « {user.username} » créé ({Role.label_of(user.role)}).")
    if not password_stdin:
        out.print(f"Mot de passe initial : {password}")
    out.print(f"Ce mot de passe est à usage unique : valable {settings.one_time_password_hours} heures, il devra être "
              "remplacé à la première connexion, après l'enrôlement de la double authentification.")


@user_app.command("list")
def list_users() -> None:
    """Liste les comptes avec leur état."""
    with unit_of_work() as db:
        table = Table("Identifiant", "Nom", "Rôle", "État", "Double authentification")
        for u in repo.list_users(db, limit=10_000):
            state = "désactivé" if u.status != "active" else ("verrouillé" if u.locked_until else "actif")
            table.add_row(u.username, u.display_name, Role.label_of(u.role), state,
                          "activée" if u.totp_enrolled_at else "à enrôler")
        out.print(table)


@user_app.command("disable")
def disable(username: str) -> None:
    """Désactive un compte et révoque toutes ses sessions et tous ses jetons."""
    with unit_of_work() as db:
        user = service.get_user(db, username)
        service.disable_user(db, user)
        _audit_cli(db, "admin_disable", "user_account", str(user.id))
    out.print(f"Compte « {username} » désactivé ; sessions et jetons révoqués.")


@user_app.command("unlock")
def unlock(username: str) -> None:
    """Lève le verrouillage après trop d'échecs de connexion."""
    with unit_of_work() as db:
        user = service.get_user(db, username)
        service.unlock_user(db, user)
        _audit_cli(db, "admin_unlock", "user_account", str(user.id))
    out.print(f"Compte « {username} » déverrouillé.")


@user_app.command("reset-password")
def reset_password(username: str) -> None:
    """Réinitialise le mot de passe : un mot de passe à usage unique, affiché une seule fois, valable 24 heures,
    à remplacer à la première connexion. Les sessions du compte sont fermées."""
    settings = get_settings()
    with unit_of_work() as db:
        user = service.get_user(db, username)
        password = service.reset_password(db, user, settings)
        _audit_cli(db, "admin_reset_password", "user_account", str(user.id))
    out.print(f"Mot de passe de « {username} » réinitialisé ; ses sessions sont fermées.")
    out.print(f"Mot de passe à usage unique (valable {settings.one_time_password_hours} heures, à remettre par un "
              f"canal sûr) : {password}")


@user_app.command("reset-2fa")
def reset_2fa(username: str) -> None:
    """Réinitialise la double authentification : le compte se ré-enrôlera à la prochaine connexion."""
    with unit_of_work() as db:
        user = service.get_user(db, username)
        second_factor.reset_second_factor(db, user)
        _audit_cli(db, "admin_reset_2fa", "user_account", str(user.id))
    out.print(f"Double authentification de « {username} » réinitialisée ; ses sessions sont fermées.")


@device_app.command("create")
def device_create(
    identifier: Annotated[str, typer.Argument(help="Identifiant de l'appareil chez son fabricant")],
    label: Annotated[str, typer.Option(help="Libellé lisible")] = "",
) -> None:
    """Crée le secret d'un appareil (affiché une seule fois), limité à l'envoi de mesures."""
    with unit_of_work() as db:
        issued = tokens.create_device_credential(db, device_identifier=identifier, label=label or identifier)
        _audit_cli(db, "create", "device_credential", str(issued.id))
    out.print(f"Secret de l'appareil « {identifier} » : {issued.secret}")


@device_app.command("revoke")
def device_revoke(identifier: str) -> None:
    """Révoque le secret d'un appareil."""
    with unit_of_work() as db:
        tokens.revoke_device(db, identifier)
        _audit_cli(db, "revoke", "device_credential", identifier)
    out.print(f"Appareil « {identifier} » révoqué.")


@token_app.command("create-service")
def token_create_service(
    service_name: Annotated[str, typer.Argument(help="Nom du système tiers")],
    role: Annotated[Role, typer.Option(help="Rôle dont le jeton reçoit des permissions")],
    scope: Annotated[list[str], typer.Option("--scope", help="Permission accordée (répétable)")],
    days: Annotated[int, typer.Option(help="Validité en jours")] = 365,
) -> None:
    """Crée un jeton de service limité à des portées (affiché une seule fois)."""
    with unit_of_work() as db:
        issued = tokens.create_service_token(db, service_name=service_name, role=role, name=service_name,
                                              scopes=scope, days=days)
        _audit_cli(db, "create", "api_token", str(issued.id))
    out.print(f"Jeton de service : {issued.secret}")


@user_app.command("demo-code")
def demo_code(username: str) -> None:
    """Affiche le code TOTP du moment d'un compte (développement seulement, pour la démonstration)."""
    if get_settings().environment != "development":
        err.print("[red]Erreur :[/red] commande réservée à l'environnement de développement.")
        raise typer.Exit(2)
    with unit_of_work() as db:
        user = service.get_user(db, username)
        out.print(second_factor.current_totp_code(db, user))
