"""The port for OpenID Connect login (Pro Santé Connect in production).

A provider adapter implements ``IdentityProvider``; the login service maps the verified identity to
an account through ``login_with_external_identity``, so adding a provider touches no call site:
the route that receives the provider's redirect calls the adapter, then this function, then opens
a session exactly like the password + TOTP flow does (``complete_login``).

The Pro Santé Connect adapter is ``auth/psc.py``; ``sign_in_external`` is the use case its return route runs:
the identity is refused below the required assurance level, then found by its link to an account, or by its
national identifier (IdNat_PS) to the directory's professional and that professional's account (linked at this
first sign-in), or recorded as an access request an administrator decides on (``PscAccessRequest``). Every
attempt is audited and counted in the address's rate limit, like a password sign-in. Pro Santé Connect
authenticates with the CPS card or e-CPS, itself a strong second factor, so an account signed in through it skips
Maillage's TOTP step.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.auth import repository as repo
from maillage.auth.account_events import audit_user_event
from maillage.exceptions import NotFound
from maillage.kit.clock import now
from maillage.models.auth import LoginAttempt, UserAccount
from maillage.models.directory import Professional, ProfessionalRole
from maillage.models.psc import PscAccessRequest
from maillage.security.context import AuditContext


@dataclass(frozen=True)
class ExternalIdentity:
    issuer: str
    subject: str
    rpps: str | None = None       # Pro Santé Connect's SubjectRefPro / IdNat_PS, when present
    acr: str | None = None        # authentication context: e.g. eidas2 / eidas3 for CPS and e-CPS
    display_name: str | None = None
    national_id: str | None = None  # IdNat_PS: "8" + RPPS, or "0" + ADELI


class IdentityProvider(Protocol):
    issuer: str

    def authorization_url(self, state: str, nonce: str, redirect_uri: str, code_challenge: str) -> str: ...

    def exchange_code(self, code: str, redirect_uri: str, nonce: str, code_verifier: str) -> ExternalIdentity: ...


# eIDAS levels as Pro Santé Connect names them, weakest first (PSC signs in at eidas1 with CPS or e-CPS today).
ACR_ORDER = ("eidas1", "eidas2", "eidas3")
STRONG_ACR = frozenset({"eidas2", "eidas3"})


def acr_satisfies(acr: str | None, required: str) -> bool:
    """True when the authentication context ``acr`` is at least ``required``; an unknown or missing one is not."""
    if acr not in ACR_ORDER or required not in ACR_ORDER:
        return False
    return ACR_ORDER.index(acr) >= ACR_ORDER.index(required)


def login_with_external_identity(session: Session, identity: ExternalIdentity,
                                 required_acr: str | None = None) -> UserAccount | None:
    """The active account linked to this external identity, or None (unknown, disabled, or too weak).

    Without ``required_acr`` a context other than eidas2 / eidas3 is refused when one is given."""
    if required_acr is not None:
        if not acr_satisfies(identity.acr, required_acr):
            return None
    elif identity.acr is not None and identity.acr not in STRONG_ACR:
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


@dataclass(frozen=True)
class ExternalSignIn:
    outcome: Literal["signed_in", "pending", "refused"]
    user: UserAccount | None = None
    reason: str = ""


def record_external_failure(session: Session, identity_label: str, reason: str, *, address: str,
                            context: AuditContext | None, user: UserAccount | None = None) -> ExternalSignIn:
    """A refused external sign-in: audited and counted against the address like a wrong password."""
    session.add(LoginAttempt(username=identity_label[:64], address=address[:64], at=now(), success=False,
                             details={"method": "oidc", "reason": reason}))
    audit_user_event(session, user, "login", "failure", context, method="oidc", reason=reason)
    session.flush()
    return ExternalSignIn("refused", user, reason)


# The roles whose existing account a Pro Santé Connect identity of the same professional links to by itself.
AUTO_LINKED_ROLES = ("physician", "midwife", "nurse", "coordinating_nurse", "pharmacist")


def _access_request(session: Session, identity: ExternalIdentity, professional: Professional) -> PscAccessRequest:
    found = session.scalar(select(PscAccessRequest).where(PscAccessRequest.subject == identity.subject))
    if found is None:
        name = identity.display_name or " ".join(p for p in (professional.first_name, professional.last_name) if p)
        found = PscAccessRequest(issuer=identity.issuer, subject=identity.subject, national_id=professional.national_id,
                                 professional_id=professional.id, display_name=name[:200], status="pending",
                                 requested_at=now())
        session.add(found)
        session.flush()
    return found


def sign_in_external(session: Session, identity: ExternalIdentity, *, required_acr: str, address: str = "",
                     context: AuditContext | None = None) -> ExternalSignIn:
    """Map a verified external identity to an account (see the module's documentation). The caller opens the
    session on "signed_in" (through ``complete_login``, which audits the success)."""
    label = f"oidc:{identity.national_id or identity.subject}"
    if not acr_satisfies(identity.acr, required_acr):
        return record_external_failure(session, label, "acr_too_low", address=address, context=context)
    user = repo.user_by_external(session, identity.issuer, identity.subject)
    professional = (session.scalar(select(Professional).where(Professional.national_id == identity.national_id))
                    if identity.national_id else None)
    if user is None and professional is not None:
        # Linked at a first sign-in only: an active account of a care role (an administration account, whose
        # sign-in skips no factor today, is never taken over by an external identity; it asks for access instead).
        user = session.scalar(select(UserAccount).where(
            UserAccount.person_id == professional.id, UserAccount.status == "active",
            UserAccount.role.in_(AUTO_LINKED_ROLES)).order_by(UserAccount.created_at).limit(1))
        if user is not None and user.external_subject is None:
            link_external_identity(session, user, identity)
            audit_user_event(session, user, "external_identity_linked", "success", context, method="oidc",
                             issuer=identity.issuer)
        elif user is not None:
            user = None  # that account is linked to another identity: never re-linked silently
    if user is not None:
        if user.status != "active":
            return record_external_failure(session, label, "disabled", address=address, context=context, user=user)
        return ExternalSignIn("signed_in", user)
    if professional is None:
        return record_external_failure(session, label, "unknown_professional", address=address, context=context)
    request = _access_request(session, identity, professional)
    reason = "access_refused" if request.status == "refused" else "pending_approval"
    record_external_failure(session, label, reason, address=address, context=context)
    return ExternalSignIn("refused" if request.status == "refused" else "pending", None, reason)


def pending_access_requests(session: Session) -> list[PscAccessRequest]:
    return list(session.scalars(select(PscAccessRequest).where(PscAccessRequest.status == "pending")
                                .order_by(PscAccessRequest.requested_at)).all())


def decide_access_request(session: Session, request_id: object, *, approve: bool, role: str, actor_id: object,
                          create_account: Callable[..., UserAccount]) -> PscAccessRequest:
    """An administrator's decision on a pending request. Approved: an account of ``role`` is created by
    ``create_account`` (the caller's account factory) for the professional, at the establishments the directory
    knows them at, and linked to the identity; it signs in through Pro Santé Connect only (its password is a random
    one nobody is told)."""
    found = session.get(PscAccessRequest, request_id)
    if found is None or found.status != "pending":
        raise NotFound("Demande introuvable ou déjà traitée.")
    found.status = "approved" if approve else "refused"
    found.decided_at = now()
    found.decided_by = actor_id  # type: ignore[assignment]
    if approve:
        establishments = tuple(dict.fromkeys(session.scalars(
            select(ProfessionalRole.establishment_id).where(ProfessionalRole.professional_id == found.professional_id,
                                                            ProfessionalRole.establishment_id.is_not(None)))))
        user = create_account(session, username=f"psc-{found.national_id}", display_name=found.display_name,
                              role=role, password=secrets.token_urlsafe(24) + "-A9", person_id=found.professional_id,
                              establishment_ids=establishments)
        link_external_identity(session, user, ExternalIdentity(found.issuer, found.subject))
        found.account_id = user.id
    session.flush()
    return found
