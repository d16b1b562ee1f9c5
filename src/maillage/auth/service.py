"""Use cases of authentication: accounts, passwords, the password step of a sign-in, sessions.

The second factor is in ``second_factor``, API tokens and device credentials in ``tokens``.

Services flush and never commit. Failures never tell whether an account exists: an unknown user,
a wrong password, a disabled or a locked account all get the same answer and take the same time
(an Argon2 verification always runs).
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from maillage.auth import repository as repo
from maillage.auth.account_events import audit_user_event, lock_user_row, settings_or_default
from maillage.auth.rules import (
    lockout_minutes,
    normalise_username,
    password_problems,
    session_is_live,
    touch_due,
    username_problems,
)
from maillage.auth.second_factor import record_second_factor_failure, verify_second_factor
from maillage.config import Settings, get_settings
from maillage.exceptions import Conflict, NotFound, TooManyRequests, ValidationFailed
from maillage.kit.clock import PARIS, now
from maillage.kit.logging import get_logger
from maillage.kit.tokens import hash_token, new_token
from maillage.models.auth import (
    AuthSession,
    LoginAttempt,
    LoginThrottle,
    UserAccount,
    UserEstablishment,
)
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.roles import Role

log = get_logger("maillage.auth")
class _Hasher:
    """Argon2id with the parameters of ``settings.password_hash_profile``, built on first use.

    "rfc9106_low_memory" (the default: argon2-cffi's defaults, RFC 9106's second recommended option) for
    every real deployment; "cheapest" only for test suites, which create thousands of accounts (refused
    in production by the settings).
    """

    def __init__(self) -> None:
        self._hasher: PasswordHasher | None = None
        self._dummy = ""

    def _get(self) -> PasswordHasher:
        if self._hasher is None:
            from argon2 import profiles

            profile = get_settings().password_hash_profile
            params = profiles.CHEAPEST if profile == "cheapest" else profiles.RFC_9106_LOW_MEMORY
            self._hasher = PasswordHasher.from_parameters(params)
            self._dummy = self._hasher.hash("maillage-dummy-password-for-timing")
        return self._hasher

    def hash(self, password: str) -> str:
        return self._get().hash(password)

    def verify(self, hashed: str, password: str) -> bool:
        return self._get().verify(hashed, password)

    def check_needs_rehash(self, hashed: str) -> bool:
        return self._get().check_needs_rehash(hashed)

    @property
    def dummy(self) -> str:
        self._get()
        return self._dummy


_hasher = _Hasher()
LOGIN_FAILED = "Identifiant ou mot de passe incorrect, ou compte temporairement verrouillé."


# -- Accounts -------------------------------------------------------------------------------------------


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: Role | str,
    password: str,
    email: str | None = None,
    establishment_ids: tuple[uuid.UUID, ...] = (),
    person_id: uuid.UUID | None = None,
    one_time_password: bool = False,
    settings: Settings | None = None,
) -> UserAccount:
    """Create an active account.

    ``one_time_password``: the password was handed over by an administrator (``maillage user create``): it
    expires after ``one_time_password_hours`` and must be replaced at the first sign-in. The demo accounts
    and the test builders pass False (their published password is the point of a demonstration).
    """
    name = normalise_username(username)
    details = [{"field": "username", "message": m} for m in username_problems(name)]
    details += [{"field": "password", "message": m} for m in password_problems(password, name)]
    try:
        role = Role(role)
    except ValueError:
        details.append({"field": "role", "message": f"Rôle inconnu : {role}."})
    if not display_name.strip():
        details.append({"field": "display_name", "message": "Le nom affiché est obligatoire."})
    if details:
        raise ValidationFailed("Le compte ne peut pas être créé.", details=details)
    if repo.user_by_username(session, name) is not None:
        raise Conflict("Cet identifiant est déjà utilisé.")
    user = UserAccount(
        username=name, display_name=display_name.strip(), role=Role(role).value, email=email,
        password_hash=_hasher.hash(password), person_id=person_id, status="active", failed_logins=0, lockouts=0,
        second_factor_failures=0, must_change_password=one_time_password,
        password_expires_at=(now() + dt.timedelta(hours=settings_or_default(settings).one_time_password_hours)
                             if one_time_password else None),
    )
    session.add(user)
    session.flush()
    for i, est in enumerate(establishment_ids):
        session.add(UserEstablishment(user_id=user.id, establishment_id=est, is_default=(i == 0)))
    session.flush()
    return user


def get_user(session: Session, username: str) -> UserAccount:
    user = repo.user_by_username(session, normalise_username(username))
    if user is None:
        raise NotFound("Compte introuvable.")
    return user


def set_password(session: Session, user: UserAccount, new_password: str) -> None:
    """Store a password the user chose: no longer one-time, no expiry. Every session of the account ends."""
    problems = password_problems(new_password, user.username)
    if problems:
        raise ValidationFailed("Mot de passe refusé.", details=[{"field": "password", "message": m} for m in problems])
    user.password_hash = _hasher.hash(new_password)
    user.password_changed_at = now()
    user.must_change_password = False
    user.password_expires_at = None
    repo.revoke_sessions_of(session, user.id, now())
    session.flush()


def generate_one_time_password() -> str:
    """A random password handed over once (24 random bytes, and three kinds of characters for the rules)."""
    return secrets.token_urlsafe(18) + "-A9"


def reset_password(session: Session, user: UserAccount, settings: Settings | None = None) -> str:
    """Administrator reset: a one-time password, valid ``one_time_password_hours`` and to be replaced at the
    first sign-in; every session and personal token of the account ends at once (a reset takes an account back:
    whoever held it may have minted tokens). Returns the password, to be shown once."""
    s = settings_or_default(settings)
    password = generate_one_time_password()
    at = now()
    user.password_hash = _hasher.hash(password)
    user.password_changed_at = at
    user.must_change_password = True
    user.password_expires_at = at + dt.timedelta(hours=s.one_time_password_hours)
    repo.revoke_sessions_of(session, user.id, at)
    repo.revoke_tokens_of(session, user.id, at)
    session.flush()
    return password


def _check_new_password(user: UserAccount, new_password: str, confirmation: str) -> None:
    details = [{"field": "new_password", "message": m} for m in password_problems(new_password, user.username)]
    if new_password != confirmation:
        details.append({"field": "confirmation", "message": "Les deux saisies du nouveau mot de passe diffèrent."})
    if not details and _verifies(user.password_hash, new_password):
        details.append({"field": "new_password", "message": "Le nouveau mot de passe doit différer de l'actuel."})
    if details:
        raise ValidationFailed("Le mot de passe n'a pas été changé.", details=details)


def _verifies(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def change_password(
    session: Session, user: UserAccount, *, current_password: str, code: str, new_password: str,
    confirmation: str, context: AuditContext | None = None, settings: Settings | None = None,
) -> None:
    """A signed-in user replaces their password: the current password and a second-factor code are required.

    A wrong current password or code counts towards the lock-outs like at sign-in (and raises, nothing
    changed: the caller keeps the counters with ``commit_on_error``). On success every session ends.
    """
    s = settings_or_default(settings)
    lock_user_row(session, user)
    _check_new_password(user, new_password, confirmation)
    at = now()
    if user.locked_until and user.locked_until > at:
        # Locked by wrong passwords (here or at sign-in): nothing is checked, or the form would stay an unlimited
        # password oracle for whoever holds a session.
        audit_user_event(session, user, "password_change", "failure", context, reason="locked")
        session.flush()
        message = (f"Trop de mots de passe erronés : le compte est verrouillé jusqu'à "
                   f"{user.locked_until.astimezone(PARIS):%H:%M} (heure de Paris). Réessayez ensuite.")
        raise ValidationFailed(message, details=[{"field": "current_password", "message": message}])
    if not _verifies(user.password_hash, current_password):
        user.failed_logins += 1
        if user.failed_logins >= s.login_max_failures:
            _lock_account(user, now(), s)
        audit_user_event(session, user, "password_change", "failure", context, reason="bad_password")
        session.flush()
        raise ValidationFailed("Mot de passe actuel incorrect.",
                               details=[{"field": "current_password", "message": "Mot de passe incorrect."}])
    method = verify_second_factor(session, user, code)
    if method is None:
        record_second_factor_failure(session, user, None, context=context, settings=s)
        raise ValidationFailed("Code incorrect.", details=[{"field": "code", "message": "Code incorrect."}])
    set_password(session, user, new_password)
    audit_user_event(session, user, "password_change", "success", context, second_factor=method)


def complete_forced_change(
    session: Session, user: UserAccount, *, new_password: str, confirmation: str,
    context: AuditContext | None = None,
) -> None:
    """The first sign-in with a one-time password (password and second factor just passed) sets the user's own
    password. Every session ends, including the one that asked: the caller opens a new one."""
    if not user.must_change_password:
        raise Conflict("Aucun changement de mot de passe n'est demandé pour ce compte.")
    _check_new_password(user, new_password, confirmation)
    set_password(session, user, new_password)
    audit_user_event(session, user, "password_change", "success", context, reason="one_time_password")


def disable_user(session: Session, user: UserAccount) -> None:
    """Disable an account: it can no longer log in, and every session and token is revoked at once."""
    at = now()
    user.status = "disabled"
    repo.revoke_sessions_of(session, user.id, at)
    repo.revoke_tokens_of(session, user.id, at)
    session.flush()


def unlock_user(session: Session, user: UserAccount) -> None:
    """Lift every lock-out of the account: account-wide, second factor, and each address's."""
    user.locked_until = None
    user.failed_logins = 0
    user.second_factor_locked_until = None
    user.second_factor_failures = 0
    repo.delete_throttles_of(session, user.username)
    session.flush()


