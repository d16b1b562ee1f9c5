"""Pure prescription rules: statuses and their transitions, the prescription number, validity, the legal mention
of a non-substitutable line, posology checks, the canonical form that is signed, and what a dispensation may do.

Sources (DOMAIN.md §6 and the texts it cites; where DOMAIN is silent the text is named here):
- the national "ordonnance numérique": a unique prescription number carried by a QR code and printed under it, a
  single-use code, dispensation recorded per line (substitution, adaptation, non-delivery). The national number's
  format is not public (DOMAIN §6 [uncertain]): Maillage issues its own, 16 digits whose last is a Luhn key, so
  that a mistyped number is caught before any lookup.
- "non substituable": since 1 January 2020 (arrêté du 12 novembre 2019, taken under CSP L5125-23) the prescriber
  writes "non substituable" before the drug's name with one of three reasons: MTE (marge thérapeutique étroite),
  EFG (enfant de moins de 6 ans, à défaut de forme galénique adaptée), CIF (contre-indication formelle et démontrée
  à un excipient à effet notoire).
- validity: a prescription is first presented within three months of being issued (CSP R5132-22 for listed
  drugs; the platform applies it to every line) and renewals cover at most twelve months of treatment (R5132-21).
  ``valid_until`` is the later of the two limits that apply.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from maillage.kit.enums import LabelledEnum


class Status(LabelledEnum):
    DRAFT = "draft", "Brouillon"
    SIGNED = "signed", "Signée, à délivrer"
    PARTIALLY_DISPENSED = "partially_dispensed", "Délivrée en partie"
    DISPENSED = "dispensed", "Délivrée"
    CANCELLED = "cancelled", "Annulée"
    EXPIRED = "expired", "Expirée"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset({Status.SIGNED, Status.CANCELLED}),
    Status.SIGNED: frozenset({Status.PARTIALLY_DISPENSED, Status.DISPENSED, Status.CANCELLED, Status.EXPIRED}),
    Status.PARTIALLY_DISPENSED: frozenset({Status.PARTIALLY_DISPENSED, Status.DISPENSED, Status.EXPIRED}),
    Status.DISPENSED: frozenset(),
    Status.CANCELLED: frozenset(),
    Status.EXPIRED: frozenset(),
}
DISPENSABLE = frozenset({Status.SIGNED, Status.PARTIALLY_DISPENSED})


def can_transition(current: Status, target: Status) -> bool:
    return target in TRANSITIONS[current]


class SourceKind(enum.StrEnum):
    PATIENT = "patient"
    OPINION = "opinion"
    TELECONSULTATION = "teleconsultation"


class LineKind(enum.StrEnum):
    SPECIALITY = "speciality"
    SUBSTANCE = "substance"


class NonSubstitution(LabelledEnum):
    MTE = "MTE", "marge thérapeutique étroite"
    EFG = "EFG", "enfant de moins de 6 ans, à défaut de forme galénique adaptée"
    CIF = "CIF", "contre-indication formelle et démontrée à un excipient à effet notoire"


def non_substitution_mention(reason: NonSubstitution | str) -> str:
    """The mention written before the drug's name: ``Non substituable (MTE)``."""
    return f"Non substituable ({NonSubstitution(reason).value})"


class Period(LabelledEnum):
    DAY = "day", "jour"
    WEEK = "week", "semaine"
    MONTH = "month", "mois"


PERIOD_DAYS = {Period.DAY: 1, Period.WEEK: 7, Period.MONTH: 30}
DOSE_UNITS = ("comprimé", "gélule", "capsule", "sachet", "application", "goutte", "mg", "g", "ml", "bouffée",
              "dose", "unité")
FIRST_PRESENTATION_DAYS = 90
MAX_TREATMENT_DAYS = 365
MAX_RENEWALS = 11


class Outcome(LabelledEnum):
    DELIVERED = "delivered", "Délivré"
    SUBSTITUTED = "substituted", "Délivré, substitué par un générique"
    NOT_DELIVERED = "not_delivered", "Non délivré"


@dataclass(frozen=True)
class LineDraft:
    """A line as the prescriber writes it, before any database id."""

    kind: LineKind
    label: str
    dose: Decimal
    dose_unit: str
    times: int
    period: Period
    duration: int
    duration_unit: Period
    quantity: int
    cis: str | None = None
    cip13: str | None = None
    conditions: str | None = None
    renewals: int = 0
    non_substitution_reason: NonSubstitution | None = None
    ald: bool = False


def line_problems(line: LineDraft) -> list[str]:
    """What keeps a line from being signed, in French (empty: the line is complete)."""
    problems = []
    if line.kind is LineKind.SPECIALITY and not line.cis:
        problems.append("Choisissez le médicament dans la base des médicaments.")
    if line.kind is LineKind.SUBSTANCE and not line.label.strip():
        problems.append("Indiquez la substance (DCI) prescrite.")
    if line.dose <= 0:
        problems.append("La dose doit être supérieure à zéro.")
    if line.dose_unit not in DOSE_UNITS:
        problems.append("Choisissez l'unité de la dose dans la liste.")
    if not 1 <= line.times <= 24:
        problems.append("Le nombre de prises doit être compris entre 1 et 24 par période.")
    if line.duration <= 0:
        problems.append("La durée du traitement doit être supérieure à zéro.")
    elif treatment_days(line) > MAX_TREATMENT_DAYS:
        problems.append("Un traitement ne peut pas dépasser douze mois, renouvellements compris.")
    if line.quantity <= 0:
        problems.append("La quantité à délivrer doit être supérieure à zéro.")
    if not 0 <= line.renewals <= MAX_RENEWALS:
        problems.append("Le nombre de renouvellements doit être compris entre 0 et 11.")
    if line.non_substitution_reason is not None and line.kind is LineKind.SUBSTANCE:
        problems.append("Une prescription en DCI ne peut pas être non substituable.")
    return problems


