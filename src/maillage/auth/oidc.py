"""The port for OpenID Connect login (Pro Santé Connect in production).

A provider adapter implements ``IdentityProvider``; the login service maps the verified identity to
an account through ``login_with_external_identity``, so adding a provider touches no call site:
the route that receives the provider's redirect calls the adapter, then this function, then opens
a session exactly like the password + TOTP flow does (``complete_login``).

No adapter ships yet: no OpenID Connect provider can run on the development machines to test one
against (see docs/security.md). Pro Santé Connect authenticates with the CPS card or e-CPS, which is
itself a strong second factor, so an account logged in through it skips Maillage's TOTP step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session

from maillage.auth import repository as repo
from maillage.models.auth import UserAccount


@dataclass(frozen=True)
class ExternalIdentity:
    issuer: str
    subject: str
    rpps: str | None = None       # Pro Santé Connect's SubjectRefPro / IdNat_PS, when present
    acr: str | None = None        # authentication context: e.g. eidas2 / eidas3 for CPS and e-CPS
    display_name: str | None = None


class IdentityProvider(Protocol):
    issuer: str

    def authorization_url(self, state: str, nonce: str, redirect_uri: str) -> str: ...

    def exchange_code(self, code: str, redirect_uri: str, nonce: str) -> ExternalIdentity: ...


STRONG_ACR = frozenset({"eidas2", "eidas3"})


def login_with_external_identity(session: Session, identity: ExternalIdentity) -> UserAccount | None:
    """The active account linked to this external identity, or None (unknown, disabled, or too weak)."""
    if identity.acr is not None and identity.acr not in STRONG_ACR:
        return None
    user = repo.user_by_external(session, identity.issuer, identity.subject)
    if user is None or user.status != "active":
        return None
    return user


def link_external_identity(session: Session, user: UserAccount, identity: ExternalIdentity) -> None:
    """Attach an external identity to an account (an administrator's decision, audited by the caller)."""
    user.external_issuer = identity.issuer
    user.external_subject = identity.subject
    session.flush()