def _lock_account(user: UserAccount, at: dt.datetime, s: Settings) -> int:
    minutes = lockout_minutes(user.lockouts, s.lockout_base_minutes, s.lockout_max_minutes)
    user.locked_until = at + dt.timedelta(minutes=minutes)
    user.lockouts += 1
    user.failed_logins = 0
    log.warning("auth.account_locked", user_id=str(user.id), minutes=minutes)
    return minutes


# -- Password step ----------------------------------------------------------------------------------------


@dataclass
class LoginResult:
    user: UserAccount | None
    ok: bool
    message: str = LOGIN_FAILED


def check_address_rate(session: Session, address: str, settings: Settings | None = None) -> None:
    s = settings_or_default(settings)
    window = dt.timedelta(minutes=s.login_address_window_minutes)
    since = now() - window
    if repo.failures_from_address(session, address, since) >= s.login_address_max_failures:
        oldest = repo.oldest_failure_from_address(session, address, since) or now()
        retry = max(1, int((oldest + window - now()).total_seconds()))
        raise TooManyRequests("Trop de tentatives de connexion depuis cette adresse. Réessayez plus tard.",
                              retry_after=retry)


def authenticate_password(
    session: Session, username: str, password: str, *, address: str = "",
    context: AuditContext | None = None, settings: Settings | None = None,
) -> LoginResult:
    """The password step. Refused (one message, one Argon2 verification) when the account is unknown, disabled,
    its one-time password expired, its second factor locked, this address locked out of it, or the account
    locked and this address not one it signed in from in the last ``login_known_address_days``.

    Lock-outs are progressive (15 min, doubling up to 24 h) and kept per account *and* address: a stranger
    guessing a predictable user name from elsewhere locks out their own address, and the account only for
    addresses it was never used from, never the clinician at their usual workstation.
    """
    s = settings_or_default(settings)
    check_address_rate(session, address, s)
    name = normalise_username(username)[:64]
    address = address[:64]
    user = repo.user_by_username(session, name)
    if user is not None:
        lock_user_row(session, user)
    at = now()
    throttle = repo.throttle_of(session, name, address) if user is not None else None
    locked = ""
    if user is not None:
        if user.second_factor_locked_until and user.second_factor_locked_until > at:
            locked = "second_factor_locked"
        elif throttle is not None and throttle.locked_until and throttle.locked_until > at:
            locked = "address_locked"
        elif user.locked_until and user.locked_until > at and not repo.signed_in_from(
                session, user.id, address, at - dt.timedelta(days=s.login_known_address_days)):
            locked = "locked"
    usable = user is not None and user.status == "active" and not locked
    verified = _verifies(user.password_hash if usable and user else _hasher.dummy, password)
    expired = bool(user is not None and user.password_expires_at is not None and user.password_expires_at <= at)
    ok = bool(usable and verified and not expired)
    session.add(LoginAttempt(username=name, address=address, at=at, success=ok))
    if user is None:
        audit_user_event(session, None, "login", "failure", context, reason="unknown_user")
        session.flush()
        return LoginResult(None, False)
    if not ok:
        reason = "disabled" if user.status != "active" else (locked or ("password_expired" if verified
                                                                        else "bad_password"))
        if usable and not verified:
            if throttle is None:
                throttle = LoginThrottle(username=name, address=address, failures=0, lockouts=0)
                session.add(throttle)
            throttle.failures += 1
            throttle.updated_at = at
            if throttle.failures >= s.login_max_failures:
                minutes = lockout_minutes(throttle.lockouts, s.lockout_base_minutes, s.lockout_max_minutes)
                throttle.locked_until = at + dt.timedelta(minutes=minutes)
                throttle.lockouts += 1
                throttle.failures = 0
                reason = "address_locked_now"
            user.failed_logins += 1
            if user.failed_logins >= s.login_max_failures:
                _lock_account(user, at, s)
                reason = "locked_now" if reason == "bad_password" else reason
        audit_user_event(session, user, "login", "failure", context, reason=reason)
        session.flush()
        return LoginResult(user, False)
    user.failed_logins = 0
    if throttle is not None:
        throttle.failures = 0
        throttle.updated_at = at
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    session.flush()
    return LoginResult(user, True, "")


