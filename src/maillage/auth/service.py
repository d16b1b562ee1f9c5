"""Use cases of authentication: accounts, passwords, second factor, sessions, tokens, devices.

Services flush and never commit. Failures never tell whether an account exists: an unknown user,
a wrong password, a disabled or a locked account all get the same answer and take the same time
(an Argon2 verification always runs).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import pyotp
import segno
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.auth import repository as repo
from maillage.auth.rules import (
    TOKEN_PREFIXES,
    lockout_minutes,
    normalise_username,
    password_problems,
    username_problems,
)
from maillage.config import Settings, get_settings
from maillage.exceptions import Conflict, NotFound, PermissionDenied, TooManyRequests, ValidationFailed
from maillage.kit.clock import PARIS, now
from maillage.kit.logging import get_logger
from maillage.kit.tokens import hash_token, new_token, same
from maillage.models.auth import (
    ApiToken,
    AuthSession,
    DeviceCredential,
    LoginAttempt,
    LoginThrottle,
    RecoveryCode,
    UserAccount,
    UserEstablishment,
)
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import ROLE_PERMISSIONS
from maillage.security.roles import Role
from maillage.vault import service as vault

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
CODE_ALREADY_USED = ("Ce code a déjà été utilisé. Attendez que votre application affiche le code suivant "
                     "(30 secondes au plus), puis saisissez-le.")
TOTP_FIELD = "totp"
TOTP_PENDING_FIELD = "totp_pending"
RECOVERY_CODE_COUNT = 10
SESSION_TOUCH_SECONDS = 60


class CodeAlreadyUsed(ValidationFailed):
    """The right second-factor code, already used in its 30-second step (signing in twice within a minute).

    Not a guess, so not counted as a failure; the person is told to wait for the next code."""

    def __init__(self) -> None:
        super().__init__(CODE_ALREADY_USED, details=[{"field": "code", "message": CODE_ALREADY_USED}])


def _settings(settings: Settings | None) -> Settings:
    return settings or get_settings()


def _lock_user(session: Session, user: UserAccount) -> None:
    """Re-read the account under a row lock until the transaction ends (``FOR UPDATE`` on PostgreSQL; SQLite
    serialises writers already), before a guess is checked and counted: attempts sent at once are counted one
    after the other, on fresh counters, instead of each writing back the same count plus one."""
    session.flush()
    session.refresh(user, with_for_update=True)


def _audit_user(session: Session, user: UserAccount | None, action: str, outcome: str = "success",
                context: AuditContext | None = None, actor: Actor | None = None, **details: Any) -> None:
    fields: dict[str, Any] = actor.audit_fields if actor else {
        "actor_id": str(user.id) if user else None, "actor_role": user.role if user else None,
        "establishment_id": None,
    }
    record(
        session, action=action, object_type="user_account", object_id=str(user.id) if user else None,
        outcome=outcome, context=context, details=details or None, **fields,
    )


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
        password_expires_at=(now() + dt.timedelta(hours=_settings(settings).one_time_password_hours)
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
    s = _settings(settings)
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
    s = _settings(settings)
    _lock_user(session, user)
    _check_new_password(user, new_password, confirmation)
    at = now()
    if user.locked_until and user.locked_until > at:
        # Locked by wrong passwords (here or at sign-in): nothing is checked, or the form would stay an unlimited
        # password oracle for whoever holds a session.
        _audit_user(session, user, "password_change", "failure", context, reason="locked")
        session.flush()
        message = (f"Trop de mots de passe erronés : le compte est verrouillé jusqu'à "
                   f"{user.locked_until.astimezone(PARIS):%H:%M} (heure de Paris). Réessayez ensuite.")
        raise ValidationFailed(message, details=[{"field": "current_password", "message": message}])
    if not _verifies(user.password_hash, current_password):
        user.failed_logins += 1
        if user.failed_logins >= s.login_max_failures:
            _lock_account(user, now(), s)
        _audit_user(session, user, "password_change", "failure", context, reason="bad_password")
        session.flush()
        raise ValidationFailed("Mot de passe actuel incorrect.",
                               details=[{"field": "current_password", "message": "Mot de passe incorrect."}])
    method = verify_second_factor(session, user, code)
    if method is None:
        record_second_factor_failure(session, user, None, context=context, settings=s)
        raise ValidationFailed("Code incorrect.", details=[{"field": "code", "message": "Code incorrect."}])
    set_password(session, user, new_password)
    _audit_user(session, user, "password_change", "success", context, second_factor=method)


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
    _audit_user(session, user, "password_change", "success", context, reason="one_time_password")


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
    s = _settings(settings)
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
    s = _settings(settings)
    check_address_rate(session, address, s)
    name = normalise_username(username)[:64]
    address = address[:64]
    user = repo.user_by_username(session, name)
    if user is not None:
        _lock_user(session, user)
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
        _audit_user(session, None, "login", "failure", context, reason="unknown_user")
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
        _audit_user(session, user, "login", "failure", context, reason=reason)
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
    s = _settings(settings)
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
    s = _settings(settings)
    if not token or len(token) > 200:
        return None
    auth_session = repo.session_by_token_hash(session, hash_token(token))
    if auth_session is None or auth_session.revoked_at is not None:
        return None
    at = now()
    if auth_session.expires_at <= at or auth_session.last_seen_at + dt.timedelta(minutes=s.session_idle_minutes) <= at:
        return None
    user = repo.user_by_id(session, auth_session.user_id)
    if user is None or user.status != "active":
        return None
    if touch and (at - auth_session.last_seen_at).total_seconds() >= SESSION_TOUCH_SECONDS:
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
    establishments = tuple(e.establishment_id for e in repo.establishments_of(session, user.id))
    current = auth_session.establishment_id if auth_session else (establishments[0] if establishments else None)
    return Actor(
        user_id=user.id, username=user.username, display_name=user.display_name, role=Role(user.role),
        establishment_ids=establishments, current_establishment_id=current, auth_method=method,
        session_id=auth_session.id if auth_session else None, scopes=scopes,
    )


# -- Second factor ----------------------------------------------------------------------------------------


@dataclass
class TotpEnrolment:
    secret: str
    uri: str
    qr_svg: str


def begin_totp_enrolment(session: Session, user: UserAccount, settings: Settings | None = None) -> TotpEnrolment:
    """A new TOTP secret (RFC 6238: SHA-1, 6 digits, 30 s), sealed until confirmed by a first valid code."""
    s = _settings(settings)
    secret = pyotp.random_base32(32)
    vault.seal(session, object_type="user_account", object_id=str(user.id), field=TOTP_PENDING_FIELD,
               plaintext=secret.encode())
    return _enrolment(secret, user, s)


def pending_totp_enrolment(session: Session, user: UserAccount, settings: Settings | None = None) -> TotpEnrolment:
    try:
        secret = vault.unseal(session, object_type="user_account", object_id=str(user.id),
                              field=TOTP_PENDING_FIELD).decode()
    except NotFound:
        return begin_totp_enrolment(session, user, settings)
    return _enrolment(secret, user, _settings(settings))


def _enrolment(secret: str, user: UserAccount, s: Settings) -> TotpEnrolment:
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=s.totp_issuer)
    svg = segno.make(uri, error="m").svg_inline(scale=4, title="Code QR d'enrôlement", dark="#000", light="#fff")
    return TotpEnrolment(secret, uri, svg)


def _matching_step(secret: str, code: str, at: dt.datetime, last_step: int | None) -> int | None:
    """The 30-second step the code belongs to (current ±1 for clock drift), refusing replays."""
    step, _ = _match_totp(secret, code, at, last_step)
    return step


def _match_totp(secret: str, code: str, at: dt.datetime, last_step: int | None) -> tuple[int | None, bool]:
    """(step, False) for a valid fresh code; (None, True) for a valid code of a step already used; else
    (None, False)."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None, False
    totp = pyotp.TOTP(secret)
    current = int(at.timestamp()) // 30
    replayed = False
    for step in (current, current - 1, current + 1):
        if same(totp.at(step * 30), code):
            if last_step is None or step > last_step:
                return step, False
            replayed = True
    return None, replayed


