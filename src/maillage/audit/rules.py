"""Pure rules of the audit trail: vocabulary, canonical form, hashing, chain checks, retention, filters.

No I/O here. The chain format is described in docs/adr/0004-audit-hash-chain.md; anything that changes
``CHAIN_FIELDS`` or ``canonical_json`` changes every hash and needs a new chain format.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from maillage.exceptions import ValidationFailed
from maillage.kit.clock import PARIS
from maillage.kit.enums import LabelledEnum
from maillage.security.purposes import Purpose

GENESIS_HASH = "0" * 64

# A stored entry as the chain sees it: a dict, or a database row mapping (keyed by column name).
Entry = Mapping[Any, Any]

# Every stored field of an entry except ``hash``, in the order of the table (the JSON sorts them anyway).
CHAIN_FIELDS: tuple[str, ...] = (
    "id", "seq", "occurred_at", "actor_id", "actor_role", "establishment_id", "action", "object_type",
    "object_id", "patient_id", "purpose", "break_glass", "reason", "outcome", "request_id", "address",
    "details", "prev_hash",
)
# A keyed entry also hashes the id of its key: moving it to another key, or to none, changes what is hashed.
KEYED_CHAIN_FIELDS: tuple[str, ...] = (*CHAIN_FIELDS, "key_id")

# CSP: "Les traces de tout accès [...] sont conservées pendant une durée de six mois glissants" (DOMAIN.md §7.2).
MINIMUM_RETENTION_DAYS = 183

# Lengths of the columns (models/audit.py); longer values are refused, never cut.
MAX_LENGTHS = {
    "actor_id": 64, "actor_role": 40, "establishment_id": 64, "object_type": 64, "object_id": 128,
    "patient_id": 64, "purpose": 64, "request_id": 64, "address": 64,
}
MAX_REASON_LENGTH = 2000
MAX_DETAILS = 32
MAX_DETAIL_KEY_LENGTH = 64
MAX_DETAIL_VALUE_LENGTH = 256

_ACTION = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_DETAIL_KEY = re.compile(r"^[a-z][a-z0-9_]*$")

# Keys that name personal or health data: details carry ids and counts only (CONVENTIONS rule 8).
FORBIDDEN_DETAIL_KEYS = frozenset({
    "name", "first_name", "last_name", "birth_name", "birth_date", "nir", "ins", "password", "body", "text",
    "email", "phone", "address", "question", "answer", "comment", "token", "secret", "totp", "diagnosis",
    "note", "notes", "content", "message",
})


class Outcome(LabelledEnum):
    SUCCESS = "success", "Réussi"
    DENIED = "denied", "Refusé"
    FAILURE = "failure", "Échec"

ACTION_LABELS: dict[str, str] = {
    "read": "Consultation",
    "view": "Consultation",
    "download": "Téléchargement",
    "print": "Impression",
    "create": "Création",
    "upload": "Dépôt",
    "import": "Import",
    "update": "Modification",
    "sign": "Signature",
    "dispense": "Délivrance",
    "merge": "Fusion d'identités",
    "delete": "Suppression",
    "search": "Recherche",
    "export": "Export",
    "login": "Connexion",
    "logout": "Déconnexion",
    "break_glass": "Accès en urgence",
    "purge": "Purge des traces",
    "review": "Revue",
    "unmerge": "Annulation d'une fusion d'identités",
    "attach": "Rattachement à une identité existante",
    "submit": "Envoi",
    "claim": "Prise en charge",
    "assign": "Attribution",
    "transfer": "Transfert",
    "hand_back": "Remise dans la file",
    "ask": "Demande de précisions",
    "reply": "Réponse aux précisions",
    "answer": "Réponse",
    "decline": "Refus",
    "cancel": "Annulation",
    "propose": "Proposition",
    "acknowledge": "Acquittement",
    "ingest": "Réception de mesures",
    "calcul": "Calcul",
    "revoke": "Révocation",
    "password_change": "Changement de mot de passe",
    "admin_unlock": "Déverrouillage du compte",
    "admin_disable": "Désactivation du compte",
    "admin_reset_password": "Réinitialisation du mot de passe",
    "admin_reset_2fa": "Réinitialisation de la double authentification",
}

# What an entry is about, in French (``object_type``; values recorded by the capabilities, kept in English).
OBJECT_TYPE_LABELS: dict[str, str] = {
    "patient": "Dossier patient",
    "patient_identity": "Identité du patient",
    "identity_merge": "Fusion d'identités",
    "consent": "Consentement",
    "document": "Document",
    "note": "Note",
    "message": "Message",
    "observation": "Mesure",
    "break_glass": "Accès en urgence",
    "user_account": "Compte utilisateur",
    "api_token": "Jeton d'accès",
    "device_credential": "Identifiant d'appareil",
    "professional": "Professionnel",
    "establishment": "Établissement",
    "specialty_line": "Ligne de téléexpertise",
    "directory_rpps": "Annuaire RPPS",
    "directory_finess": "Annuaire FINESS",
    "teleexpertise_request": "Demande de téléexpertise",
    "monitoring_enrolment": "Inclusion en télésurveillance",
    "monitoring_alert": "Alerte de télésurveillance",
    "monitoring_team": "Équipe de télésurveillance",
    "monitoring_device": "Appareil de télésurveillance",
    "monitoring_batch": "Lot de mesures",
    "monitoring_green_receipt": "Accusé de réception (mesures normales)",
    "monitoring_adherence": "Observance",
    "analytics_indicator": "Indicateur",
    "audit": "Traces d'accès",
    "audit_anchor": "Ancre de purge des traces",
}

PSEUDO_ROLE_LABELS: dict[str, str] = {
    "cli": "Exploitation (ligne de commande)",
    "system": "Système",
}


def action_label(action: str) -> str:
    return ACTION_LABELS.get(action, action)


def object_type_label(object_type: str | None) -> str:
    if not object_type:
        return "—"
    return OBJECT_TYPE_LABELS.get(object_type, object_type)


def outcome_label(outcome: str) -> str:
    return Outcome.label_of(outcome)


def purpose_label(purpose: str | None) -> str:
    if not purpose:
        return "—"
    return Purpose.label_of(purpose)


# -- canonical form and hashing -----------------------------------------------------------------------


def format_timestamp(value: dt.datetime) -> str:
    """ISO 8601 in UTC with microseconds, e.g. ``2026-11-28T13:23:22.000000Z``."""
    if value.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_PLAIN_TYPES = frozenset({str, int, bool, type(None)})


def _canonical_value(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return value
    if kind is dt.datetime:
        return format_timestamp(value)
    if kind is uuid.UUID:
        return str(value)
    if isinstance(value, bool | int | str):  # enums and other subclasses: JSON writes their plain value
        return value
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical_value(v) for k, v in value.items()}
    raise TypeError(f"no canonical form for {type(value).__name__}")


def canonical_json(entry: Entry) -> bytes:
    """The deterministic bytes that are hashed: every field of ``CHAIN_FIELDS`` (and ``key_id`` for a keyed entry),
    sorted keys, no spaces, UTF-8."""
    fields = KEYED_CHAIN_FIELDS if entry.get("key_id") is not None else CHAIN_FIELDS
    try:
        content = {name: _canonical_value(entry[name]) for name in fields}
    except KeyError as exc:
        raise KeyError(f"entry lacks chain field {exc}") from None
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    """Unkeyed (entries before the keyed epoch): SHA-256, hex, of the previous hash (64 hex characters, ASCII)
    followed by the canonical content."""
    return hashlib.sha256(prev_hash.encode("ascii") + canonical).hexdigest()


def keyed_chain_hash(chain_key: bytes, prev_hash: str, canonical: bytes) -> str:
    """Keyed: HMAC-SHA256, hex, under the chain key, of the previous hash followed by the canonical content.

    Without the key, which lives outside the database, nobody can compute the hash of an edited entry.
    """
    return hmac.new(chain_key, prev_hash.encode("ascii") + canonical, hashlib.sha256).hexdigest()


def entry_hash(entry: Entry, chain_key: bytes | None = None) -> str:
    """The hash ``entry`` must carry: HMAC under ``chain_key`` when it names a key, SHA-256 when it names none."""
    canonical = canonical_json(entry)
    if entry.get("key_id") is None:
        return chain_hash(str(entry["prev_hash"]), canonical)
    if chain_key is None:
        raise ValueError("a keyed entry needs its chain key")
    return keyed_chain_hash(chain_key, str(entry["prev_hash"]), canonical)


# -- chain checks -------------------------------------------------------------------------------------


class BreakKind(enum.StrEnum):
    MISSING = "missing"          # a gap in seq: entries deleted (or the anchor is wrong)
    UNEXPECTED = "unexpected"    # a seq already passed: an entry slipped in before the anchor of a purge
    RELINKED = "relinked"        # prev_hash is not the hash of the entry before: deleted, inserted or moved
    MODIFIED = "modified"        # stored hash differs from the recomputed one: content or position changed
    UNCONFIRMED_ANCHOR = "unconfirmed_anchor"  # the anchor has no matching purge entry in the chain
    UNKEYED = "unkeyed"          # an entry without key after the keyed epoch began: rewritten unkeyed
    UNKNOWN_KEY = "unknown_key"  # an entry names a key the process does not hold
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # the entry differs from what a signed checkpoint recorded
    TRUNCATED = "truncated"      # the chain ends before the head a signed checkpoint recorded
    CHECKPOINT_LOG = "checkpoint_log"  # the checkpoint register itself is altered (signature, order, gap)


BREAK_MESSAGES: dict[BreakKind, str] = {
    BreakKind.MISSING: "entrée(s) manquante(s) : le numéro {expected_seq} était attendu, {seq} trouvé",
    BreakKind.UNEXPECTED: "entrée inattendue : le numéro {expected_seq} était attendu, {seq} trouvé "
                          "(numéro couvert par une purge : entrée insérée après coup)",
    BreakKind.RELINKED: "l'empreinte précédente ne correspond pas à l'entrée qui la précède "
                        "(entrée supprimée, insérée ou déplacée)",
    BreakKind.MODIFIED: "le contenu ne correspond plus à son empreinte (entrée modifiée ou déplacée)",
    BreakKind.UNCONFIRMED_ANCHOR: "l'ancre de purge n° {anchor_id} (jusqu'au numéro {expected_seq}) "
                                  "n'est confirmée par aucune entrée de purge de la chaîne",
    BreakKind.UNKEYED: "entrée sans clé alors que la chaîne est scellée par clé depuis le numéro {expected_seq} "
                       "(entrée réécrite avec l'ancienne formule)",
    BreakKind.UNKNOWN_KEY: "scellée par une clé d'audit inconnue de ce processus ({detail}) : "
                           "clé absente du trousseau ou entrée falsifiée",
    BreakKind.CHECKPOINT_MISMATCH: "différente de ce qu'atteste le point de contrôle signé n° {checkpoint} "
                                   "(chaîne réécrite depuis ce point ou avant)",
    BreakKind.TRUNCATED: "la chaîne s'arrête au numéro {seq} alors que le point de contrôle signé n° {checkpoint} "
                         "atteste le numéro {expected_seq} : entrées les plus récentes supprimées",
    BreakKind.CHECKPOINT_LOG: "registre des points de contrôle altéré : {detail}",
}


@dataclass(frozen=True)
class ChainBreak:
    kind: BreakKind
    seq: int | None
    entry_id: str | None
    expected_seq: int | None = None
    anchor_id: int | None = None
    checkpoint: int | None = None
    detail: str | None = None

    @property
    def message(self) -> str:
        reason = BREAK_MESSAGES[self.kind].format(seq=self.seq, expected_seq=self.expected_seq,
                                                  anchor_id=self.anchor_id, checkpoint=self.checkpoint,
                                                  detail=self.detail)
        if self.entry_id is None:
            return reason
        return f"entrée n° {self.seq} (id {self.entry_id}) : {reason}"


@dataclass(frozen=True)
class ChainStart:
    """Where verification starts: after the anchor of the last purge, or at the genesis."""

    seq: int = 0
    hash: str = GENESIS_HASH
    anchor_id: int | None = None


def check_link(entry: Entry, expected_seq: int, expected_prev: str,
               chain_keys: Mapping[str, bytes] | None = None, keyed_since: int | None = None) -> ChainBreak | None:
    """Check one entry against the position and previous hash the chain expects there.

    ``chain_keys`` maps key ids to chain keys; ``keyed_since`` is the seq from which every entry must be keyed
    (the first keyed entry seen, or the one a signed checkpoint recorded), None while the chain is unkeyed.
    """
    seq = int(entry["seq"])
    entry_id = str(entry["id"])
    if seq > expected_seq:
        return ChainBreak(BreakKind.MISSING, seq, entry_id, expected_seq=expected_seq)
    if seq < expected_seq:
        return ChainBreak(BreakKind.UNEXPECTED, seq, entry_id, expected_seq=expected_seq)
    if entry["prev_hash"] != expected_prev:
        return ChainBreak(BreakKind.RELINKED, seq, entry_id)
    key_id = entry.get("key_id")
    if key_id is None:
        if keyed_since is not None and seq >= keyed_since:
            return ChainBreak(BreakKind.UNKEYED, seq, entry_id, expected_seq=keyed_since)
        chain_key = None
    else:
        chain_key = (chain_keys or {}).get(str(key_id))
        if chain_key is None:
            return ChainBreak(BreakKind.UNKNOWN_KEY, seq, entry_id, detail=f"« {str(key_id)[:64]} »")
    if not hmac.compare_digest(entry_hash(entry, chain_key), str(entry["hash"])):
        return ChainBreak(BreakKind.MODIFIED, seq, entry_id)
    return None


def confirms_anchor(entry: Entry, start: ChainStart) -> bool:
    """Is ``entry`` the purge entry that the purge wrote, in the chain, for the anchor ``start``?"""
    if start.anchor_id is None or entry["action"] != "purge" or entry["object_type"] != "audit_anchor":
        return False
    details = entry.get("details") or {}
    return (
        entry["object_id"] == str(start.anchor_id)
        and details.get("through_seq") == start.seq
        and details.get("through_hash") == start.hash
    )


# -- signed checkpoints -------------------------------------------------------------------------------

CHECKPOINT_VERSION = 1
CHECKPOINT_GENESIS = "0" * 64
# Every field of a checkpoint record but its signature, signed in this canonical form.
CHECKPOINT_FIELDS: tuple[str, ...] = ("v", "n", "at", "seq", "hash", "keyed_since", "key_id", "prev")


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement, kept outside the database: "on ``at``, the chain ran to ``seq`` whose hash was ``hash``".

    ``n`` counts the checkpoints from 1; ``prev`` is the previous checkpoint's signature (chaining the register
    itself); ``keyed_since`` the seq of the first keyed entry (None while the chain is unkeyed); ``key_id`` the
    audit key whose derived checkpoint key signed it.
    """

    n: int
    at: str
    seq: int
    hash: str
    keyed_since: int | None
    key_id: str
    prev: str
    sig: str = ""

    def payload(self) -> dict[str, Any]:
        return {"v": CHECKPOINT_VERSION, "n": self.n, "at": self.at, "seq": self.seq, "hash": self.hash,
                "keyed_since": self.keyed_since, "key_id": self.key_id, "prev": self.prev}

    def record(self) -> dict[str, Any]:
        return {**self.payload(), "sig": self.sig}


