"""Pure rules of secure messaging: kinds of thread and of team mailbox, what a subject, a body and a reason must be,
how long a message may still be corrected or withdrawn, how long an added participant's access to the patient
lasts, unread counts, and the keyed terms that make subjects searchable without storing their words.

Sources: the correction window and the access duration are house rules of Maillage (no regulation fixes them);
the duty to restrict a professional's access to the patients they care for and to trace it is the Code de la santé
publique, art. L1110-4 (shared medical secrecy within the care team) and L1110-4-1, and the HDS framework
(``DOMAIN.md`` §7.1, §7.2).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata
import uuid

from maillage.exceptions import Conflict, PermissionDenied, ValidationFailed
from maillage.kit.enums import LabelledEnum

MAX_SUBJECT_CHARS = 200
MAX_BODY_CHARS = 20_000
MIN_REASON_CHARS = 10
MAX_REASON_CHARS = 2_000
MAX_PARTICIPANTS = 20             # people and teams of one thread, the author included
MAX_ATTACHMENTS_PER_MESSAGE = 5
CORRECTION_WINDOW = dt.timedelta(minutes=15)   # a message may be corrected or withdrawn this long after it was sent
PARTICIPANT_ACCESS = dt.timedelta(days=30)      # an added participant's relationship with the thread's patient
MIN_TERM_CHARS = 3                # shorter words are not indexed (articles, "le", "de", …)
MAX_TERMS = 40
TERM_HEX_CHARS = 16               # 64 bits of the keyed hash: collisions negligible within one person's threads


class ThreadKind(LabelledEnum):
    DIRECT = "direct", "Échange entre deux professionnels"
    GROUP = "group", "Groupe"
    TEAM = "team", "Boîte d'équipe"


class TeamKind(LabelledEnum):
    """The team mailboxes the directory holds: a specialty line's professionals (answering and backup), a care
    unit's professionals, an establishment's nursing team (its nurses and coordinating nurses)."""

    LINE = "line", "Ligne de spécialité"
    CARE_UNIT = "care_unit", "Unité de soins"
    NURSING_TEAM = "nursing_team", "Équipe soignante"


NURSING_ROLES = frozenset({"nurse", "coordinating_nurse"})


class Change(LabelledEnum):
    EDIT = "edit", "Corrigé"
    WITHDRAW = "withdraw", "Retiré"


def thread_kind(people: int, teams: int) -> ThreadKind:
    """A thread with a team mailbox is a team thread; else two people (the author and one other) is direct; more is a
    group. ``people`` counts the other people, not the author."""
    if teams:
        return ThreadKind.TEAM
    return ThreadKind.DIRECT if people == 1 else ThreadKind.GROUP


def check_participants(people: int, teams: int) -> None:
    if people + teams == 0:
        raise ValidationFailed("Choisissez au moins un destinataire : un professionnel ou une équipe.",
                               details=[{"field": "participants", "message": "Aucun destinataire."}])
    if people + teams + 1 > MAX_PARTICIPANTS:
        raise ValidationFailed(f"Une conversation réunit au plus {MAX_PARTICIPANTS} participants, vous compris.",
                               details=[{"field": "participants", "message": "Trop de destinataires."}])


def clean_subject(subject: str | None) -> str:
    text = " ".join((subject or "").split())
    if not text:
        raise ValidationFailed("L'objet est obligatoire.", details=[{"field": "subject", "message": "Objet vide."}])
    if len(text) > MAX_SUBJECT_CHARS:
        raise ValidationFailed(f"L'objet ne doit pas dépasser {MAX_SUBJECT_CHARS} caractères.",
                               details=[{"field": "subject", "message": "Objet trop long."}])
    return text


def clean_body(body: str | None) -> str:
    text = (body or "").strip()
    if not text:
        raise ValidationFailed("Le message est vide.", details=[{"field": "body", "message": "Message vide."}])
    if len(text) > MAX_BODY_CHARS:
        raise ValidationFailed(f"Le message ne doit pas dépasser {MAX_BODY_CHARS:_} caractères.".replace("_", " "),
                               details=[{"field": "body", "message": "Message trop long."}])
    return text


def clean_reason(reason: str | None) -> str:
    """Why a professional is added to a thread about a patient: it opens that patient to them, so it is said in words
    a reviewer can judge."""
    text = " ".join((reason or "").split())
    if len(text) < MIN_REASON_CHARS:
        raise ValidationFailed(
            f"Dites pourquoi ce professionnel doit voir ce patient (au moins {MIN_REASON_CHARS} caractères).",
            details=[{"field": "reason", "message": "Motif trop court."}])
    if len(text) > MAX_REASON_CHARS:
        raise ValidationFailed(f"Le motif ne doit pas dépasser {MAX_REASON_CHARS} caractères.".replace("2000", "2 000"),
                               details=[{"field": "reason", "message": "Motif trop long."}])
    return text


def check_change(change: Change, *, author_id: uuid.UUID, actor_id: uuid.UUID, sent_at: dt.datetime,
                 withdrawn_at: dt.datetime | None, at: dt.datetime) -> None:
    """Only a message's author may correct or withdraw it, within ``CORRECTION_WINDOW`` of sending it, and never once
    it was withdrawn. Its earlier text stays in the history either way."""
    if actor_id != author_id:
        raise PermissionDenied("Seul l'auteur d'un message peut le corriger ou le retirer.")
    if withdrawn_at is not None:
        raise Conflict("Ce message a été retiré : il ne peut plus être modifié.")
    if at - sent_at > CORRECTION_WINDOW:
        minutes = int(CORRECTION_WINDOW.total_seconds() // 60)
        verb = "corrigé" if change is Change.EDIT else "retiré"
        raise Conflict(f"Un message ne peut être {verb} que dans les {minutes} minutes qui suivent son envoi : "
                       "écrivez plutôt un nouveau message.")


def may_change(*, author_id: uuid.UUID, actor_id: uuid.UUID, sent_at: dt.datetime, withdrawn_at: dt.datetime | None,
               at: dt.datetime) -> bool:
    """Whether the page offers « Corriger » and « Retirer » for this message now."""
    return actor_id == author_id and withdrawn_at is None and at - sent_at <= CORRECTION_WINDOW


def unread(last_seq: int, last_read_seq: int | None) -> int:
    return max(0, last_seq - (last_read_seq or 0))


def participant_access_ends(at: dt.datetime) -> dt.datetime:
    return at + PARTICIPANT_ACCESS


# --- Searchable subjects without their words ------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """The words of a text as the index knows them: lower case, accents removed, at least ``MIN_TERM_CHARS``, each
    once, in order of appearance."""
    plain = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    seen: list[str] = []
    for word in _WORD.findall(plain):
        if len(word) >= MIN_TERM_CHARS and word not in seen:
            seen.append(word)
    return seen[:MAX_TERMS]


def term(key: bytes, word: str) -> str:
    return hmac.new(key, word.encode("utf-8"), hashlib.sha256).hexdigest()[:TERM_HEX_CHARS]


def subject_terms(key: bytes, subject: str) -> str:
    """What is stored to search a subject: its words' keyed hashes, space-separated and framed by spaces so that a
    term matches as a whole (``LIKE '% term %'``)."""
    hashed = [term(key, w) for w in words(subject)]
    return f" {' '.join(hashed)} " if hashed else ""


def query_terms(key: bytes, text: str) -> list[str]:
    """The terms a search for ``text`` must all find (every word of the query, whole words only)."""
    return [term(key, w) for w in words(text)]
