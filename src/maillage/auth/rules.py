"""Pure rules of authentication: password policy, lock-out thresholds, cookie and token names. No I/O here."""

from __future__ import annotations

import datetime as dt

# -- Passwords ------------------------------------------------------------------------------------------

PASSWORD_MIN_LENGTH = 12
PASSPHRASE_LENGTH = 16
PASSWORD_MAX_LENGTH = 256

# A few of the most common passwords and their French favourites; the length rule already excludes most.
COMMON_PASSWORDS = frozenset(
    {
        "motdepasse123", "motdepasse1234", "azertyuiop123", "azertyuiop1234", "password1234", "password12345",
        "123456789012", "1234567890123", "qwertyuiop123", "soleil123456", "bonjour123456", "maillage2026!",
        "hopital123456", "medecin123456", "infirmiere123", "changeme1234", "azerty123456", "administrateur",
    }
)


def password_problems(password: str, username: str = "") -> list[str]:
    """Return what is wrong with a new password, in French (empty list: acceptable).

    Rules (ANSSI, « Recommandations relatives à l'authentification multifacteur et aux mots de passe »,
    2021: with a second factor, a password of 12+ characters from a wide alphabet is adequate; long
    passphrases are encouraged): at least 12 characters with three kinds of characters among
    lower case, upper case, digits and symbols, or a passphrase of 16 characters or more; never the
    user name, never a common password.
    """
    problems: list[str] = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(f"Le mot de passe doit contenir au moins {PASSWORD_MIN_LENGTH} caractères.")
    if len(password) > PASSWORD_MAX_LENGTH:
        problems.append(f"Le mot de passe ne doit pas dépasser {PASSWORD_MAX_LENGTH} caractères.")
    kinds = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if len(password) < PASSPHRASE_LENGTH and kinds < 3:
        problems.append(
            "Utilisez au moins trois types de caractères (minuscules, majuscules, chiffres, symboles) "
            f"ou une phrase de passe d'au moins {PASSPHRASE_LENGTH} caractères."
        )
    if username and username.lower() in password.lower():
        problems.append("Le mot de passe ne doit pas contenir l'identifiant.")
    if password.lower() in COMMON_PASSWORDS:
        problems.append("Ce mot de passe est trop courant.")
    return problems


# -- Lock-out ------------------------------------------------------------------------------------------


def lockout_minutes(lockouts_so_far: int, base_minutes: int, max_minutes: int) -> int:
    """Duration of the next lock-out: base, then doubled at each new lock-out, capped.

    After ``login_max_failures`` consecutive failures the account is locked; an administrator can
    lift the lock at any time (``maillage user unlock`` or the accounts page).
    """
    return int(min(max_minutes, base_minutes * (2 ** max(0, lockouts_so_far))))


# -- Secrets handed to people and machines -------------------------------------------------------------

CSRF_COOKIE = "maillage_csrf"
TOKEN_PREFIXES = {"personal": "mlg_pat_", "service": "mlg_svc_", "device": "mlg_dev_"}

# -- Sessions and tokens in use ---------------------------------------------------------------------------

# The last use of a session or token is written at most once a minute, not on every request.
TOUCH_SECONDS = 60


def touch_due(last_use: dt.datetime | None, at: dt.datetime) -> bool:
    return last_use is None or (at - last_use).total_seconds() >= TOUCH_SECONDS


def session_is_live(*, revoked_at: dt.datetime | None, expires_at: dt.datetime, last_seen_at: dt.datetime,
                    account_status: str | None, at: dt.datetime, idle_minutes: int) -> bool:
    """A session opens nothing once revoked, past its absolute expiry, idle for ``idle_minutes``, or when its account
    is not active (disabled, or gone)."""
    if revoked_at is not None or expires_at <= at:
        return False
    if last_seen_at + dt.timedelta(minutes=idle_minutes) <= at:
        return False
    return account_status == "active"


def normalise_username(username: str) -> str:
    return username.strip().lower()


USERNAME_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-@")


def username_problems(username: str) -> list[str]:
    name = normalise_username(username)
    problems = []
    if not 3 <= len(name) <= 64:
        problems.append("L'identifiant doit contenir entre 3 et 64 caractères.")
    if any(c not in USERNAME_ALLOWED for c in name):
        problems.append("L'identifiant ne peut contenir que des lettres sans accent, chiffres et . _ - @")
    return problems


# A session's browser, as its owner recognises it ("Firefox sous Windows"), from its User-Agent header. Order
# matters: Edge and Opera announce Chrome, Chrome announces Safari; Android announces Linux, iOS announces Mac OS.
_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def describe_user_agent(user_agent: str | None) -> str:
    """"Firefox sous Windows", "Safari sur iPhone", or "Navigateur non reconnu" (never the raw header)."""
    text = user_agent or ""
    browser = next((name for marker, name in _BROWSERS if marker in text), None)
    system = next((name for marker, name in _SYSTEMS if marker in text), None)
    if browser and system:
        on = "sur" if system in ("Android", "iPhone", "iPad") else "sous"
        return f"{browser} {on} {system}"
    if browser or system:
        return browser or f"Navigateur sous {system}"
    return "Navigateur non reconnu" if text else "—"
