"""The second factor: TOTP enrolment (RFC 6238) and verification, recovery codes, the second factor's own
lock-out, and its reset by an administrator. Services flush and never commit."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import pyotp
import segno
from sqlalchemy.orm import Session

from maillage.auth import repository as repo
from maillage.auth.account_events import audit_user_event, lock_user_row, settings_or_default
from maillage.auth.rules import lockout_minutes
from maillage.config import Settings
from maillage.exceptions import NotFound, ValidationFailed
from maillage.kit.clock import now
from maillage.kit.logging import get_logger
from maillage.kit.tokens import same
from maillage.models.auth import AuthSession, LoginAttempt, RecoveryCode, UserAccount
from maillage.security.context import AuditContext
from maillage.vault import service as vault

log = get_logger("maillage.auth")

CODE_ALREADY_USED = ("Ce code a déjà été utilisé. Attendez que votre application affiche le code suivant "
                     "(30 secondes au plus), puis saisissez-le.")


class CodeAlreadyUsed(ValidationFailed):
    """The right second-factor code, already used in its 30-second step (signing in twice within a minute).

    Not a guess, so not counted as a failure; the person is told to wait for the next code."""

    def __init__(self) -> None:
        super().__init__(CODE_ALREADY_USED, details=[{"field": "code", "message": CODE_ALREADY_USED}])


TOTP_FIELD = "totp"


TOTP_PENDING_FIELD = "totp_pending"


RECOVERY_CODE_COUNT = 10


@dataclass
class TotpEnrolment:
    secret: str
    uri: str
    qr_svg: str


def begin_totp_enrolment(session: Session, user: UserAccount, settings: Settings | None = None) -> TotpEnrolment:
    """A new TOTP secret (RFC 6238: SHA-1, 6 digits, 30 s), sealed until confirmed by a first valid code."""
    s = settings_or_default(settings)
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
    return _enrolment(secret, user, settings_or_default(settings))


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
    lock_user_row(session, user)
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


def record_second_factor_failure(
    session: Session, user: UserAccount, auth_session: AuthSession | None, *, context: AuditContext | None = None,
    settings: Settings | None = None,
) -> str:
    """A wrong second-factor code. Counted on its own counter, which a correct password does not reset: after
    ``login_max_failures`` wrong codes the second factor locks (progressive, like the password lock-out), the
    password step is refused from every address meanwhile, and the pending session ends.

    Returns "locked" when this failure locked the second factor, else "failed".
    """
    s = settings_or_default(settings)
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
    audit_user_event(session, user, "login", "failure", context, reason=f"second_factor_{outcome}")
    session.flush()
    return outcome


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
