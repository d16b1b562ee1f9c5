"""The demo accounts: one per role, with a known password and a TOTP secret derived from the user name.

Demo only: ``maillage user demo-code USERNAME`` prints the current code. The demo password is published on
purpose, so demo accounts are not asked to replace it at their first sign-in, unlike accounts made by ``maillage
user create`` (a one-time password, valid 24 h).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from maillage.auth import second_factor
from maillage.auth import service as auth
from maillage.models.auth import UserAccount
from maillage.security.roles import Role

DEMO_PASSWORD = "Demo-Maillage-2026"  # noqa: S105 - a published demo password, refused outside development


@dataclass(frozen=True)
class DemoAccount:
    """A demo account; ``job`` says what the person does in the territory, as the console lists it (two physicians
    share a role but not a job: the GP asks, the hospital's dermatologist answers)."""

    username: str
    display_name: str
    role: Role
    job: str


DEMO_ACCOUNTS = [
    DemoAccount("dr.martin", "Dr Claire Martin (dermatologue, hôpital support)", Role.PHYSICIAN,
                "dermatologue de l'hôpital support"),
    DemoAccount("dr.dupont", "Dr Paul Dupont (médecin généraliste)", Role.PHYSICIAN, "médecin généraliste"),
    DemoAccount("sf.garnier", "Léa Garnier (sage-femme)", Role.MIDWIFE, "sage-femme"),
    DemoAccount("ide.leroy", "Sophie Leroy (infirmière, EHPAD)", Role.NURSE, "infirmière d'EHPAD"),
    DemoAccount("ide.usmp", "Yanis Mercier (infirmier, unité sanitaire)", Role.NURSE,
                "infirmier de l'unité sanitaire (USMP)"),
    DemoAccount("idec.bernard", "Julien Bernard (infirmier de coordination)", Role.COORDINATING_NURSE,
                "infirmier de coordination (télésurveillance)"),
    DemoAccount("pharma.petit", "Inès Petit (pharmacienne)", Role.PHARMACIST, "pharmacienne"),
    DemoAccount("fact.moreau", "Marc Moreau (bureau des entrées)", Role.BILLING_OFFICER,
                "agent de facturation (bureau des entrées)"),
    DemoAccount("analyste.roux", "Nadia Roux (analyste ARS)", Role.ANALYST, "analyste de l'ARS"),
    DemoAccount("direction.lambert", "Anne Lambert (direction du GHT)", Role.DIRECTION,
                "directrice du GHT (pilotage du programme numérique)"),
    DemoAccount("programme.girard", "Thomas Girard (chef de programme numérique)", Role.PROGRAMME_MANAGER,
                "chef du programme numérique du territoire"),
    DemoAccount("idv.fournier", "Hugo Fournier (cellule d'identitovigilance)", Role.IDENTITY_OFFICER,
                "référent de la cellule d'identitovigilance"),
    DemoAccount("admin", "Administration Maillage", Role.ADMINISTRATOR, "administrateur de la plateforme"),
]


def demo_totp_secret(username: str) -> str:
    digest = hashlib.sha256(f"maillage-demo-totp:{username}".encode()).digest()
    return base64.b32encode(digest[:20]).decode()


def seed_accounts(session: Session) -> list[DemoAccount]:
    """Create the demo accounts. They share one published password, so its Argon2 hash is computed once (by
    ``create_user`` for the first account) and reused: hashing is deliberately slow, about a second each."""
    first: UserAccount | None = None
    for account in DEMO_ACCOUNTS:
        if first is None:
            user = auth.create_user(session, username=account.username, display_name=account.display_name,
                                    role=account.role, password=DEMO_PASSWORD)
            first = user
        else:
            user = UserAccount(username=account.username, display_name=account.display_name,
                               role=account.role.value, password_hash=first.password_hash, status="active",
                               failed_logins=0, lockouts=0, must_change_password=False)
            session.add(user)
            session.flush()
        second_factor.enrol_totp_with_secret(session, user, demo_totp_secret(account.username))
    return DEMO_ACCOUNTS
