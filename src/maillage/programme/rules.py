"""Pure rules of the programme: amounts in euros as integer cents, milestone statuses, targets and progress.

The four axes come from the seed's five-year investment plan ("moderniser les systèmes d'information,
dématérialiser les actes administratifs, améliorer le suivi des patients par les objets connectés, doter les
équipes des nouveaux équipements médicaux"); they are the starting list and the programme manager edits them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from maillage.exceptions import ValidationFailed
from maillage.kit.enums import LabelledEnum

SEED_AXES: tuple[tuple[str, str], ...] = (
    ("Moderniser les systèmes d'information", "Systèmes d'information des établissements et du territoire."),
    ("Dématérialiser les actes administratifs", "Documents, prescriptions et échanges sans papier."),
    ("Suivre les patients par les objets connectés", "Télésurveillance et dispositifs connectés."),
    ("Doter les équipes de nouveaux équipements médicaux", "Équipements et formation des équipes."),
)
MAX_CENTS = 10**13  # 100 milliards d'euros: beyond, a typing error
PROGRAMME_YEARS = range(2026, 2031)  # the five years of the plan


class MilestoneStatus(LabelledEnum):
    PLANNED = "planned", "Prévu"
    IN_PROGRESS = "in_progress", "En cours"
    DONE = "done", "Atteint"
    LATE = "late", "En retard"
    CANCELLED = "cancelled", "Abandonné"


_AMOUNT = re.compile(r"^(\d{1,11})(?:[.,](\d{1,2}))?$")


def parse_euros(text: str, label: str) -> int:
    """An amount typed in euros (« 12 500 », « 12 500,50 », « 1250.5 ») as integer cents; never a float."""
    cleaned = re.sub(r"[\s\u00a0\u202f€]", "", text or "")
    if not cleaned:
        return 0
    match = _AMOUNT.match(cleaned)
    if match is None:
        raise ValidationFailed(f"{label} : saisissez un montant en euros, par exemple 12 500 ou 12 500,50.")
    cents = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if cents > MAX_CENTS:
        raise ValidationFailed(f"{label} : montant trop élevé.")
    return cents


def format_euros(cents: int) -> str:
    """Integer cents written the French way: « 12 500,50 € » (thin spaces between thousands)."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    grouped = f"{euros:,}".replace(",", "\u202f")
    return f"{sign}{grouped},{rest:02d}\u00a0€"


def check_budget(planned: int, committed: int, paid: int) -> None:
    """What is paid has been committed first (engagement before mandatement)."""
    if paid > committed:
        raise ValidationFailed("Le montant payé ne peut pas dépasser le montant engagé.")


def parse_decimal(text: str, label: str) -> Decimal:
    cleaned = re.sub(r"[\s\u00a0\u202f]", "", text or "").replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValidationFailed(f"{label} : saisissez un nombre, par exemple 120 ou 0,85.") from None
    if not value.is_finite() or value < 0 or value >= Decimal("1e11"):
        raise ValidationFailed(f"{label} : saisissez un nombre positif.")
    return value.quantize(Decimal("0.001"))


def parse_year(text: str) -> int:
    if not (text or "").strip().isdigit() or int(text) not in PROGRAMME_YEARS:
        raise ValidationFailed(f"Année : choisissez une année du programme ({PROGRAMME_YEARS[0]} à "
                               f"{PROGRAMME_YEARS[-1]}).")
    return int(text)


def parse_date(text: str, label: str) -> dt.date:
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        raise ValidationFailed(f"{label} : saisissez une date (jj/mm/aaaa).") from None


def check_text(text: str, label: str, limit: int = 200) -> str:
    value = " ".join((text or "").split())
    if not value:
        raise ValidationFailed(f"{label} : ce champ est obligatoire.")
    if len(value) > limit:
        raise ValidationFailed(f"{label} : {limit} caractères au plus.")
    return value


@dataclass(frozen=True)
class Progress:
    """An indicator's value for a year against its target; ``value`` None when not measured or masked."""

    target: Decimal
    value: Decimal | None
    why_missing: str = ""

    @property
    def ratio(self) -> Decimal | None:
        """The share of the target reached (1 = reached), or None when it cannot be said."""
        if self.value is None or self.target == 0:
            return None
        return (self.value / self.target).quantize(Decimal("0.001"))

    @property
    def reached(self) -> bool | None:
        return None if self.value is None else self.value >= self.target

    @property
    def percent(self) -> int | None:
        ratio = self.ratio
        return None if ratio is None else int((ratio * 100).to_integral_value())