# -- Sessions ---------------------------------------------------------------------------------------------


def start_session(
    session: Session, user: UserAccount, *, mfa_passed: bool, address: str = "", user_agent: str = "",
    settings: Settings | None = None,
) -> tuple[str, AuthSession]:
    s = settings_or_default(settings)
    token = new_token()
    at = now()
    establishments = repo.establishments_of(session, user.id)
    auth_session = AuthSession(
        token_hash=hash_token(token), user_id=user.id, mfa_passed=mfa_passed, created_at=at, last_seen_at=at,
        expires_at=at + dt.timedelta(hours=s.session_absolute_hours), address=address[:64],
        user_agent=user_agent[:200], establishment_id=establishments[0].establishment_id if establishments else None,
    )
    session.add(auth_session)
    session.flush()
    return token, auth_session


def resolve_session(
    session: Session, token: str, *, settings: Settings | None = None, touch: bool = True,
) -> tuple[AuthSession, UserAccount] | None:
    """The live session and active account behind a cookie token, or None (expired, idle, revoked, disabled)."""
    s = settings_or_default(settings)
    if not token or len(token) > 200:
        return None
    found = repo.session_by_token_hash(session, hash_token(token))
    if found is None:
        return None
    auth_session, user = found
    at = now()
    if user is None or not session_is_live(
            revoked_at=auth_session.revoked_at, expires_at=auth_session.expires_at,
            last_seen_at=auth_session.last_seen_at, account_status=user.status, at=at,
            idle_minutes=s.session_idle_minutes):
        return None
    if touch and touch_due(auth_session.last_seen_at, at):
        auth_session.last_seen_at = at
        session.flush()
    return auth_session, user