def treatment_days(line: LineDraft) -> int:
    return line.duration * PERIOD_DAYS[line.duration_unit] * (line.renewals + 1)


def valid_until(issued_on: dt.date, lines: list[LineDraft]) -> dt.date:
    """The last day the prescription may be dispensed: three months to present it, or the whole treatment with its
    renewals when that is longer (at most twelve months)."""
    longest = max((treatment_days(line) for line in lines), default=0)
    return issued_on + dt.timedelta(days=min(max(FIRST_PRESENTATION_DAYS, longest), MAX_TREATMENT_DAYS))


def posology_text(line: LineDraft) -> str:
    """``1 comprimé 3 fois par jour pendant 10 jours, au cours du repas``."""
    dose = f"{line.dose.normalize():f}".replace(".", ",")
    unit = line.dose_unit + ("s" if line.dose > 1 and line.dose_unit not in ("mg", "g", "ml") else "")
    times = "1 fois" if line.times == 1 else f"{line.times} fois"
    duration_unit = line.duration_unit.label if line.duration_unit is Period.MONTH or line.duration == 1 \
        else line.duration_unit.label + "s"
    text = f"{dose} {unit} {times} par {line.period.label} pendant {line.duration} {duration_unit}"
    if line.conditions:
        text += f", {line.conditions}"
    return text


# The number ---------------------------------------------------------------------------------------------------

NUMBER_DIGITS = 16


def luhn_digit(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def new_number() -> str:
    """A random prescription number: 15 random digits (the first not 0) and a Luhn key."""
    body = str(secrets.randbelow(9 * 10**14) + 10**14)
    return body + luhn_digit(body)


def normalise_number(typed: str) -> str | None:
    """The number a person typed or a scanner read (spaces, dashes and the QR payload's prefix allowed), or None
    when it cannot be a prescription number (wrong length or Luhn key)."""
    text = typed.strip()
    if text.startswith(QR_PREFIX):
        text = text[len(QR_PREFIX):].split(":", 1)[0]
    digits = "".join(c for c in text if c not in " -.")
    if len(digits) != NUMBER_DIGITS or not digits.isdigit() or luhn_digit(digits[:-1]) != digits[-1]:
        return None
    return digits


def display_number(number: str) -> str:
    """``1234 5678 9012 3456``: groups of four, as printed under the QR code."""
    return " ".join(number[i:i + 4] for i in range(0, len(number), 4))


QR_PREFIX = "MAILLAGE-RX:"


def qr_payload(number: str, verification_code: str) -> str:
    """What the QR code carries: the number and the verification code derived from the signature."""
    return f"{QR_PREFIX}{number}:{verification_code}"


# Signing ------------------------------------------------------------------------------------------------------


def canonical(content: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: JSON with sorted keys, no spaces, UTF-8, decimals as strings (so the same content
    always gives the same bytes, whatever the dictionary's order)."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_plain).encode("utf-8")


def _plain(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


# Dispensing ---------------------------------------------------------------------------------------------------


def refusal_reason(status: Status, valid_until_day: dt.date | None, today: dt.date) -> str | None:
    """Why a pharmacist may not dispense this prescription now (French), or None when it may be dispensed."""
    if status is Status.CANCELLED:
        return "Cette ordonnance a été annulée par son prescripteur : elle ne peut pas être délivrée."
    if status is Status.DISPENSED:
        return "Cette ordonnance a déjà été entièrement délivrée."
    if status is Status.EXPIRED or (valid_until_day is not None and today > valid_until_day):
        when = valid_until_day.strftime("%d/%m/%Y") if valid_until_day else ""
        return f"Cette ordonnance a expiré le {when} : elle ne peut plus être délivrée.".replace("le  :", ":")
    if status is Status.DRAFT:
        return "Cette ordonnance n'a pas été signée : elle ne peut pas être délivrée."
    return None


def dispensation_problem(*, outcome: Outcome, quantity: int, remaining: int, non_substitutable: bool,
                         substitute_in_group: bool | None, reason: str | None) -> str | None:
    """Why this dispensation of a line is refused (French), or None."""
    if remaining <= 0:
        return "Cette ligne a déjà été entièrement délivrée."
    if outcome is Outcome.NOT_DELIVERED:
        return None if quantity == 0 and (reason or "").strip() else \
            "Indiquez la raison de la non-délivrance (et une quantité nulle)."
    if quantity <= 0:
        return "La quantité délivrée doit être supérieure à zéro."
    if quantity > remaining:
        return f"Il ne reste que {remaining} à délivrer sur cette ligne."
    if outcome is Outcome.SUBSTITUTED:
        if non_substitutable:
            return "Le prescripteur a indiqué « non substituable » : la substitution n'est pas permise."
        if not substitute_in_group:
            return "Le médicament substitué doit appartenir au même groupe générique."
    return None


def status_after_dispensation(lines: list[tuple[int, int]]) -> Status:
    """``(dispensed, prescribed)`` per line → the prescription's status (dispensed when every line is)."""
    if all(dispensed >= prescribed for dispensed, prescribed in lines):
        return Status.DISPENSED
    return Status.PARTIALLY_DISPENSED
