"""API tokens (personal and service) and device credentials: issued once, stored hashed, resolved to an actor.
Services flush and never commit."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, replace

from sqlalchemy.orm import Session

from maillage.auth import repository as repo
from maillage.auth.account_events import settings_or_default
from maillage.auth.caller import token_actor
from maillage.auth.rules import TOKEN_PREFIXES, touch_due
from maillage.auth.service import actor_for
from maillage.config import Settings
from maillage.exceptions import Conflict, NotFound, ValidationFailed
from maillage.kit.clock import now
from maillage.kit.tokens import hash_token, new_token
from maillage.models.auth import ApiToken, DeviceCredential, UserAccount
from maillage.security import smart
from maillage.security.actor import Actor
from maillage.security.policy import ROLE_PERMISSIONS
from maillage.security.roles import Role


@dataclass
class IssuedSecret:
    secret: str
    id: uuid.UUID
    expires_at: dt.datetime | None = None
    scopes: list[str] = field(default_factory=list)


def _check_scopes(role: Role, scopes: list[str], *, smart_context: str) -> list[str]:
    """A token's scopes: Maillage permissions the role holds, and SMART v2 resource scopes (``user/...`` on a
    personal token, ``system/...`` on a service token) for the FHIR interface, where the role still applies."""
    allowed = {p.value for p in ROLE_PERMISSIONS[role]}
    problems: list[str] = []
    for scope in scopes:
        if smart.looks_like_smart_scope(scope):
            try:
                parsed = smart.parse_scope(scope)
            except smart.ScopeProblem as exc:
                problems.append(str(exc))
                continue
            if (parsed.context == "system") != (smart_context == "system"):
                problems.append(f"Portée refusée : {scope} (contexte {parsed.context} impossible pour ce jeton)")
        elif scope not in allowed and scope not in smart.NON_RESOURCE_SCOPES:
            problems.append(f"Portée refusée : {scope}")
    if problems:
        raise ValidationFailed(
            "Portée non autorisée pour ce rôle.",
            details=[{"field": "scopes", "message": m} for m in problems],
        )
    return sorted(set(scopes))


def _expiry(days: int, s: Settings) -> dt.datetime:
    if not 1 <= days <= s.api_token_max_days:
        raise ValidationFailed(
            f"La durée de validité doit être comprise entre 1 et {s.api_token_max_days} jours.",
            details=[{"field": "expires_in_days", "message": "Durée hors limites."}],
        )
    return now() + dt.timedelta(days=days)


def create_personal_token(
    session: Session, user: UserAccount, *, name: str, scopes: list[str], days: int = 90,
    settings: Settings | None = None,
) -> IssuedSecret:
    s = settings_or_default(settings)
    if not name.strip() or len(name) > 100:
        raise ValidationFailed("Donnez un nom au jeton (100 caractères au plus).",
                               details=[{"field": "name", "message": "Nom obligatoire."}])
    checked = _check_scopes(Role(user.role), scopes, smart_context="user") if scopes else []
    secret = new_token(TOKEN_PREFIXES["personal"])
    row = ApiToken(kind="personal", user_id=user.id, name=name.strip(), prefix=secret[:12],
                   token_hash=hash_token(secret), scopes=checked, expires_at=_expiry(days, s))
    session.add(row)
    session.flush()
    return IssuedSecret(secret, row.id, row.expires_at, checked)


def create_service_token(
    session: Session, *, service_name: str, role: Role | str, name: str, scopes: list[str], days: int = 365,
    settings: Settings | None = None,
) -> IssuedSecret:
    s = settings_or_default(settings)
    r = Role(role)
    if not scopes:
        raise ValidationFailed("Un jeton de service doit avoir au moins une portée.",
                               details=[{"field": "scopes", "message": "Portée obligatoire."}])
    checked = _check_scopes(r, scopes, smart_context="system")
    secret = new_token(TOKEN_PREFIXES["service"])
    row = ApiToken(kind="service", service_name=service_name, service_role=r.value, name=name, prefix=secret[:12],
                   token_hash=hash_token(secret), scopes=checked, expires_at=_expiry(days, s))
    session.add(row)
    session.flush()
    return IssuedSecret(secret, row.id, row.expires_at, checked)


def revoke_token(session: Session, token_id: uuid.UUID, owner: UserAccount) -> None:
    """Revoke one of ``owner``'s personal tokens. Another's token, or a service token, is "not found"."""
    row = session.get(ApiToken, token_id)
    if row is None or row.kind != "personal" or row.user_id != owner.id:
        raise NotFound("Jeton introuvable.")
    if row.revoked_at is None:
        row.revoked_at = now()
    session.flush()


def resolve_token(session: Session, secret: str) -> Actor | None:
    """The actor of a personal or service token, read in ``session``'s transaction (what it flushed included)."""
    session.flush()
    return token_actor(session.connection(), secret)


def actor_of_token(session: Session, token_id: uuid.UUID) -> Actor | None:
    """The actor a token acts as now, by its id, for work done later on its behalf (a FHIR bulk export run by the
    worker): None once the token is revoked or expired, or its account is no longer active."""
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None or row.expires_at <= now():
        return None
    user = session.get(UserAccount, row.user_id) if row.user_id is not None else None
    if row.kind == "personal":
        if user is None or user.status != "active":
            return None
        scopes = frozenset(row.scopes or [])
        return replace(actor_for(session, user, method="token", scopes=scopes), token_id=row.id)
    role = Role(row.service_role or Role.ANALYST)
    return Actor(user_id=row.id, username=f"service:{row.service_name}", display_name=row.name, role=role,
                 auth_method="service_token", scopes=frozenset(row.scopes or []), token_id=row.id)


@dataclass(frozen=True)
class DeviceActor:
    """A connected device or gateway: may send readings, nothing else."""

    credential_id: uuid.UUID
    device_identifier: str
    establishment_id: uuid.UUID | None


def create_device_credential(
    session: Session, *, device_identifier: str, label: str, establishment_id: uuid.UUID | None = None,
) -> IssuedSecret:
    ident = device_identifier.strip()
    if not ident or len(ident) > 128:
        raise ValidationFailed("Identifiant d'appareil invalide.",
                               details=[{"field": "device_identifier", "message": "1 à 128 caractères."}])
    if repo.device_by_identifier(session, ident) is not None:
        raise Conflict("Cet appareil a déjà un identifiant de connexion : révoquez-le d'abord.")
    secret = new_token(TOKEN_PREFIXES["device"])
    row = DeviceCredential(device_identifier=ident, label=label, establishment_id=establishment_id,
                           prefix=secret[:12], secret_hash=hash_token(secret))
    session.add(row)
    session.flush()
    return IssuedSecret(secret, row.id, None, ["ingest"])


def revoke_device(session: Session, device_identifier: str) -> None:
    row = repo.device_by_identifier(session, device_identifier)
    if row is None:
        raise NotFound("Appareil introuvable.")
    row.revoked_at = now()
    row.device_identifier = f"{row.device_identifier}#revoked-{row.id.hex[:8]}"
    session.flush()


def resolve_device(session: Session, secret: str) -> DeviceActor | None:
    if not secret.startswith(TOKEN_PREFIXES["device"]) or len(secret) > 200:
        return None
    row = repo.device_by_hash(session, hash_token(secret))
    if row is None or row.revoked_at is not None:
        return None
    at = now()
    if touch_due(row.last_used_at, at):
        row.last_used_at = at
        session.flush()
    return DeviceActor(row.id, row.device_identifier, row.establishment_id)