def revoke_session(session: Session, auth_session: AuthSession) -> None:
    auth_session.revoked_at = now()
    session.flush()


def revoke_all_sessions(session: Session, user: UserAccount) -> int:
    count = repo.revoke_sessions_of(session, user.id, now())
    session.flush()
    return count


def actor_for(session: Session, user: UserAccount, auth_session: AuthSession | None = None,
              method: str = "session", scopes: frozenset[str] = frozenset()) -> Actor:
    establishments = repo.establishment_ids_of(session, user.id)
    current = auth_session.establishment_id if auth_session else (establishments[0] if establishments else None)
    return Actor(
        user_id=user.id, username=user.username, display_name=user.display_name, role=Role(user.role),
        establishment_ids=establishments, current_establishment_id=current, auth_method=method,
        session_id=auth_session.id if auth_session else None, scopes=scopes,
    )


# -- Sign-in completed -----------------------------------------------------------------------------------


def complete_login(
    session: Session, auth_session: AuthSession, user: UserAccount, *, method: str,
    context: AuditContext | None = None, settings: Settings | None = None,
) -> tuple[str, AuthSession]:
    """Second factor passed: replace the pending session by a full one (a new token: no session fixation)."""
    auth_session.revoked_at = now()
    token, full = start_session(session, user, mfa_passed=True, address=auth_session.address or "",
                                user_agent=auth_session.user_agent or "", settings=settings)
    user.last_login_at = now()
    user.second_factor_failures = 0
    throttle = repo.throttle_of(session, user.username, (auth_session.address or "")[:64])
    if throttle is not None:
        throttle.failures = 0
        throttle.lockouts = 0
    audit_user_event(session, user, "login", "success", context, second_factor=method)
    session.flush()
    return token, full


def audit_admin_action(session: Session, actor: Actor, user: UserAccount, action: str,
                       context: AuditContext | None = None) -> None:
    audit_user_event(session, user, f"admin_{action}", "success", context, actor=actor)

