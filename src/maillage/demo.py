"""Demo data for ``make run``: loaded only when the database is empty.

For now: one demo account per role, with a known password and a TOTP secret derived from the user
name (demo only: ``maillage user demo-code USERNAME`` prints the current code). The demo-territory
capability adds a whole département around them.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maillage.auth import service as auth
from maillage.auth.rules import ROLE_LABELS, Role
from maillage.config import get_settings
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.models.auth import UserAccount

DEMO_PASSWORD = "Demo-Maillage-2026"  # noqa: S105 - a published demo password, refused outside development


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    role: Role


DEMO_ACCOUNTS = [
    DemoAccount("dr.martin", "Dr Claire Martin (dermatologue, hôpital support)", Role.PHYSICIAN),
    DemoAccount("dr.dupont", "Dr Paul Dupont (médecin généraliste)", Role.PHYSICIAN),
    DemoAccount("sf.garnier", "Léa Garnier (sage-femme)", Role.MIDWIFE),
    DemoAccount("ide.leroy", "Sophie Leroy (infirmière, EHPAD)", Role.NURSE),
    DemoAccount("idec.bernard", "Julien Bernard (infirmier de coordination)", Role.COORDINATING_NURSE),
    DemoAccount("pharma.petit", "Inès Petit (pharmacienne)", Role.PHARMACIST),
    DemoAccount("fact.moreau", "Marc Moreau (bureau des entrées)", Role.BILLING_OFFICER),
    DemoAccount("analyste.roux", "Nadia Roux (analyste ARS)", Role.ANALYST),
    DemoAccount("idv.fournier", "Hugo Fournier (cellule d'identitovigilance)", Role.IDENTITY_OFFICER),
    DemoAccount("admin", "Administration Maillage", Role.ADMINISTRATOR),
]


def demo_totp_secret(username: str) -> str:
    digest = hashlib.sha256(f"maillage-demo-totp:{username}".encode()).digest()
    return base64.b32encode(digest[:20]).decode()


def seed_accounts(session: Session) -> list[DemoAccount]:
    for account in DEMO_ACCOUNTS:
        user = auth.create_user(session, username=account.username, display_name=account.display_name,
                                role=account.role, password=DEMO_PASSWORD)
        auth.enrol_totp_with_secret(session, user, demo_totp_secret(account.username))
    return DEMO_ACCOUNTS


def load_demo_if_empty(console: Any) -> bool:
    settings = get_settings()
    if settings.environment == "production":
        console.print("Pas de données de démonstration en production.")
        return False
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        if session.scalar(select(func.count()).select_from(UserAccount)):
            console.print("La base contient déjà des données : démonstration non rechargée.")
            return False
        accounts = seed_accounts(session)
        session.commit()
    engine.dispose()
    console.print("Données de démonstration chargées. Comptes (mot de passe commun : "
                  f"[bold]{DEMO_PASSWORD}[/bold]) :")
    for a in accounts:
        console.print(f"  {a.username:<15} {ROLE_LABELS[a.role]:<45} clé TOTP {demo_totp_secret(a.username)}")
    console.print("Code à six chiffres du moment : .venv/bin/maillage user demo-code IDENTIFIANT "
                  "(ou ajoutez la clé TOTP à votre application d'authentification).")
    return True