def confirm_totp_enrolment(session: Session, user: UserAccount, code: str) -> list[str]:
    """Activate the pending secret if ``code`` is valid; return the recovery codes, shown once."""
    try:
        secret = vault.unseal(session, object_type="user_account", object_id=str(user.id),
                              field=TOTP_PENDING_FIELD).decode()
    except NotFound as exc:
        raise ValidationFailed("Aucun enrôlement en cours : recommencez.") from exc
    step = _matching_step(secret, code, now(), None)
    if step is None:
        raise ValidationFailed("Code incorrect. Vérifiez l'heure de votre téléphone et saisissez le code affiché.",
                               details=[{"field": "code", "message": "Code incorrect."}])
    vault.seal(session, object_type="user_account", object_id=str(user.id), field=TOTP_FIELD,
               plaintext=secret.encode())
    vault.delete_object(session, object_type="user_account", object_id=str(user.id), field=TOTP_PENDING_FIELD)
    user.totp_enrolled_at = now()
    user.totp_last_step = step
    codes = _new_recovery_codes(session, user)
    session.flush()
    return codes


def _recovery_hash(user: UserAccount, code: str) -> str:
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(f"{user.id}:{normalised}".encode()).hexdigest()


def _new_recovery_codes(session: Session, user: UserAccount) -> list[str]:
    repo.delete_recovery_codes(session, user.id)
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(alphabet) for _ in range(10))
        code = f"{raw[:5]}-{raw[5:]}"
        codes.append(code)
        session.add(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(user, code)))
    session.flush()
    return codes