def checkpoint_signature(checkpoint_key: bytes, checkpoint: Checkpoint) -> str:
    body = json.dumps(checkpoint.payload(), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return hmac.new(checkpoint_key, body, hashlib.sha256).hexdigest()


def checkpoint_from_record(record: Mapping[str, Any]) -> Checkpoint:
    """Read a stored record; a malformed one raises ValueError (it is then reported as an altered register)."""
    if not isinstance(record, Mapping) or set(record) != {*CHECKPOINT_FIELDS, "sig"}:
        raise ValueError("champs inattendus")
    if record["v"] != CHECKPOINT_VERSION:
        raise ValueError(f"version {record['v']!r} inconnue")
    ints = ("n", "seq")
    if any(type(record[name]) is not int for name in ints) or not (
            record["keyed_since"] is None or type(record["keyed_since"]) is int):
        raise ValueError("numéros invalides")
    if not all(isinstance(record[name], str) for name in ("at", "hash", "key_id", "prev", "sig")):
        raise ValueError("champs texte invalides")
    return Checkpoint(n=record["n"], at=record["at"], seq=record["seq"], hash=record["hash"],
                      keyed_since=record["keyed_since"], key_id=record["key_id"], prev=record["prev"],
                      sig=record["sig"])


def check_checkpoints(records: list[Mapping[str, Any]],
                      checkpoint_keys: Mapping[str, bytes]) -> tuple[list[Checkpoint], ChainBreak | None]:
    """Read and check the register: each record well formed and signed, numbered from 1 without gap, chained to the
    previous signature, its seq never going back. Returns the checkpoints read before the first fault, and it."""
    out: list[Checkpoint] = []
    prev_sig, prev_seq = CHECKPOINT_GENESIS, 0
    for position, record in enumerate(records, start=1):
        def fault(detail: str, number: int = position) -> tuple[list[Checkpoint], ChainBreak]:
            return out, ChainBreak(BreakKind.CHECKPOINT_LOG, None, None, checkpoint=number,
                                   detail=f"point n° {number} : {detail}")
        try:
            checkpoint = checkpoint_from_record(record)
        except (ValueError, KeyError) as exc:
            return fault(f"enregistrement illisible ({exc})")
        key = checkpoint_keys.get(checkpoint.key_id)
        if key is None:
            return fault(f"signé par une clé d'audit inconnue « {checkpoint.key_id[:64]} »")
        if not hmac.compare_digest(checkpoint_signature(key, checkpoint), checkpoint.sig):
            return fault("signature invalide (point modifié ou forgé)")
        if checkpoint.n != position:
            return fault(f"numéro {checkpoint.n} au lieu de {position} (point supprimé, dupliqué ou déplacé)")
        if checkpoint.prev != prev_sig:
            return fault("ne suit pas le point précédent (point supprimé ou inséré)")
        if checkpoint.seq < prev_seq:
            return fault(f"numéro de chaîne {checkpoint.seq} inférieur au précédent ({prev_seq})")
        out.append(checkpoint)
        prev_sig, prev_seq = checkpoint.sig, checkpoint.seq
    return out, None


# -- retention ----------------------------------------------------------------------------------------


def check_retention(days: int, *, force: bool = False) -> None:
    if days < 1:
        raise ValidationFailed("La durée de conservation doit être d'au moins un jour.")
    if days < MINIMUM_RETENTION_DAYS and not force:
        raise ValidationFailed(
            f"La durée de conservation des traces d'accès ne peut pas être inférieure à {MINIMUM_RETENTION_DAYS} "
            "jours (six mois glissants, code de la santé publique). Utilisez --force pour passer outre."
        )


def retention_cutoff(at: dt.datetime, days: int) -> dt.datetime:
    return at - dt.timedelta(days=days)


# -- filters of the administrator's page --------------------------------------------------------------

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class AuditFilters:
    patient_id: str | None = None
    actor_id: str | None = None  # as typed: an actor id, a username or part of a display name
    since: dt.datetime | None = None   # inclusive, UTC
    until: dt.datetime | None = None   # exclusive, UTC
    break_glass_only: bool = False
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def paris_day_start(day: dt.date) -> dt.datetime:
    """The UTC instant at which ``day`` begins in Europe/Paris."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=PARIS).astimezone(dt.UTC)


def parse_day(raw: str, label: str) -> dt.date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{label} n'est pas une date valide (format attendu AAAA-MM-JJ).") from None


def _parse_id(raw: str, label: str) -> str | None:
    value = raw.strip()
    if not value:
        return None
    if len(value) > 64 or any(ch.isspace() or not ch.isprintable() for ch in value):
        raise ValidationFailed(f"{label} n'est pas un identifiant valide.")
    return value


def _parse_actor(raw: str) -> str | None:
    """An actor id, a username or part of a display name: spaces inside are kept (single), 64 characters at most."""
    value = " ".join(raw.split())
    if not value:
        return None
    if len(value) > 64 or not value.isprintable():
        raise ValidationFailed("L'acteur recherché n'est pas valide : un identifiant, un nom d'utilisateur ou un nom "
                               "de 64 caractères au plus.")
    return value


def _parse_positive(raw: str, label: str, default: int) -> int:
    raw = raw.strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationFailed(f"{label} doit être un nombre entier positif.")
    return int(raw)


def parse_filters(*, patient: str = "", actor: str = "", since: str = "", until: str = "",
                  break_glass: str = "", page: str = "1", size: str = "") -> AuditFilters:
    """Read the page's query string; dates are days in Europe/Paris, ``until`` included."""
    first = parse_day(since, "La date de début")
    last = parse_day(until, "La date de fin")
    if first and last and first > last:
        raise ValidationFailed("La date de début doit précéder la date de fin.")
    if break_glass.strip() not in ("", "0", "1", "on", "true"):
        raise ValidationFailed("Le filtre « accès en urgence » n'est pas valide.")
    page_number = _parse_positive(page, "Le numéro de page", 1)
    if page_number > 100_000:
        raise ValidationFailed("Le numéro de page est trop grand.")
    return AuditFilters(
        patient_id=_parse_id(patient, "L'identifiant du patient"),
        actor_id=_parse_actor(actor),
        since=paris_day_start(first) if first else None,
        until=paris_day_start(last + dt.timedelta(days=1)) if last else None,
        break_glass_only=break_glass.strip() in ("1", "on", "true"),
        page=page_number,
        page_size=min(_parse_positive(size, "La taille de page", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE),
    )


# -- validation of what callers record ----------------------------------------------------------------


def clean_text(field: str, value: object) -> str | None:
    """Normalise an optional identifier-like field (UUIDs become strings); refuse what the column cannot hold."""
    if value is None:
        return None
    if isinstance(value, uuid.UUID):
        value = str(value)
    if not isinstance(value, str):
        raise TypeError(f"audit field {field} must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise ValueError(f"audit field {field} contains a NUL character")
    limit = MAX_LENGTHS.get(field)
    if limit is not None and len(value) > limit:
        raise ValueError(f"audit field {field} is longer than {limit} characters")
    return value or None


def check_action(action: str) -> str:
    if not isinstance(action, str) or not _ACTION.match(action):
        raise ValueError(f"audit action must be a short lowercase verb, got {action!r}")
    return action


def check_outcome(outcome: str) -> str:
    try:
        return Outcome(outcome).value
    except ValueError:
        raise ValueError(f"unknown audit outcome {outcome!r}") from None


def check_reason(break_glass: bool, reason: str | None) -> str | None:
    if reason is not None:
        reason = reason.strip() or None
    if break_glass and reason is None:
        raise ValidationFailed("Le motif de l'accès en urgence (bris de glace) est obligatoire.")
    if reason is not None:
        if "\x00" in reason:
            raise ValidationFailed("Le motif contient un caractère interdit.")
        if len(reason) > MAX_REASON_LENGTH:
            raise ValidationFailed(f"Le motif ne doit pas dépasser {MAX_REASON_LENGTH} caractères.")
    return reason


def check_details(details: Mapping[str, object] | None) -> dict[str, str | int | bool | None] | None:
    """Ids and counts only: flat, typed, bounded, and no key that names personal data."""
    if not details:
        return None
    if len(details) > MAX_DETAILS:
        raise ValueError(f"audit details hold at most {MAX_DETAILS} keys")
    out: dict[str, str | int | bool | None] = {}
    for key, value in details.items():
        if not isinstance(key, str) or len(key) > MAX_DETAIL_KEY_LENGTH or not _DETAIL_KEY.match(key):
            raise ValueError(f"audit detail key {key!r} must be a short snake_case name")
        if key in FORBIDDEN_DETAIL_KEYS:
            raise ValueError(f"audit detail key {key!r} names personal data: details hold ids and counts only")
        if isinstance(value, uuid.UUID):
            value = str(value)
        if isinstance(value, str):
            if len(value) > MAX_DETAIL_VALUE_LENGTH or "\x00" in value:
                raise ValueError(f"audit detail {key!r} is too long or holds a NUL character")
        elif isinstance(value, int) and not isinstance(value, bool):
            if abs(value) >= 2**63:
                raise ValueError(f"audit detail {key!r} is out of range")
        elif value is not None and not isinstance(value, bool):
            raise TypeError(f"audit detail {key!r} must be str, int, bool or None, not {type(value).__name__}")
        out[key] = value
    return out


# -- the patients of a list read ----------------------------------------------------------------------

# Detail keys that a list read's entry carries: its patients' count and digest (the chain covers the ids
# stored in audit_entry_patient through this digest, which is hashed with the entry).
LIST_ACTION = "search"  # a list read is an entry of this action; only it may name the patients of a list
LIST_PATIENTS_KEY = "patients"
LIST_DIGEST_KEY = "patients_sha256"


def check_list_patients(patient_ids: object) -> tuple[str, ...]:
    """The distinct patient ids of a list read, sorted; each one a non-empty id the column can hold."""
    if isinstance(patient_ids, str | bytes) or not hasattr(patient_ids, "__iter__"):
        raise TypeError("audit list patients must be an iterable of ids")
    out: set[str] = set()
    for value in patient_ids:
        clean = clean_text("patient_id", value)
        if clean is None:
            raise ValueError("audit list patients hold no empty id")
        out.add(clean)
    return tuple(sorted(out))


def list_patients_digest(patient_ids: tuple[str, ...]) -> str:
    """SHA-256 (hex) of the sorted ids, one per line: what the entry's hashed details hold of its list."""
    return hashlib.sha256("\n".join(sorted(patient_ids)).encode("utf-8")).hexdigest()


def list_details(details: Mapping[str, object] | None, patient_ids: tuple[str, ...]) -> dict[str, object]:
    """The caller's details plus the list's count and digest (keys the caller may not set itself)."""
    base = dict(details or {})
    for key in (LIST_PATIENTS_KEY, LIST_DIGEST_KEY):
        if key in base:
            raise ValueError(f"audit detail {key!r} is set by the list read itself")
    base[LIST_PATIENTS_KEY] = len(patient_ids)
    base[LIST_DIGEST_KEY] = list_patients_digest(patient_ids)
    return base