def verify_second_factor(session: Session, user: UserAccount, code: str) -> str | None:
    """Check a TOTP code or a recovery code. Returns "totp", "recovery" or None. Each code works once; the
    right TOTP code of a step already used raises ``CodeAlreadyUsed``. Nothing passes while the second factor
    is locked."""
    _lock_user(session, user)
    if user.totp_enrolled_at is None or user.status != "active" or (
            user.second_factor_locked_until and user.second_factor_locked_until > now()):
        return None
    cleaned = code.strip()
    if len(cleaned.replace(" ", "")) == 6:
        secret = vault.unseal(session, object_type="user_account", object_id=str(user.id), field=TOTP_FIELD).decode()
        step, replayed = _match_totp(secret, cleaned, now(), user.totp_last_step)
        if step is not None:
            user.totp_last_step = step
            session.flush()
            return "totp"
        if replayed:
            raise CodeAlreadyUsed()
        return None
    wanted = _recovery_hash(user, cleaned)
    for rc in repo.unused_recovery_codes(session, user.id):
        if same(rc.code_hash, wanted):
            rc.used_at = now()
            session.flush()
            return "recovery"
    return None


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
    _audit_user(session, user, "login", "success", context, second_factor=method)
    session.flush()
    return token, full


def reset_second_factor(session: Session, user: UserAccount) -> None:
    """Administrator re-enrolment: the secret and recovery codes go, sessions and personal tokens end (as for a
    password reset), next login re-enrols."""
    vault.delete_object(session, object_type="user_account", object_id=str(user.id), field=TOTP_FIELD)
    vault.delete_object(session, object_type="user_account", object_id=str(user.id), field=TOTP_PENDING_FIELD)
    repo.delete_recovery_codes(session, user.id)
    user.totp_enrolled_at = None
    user.totp_last_step = None
    repo.revoke_sessions_of(session, user.id, now())
    repo.revoke_tokens_of(session, user.id, now())
    session.flush()


# -- API tokens and device credentials --------------------------------------------------------------------


@dataclass
class IssuedSecret:
    secret: str
    id: uuid.UUID
    expires_at: dt.datetime | None = None
    scopes: list[str] = field(default_factory=list)


def _check_scopes(role: Role, scopes: list[str]) -> list[str]:
    allowed = {p.value for p in ROLE_PERMISSIONS[role]}
    unknown = [s for s in scopes if s not in allowed]
    if unknown:
        raise ValidationFailed(
            "Portée non autorisée pour ce rôle.",
            details=[{"field": "scopes", "message": f"Portée refusée : {s}"} for s in unknown],
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
    s = _settings(settings)
    if not name.strip() or len(name) > 100:
        raise ValidationFailed("Donnez un nom au jeton (100 caractères au plus).",
                               details=[{"field": "name", "message": "Nom obligatoire."}])
    checked = _check_scopes(Role(user.role), scopes) if scopes else []
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
    s = _settings(settings)
    r = Role(role)
    if not scopes:
        raise ValidationFailed("Un jeton de service doit avoir au moins une portée.",
                               details=[{"field": "scopes", "message": "Portée obligatoire."}])
    checked = _check_scopes(r, scopes)
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
    if not secret.startswith((TOKEN_PREFIXES["personal"], TOKEN_PREFIXES["service"])) or len(secret) > 200:
        return None
    row = repo.token_by_hash(session, hash_token(secret))
    at = now()
    if row is None or row.revoked_at is not None or row.expires_at <= at:
        return None
    if row.last_used_at is None or (at - row.last_used_at).total_seconds() >= SESSION_TOUCH_SECONDS:
        row.last_used_at = at
        session.flush()
    if row.kind == "personal":
        user = repo.user_by_id(session, row.user_id) if row.user_id else None
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
    if row.last_used_at is None or (at - row.last_used_at).total_seconds() >= SESSION_TOUCH_SECONDS:
        row.last_used_at = at
        session.flush()
    return DeviceActor(row.id, row.device_identifier, row.establishment_id)


def ensure_not_device(actor: object) -> None:
    if isinstance(actor, DeviceActor):
        raise PermissionDenied("Un appareil ne peut que transmettre des mesures.")


def record_second_factor_failure(
    session: Session, user: UserAccount, auth_session: AuthSession | None, *, context: AuditContext | None = None,
    settings: Settings | None = None,
) -> str:
    """A wrong second-factor code. Counted on its own counter, which a correct password does not reset: after
    ``login_max_failures`` wrong codes the second factor locks (progressive, like the password lock-out), the
    password step is refused from every address meanwhile, and the pending session ends.

    Returns "locked" when this failure locked the second factor, else "failed".
    """
    s = _settings(settings)
    at = now()
    user.second_factor_failures += 1
    outcome = "failed"
    if user.second_factor_failures >= s.login_max_failures:
        minutes = lockout_minutes(user.lockouts, s.lockout_base_minutes, s.lockout_max_minutes)
        user.second_factor_locked_until = at + dt.timedelta(minutes=minutes)
        user.lockouts += 1
        user.second_factor_failures = 0
        if auth_session is not None:
            auth_session.revoked_at = at
        outcome = "locked"
        log.warning("auth.second_factor_locked", user_id=str(user.id), minutes=minutes)
    address = (auth_session.address if auth_session is not None else (context.address if context else "")) or ""
    session.add(LoginAttempt(username=user.username, address=address[:64], at=at,
                             success=False, details={"step": "second_factor"}))
    _audit_user(session, user, "login", "failure", context, reason=f"second_factor_{outcome}")
    session.flush()
    return outcome


def audit_admin_action(session: Session, actor: Actor, user: UserAccount, action: str,
                       context: AuditContext | None = None) -> None:
    _audit_user(session, user, f"admin_{action}", "success", context, actor=actor)


def enrol_totp_with_secret(session: Session, user: UserAccount, secret: str) -> None:
    """Enrol a known TOTP secret (demo accounts and tests only: real users enrol through the page)."""
    vault.seal(session, object_type="user_account", object_id=str(user.id), field=TOTP_FIELD,
               plaintext=secret.encode())
    user.totp_enrolled_at = now()
    user.totp_last_step = None
    session.flush()


def current_totp_code(session: Session, user: UserAccount) -> str:
    """The code an authenticator would show now (demo helper: refused outside development by its callers)."""
    secret = vault.unseal(session, object_type="user_account", object_id=str(user.id), field=TOTP_FIELD).decode()
    return str(pyotp.TOTP(secret).now())
