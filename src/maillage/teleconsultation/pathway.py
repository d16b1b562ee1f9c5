"""Pure rules of a teleconsultation's billing context (DOMAIN.md §2.1): which act code, the care-pathway flags shown
to the practitioner (never blocking), and the practitioner's yearly teleconsultation share against its cap. No I/O.

Sources (DOMAIN.md §2.1):
- codes: ``TCG`` for a physician in sector 1, OPTAM or billing at the tariff opposable; ``TC`` for doctors billing
  with fee overruns (sector 2); avenant 6, reimbursed since 15 September 2018;
- the care pathway: a teleconsultation respects the coordinated care pathway (orientation by the médecin traitant),
  except for specialities in direct access (gynaecology, ophthalmology, stomatology, oral and maxillofacial surgery,
  psychiatry and neuropsychiatry, paediatrics), patients under 16, emergencies, patients without a médecin traitant
  (or whose médecin traitant is not available in time), detainees and EHPAD residents;
- the cap (convention médicale 2024-2029, arts. 87-1 to 88-3): teleconsultations are at most 20 % of the doctor's
  activity per calendar year, 40 % for psychiatrists; the médecin traitant's teleconsultations with their own
  patients are excluded, and so are tele-expertises.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from maillage.exceptions import ValidationFailed
from maillage.kit.enums import LabelledEnum

# -- The act code ---------------------------------------------------------------------------------------------------

FEE_SECTORS = {"sector_1": "Secteur 1", "optam": "Secteur 2 avec OPTAM", "sector_2": "Secteur 2 (dépassements)"}


def act_code(fee_sector: str | None) -> str:
    """``TC`` for a doctor in sector 2 without OPTAM (fee overruns), ``TCG`` otherwise (sector 1, OPTAM, or a
    sector not declared: the tariff opposable)."""
    if fee_sector is not None and fee_sector not in FEE_SECTORS:
        raise ValidationFailed("Secteur conventionnel inconnu.")
    return "TC" if fee_sector == "sector_2" else "TCG"


# -- Care-pathway flags ---------------------------------------------------------------------------------------------

# Specialities in direct access, as coded in the directory's specialty table (TRE_R38). Stomatology, oral and
# maxillofacial surgery, neuropsychiatry and medical gynaecology are in direct access too but have no code in that
# table yet: a line of theirs is not flagged.
DIRECT_ACCESS_SPECIALTIES = frozenset(
    {
        "SM20",  # Gynécologie-obstétrique
        "SM38",  # Ophtalmologie
        "SM40",  # Pédiatrie
        "SM42",  # Psychiatrie
        "SM43",  # Psychiatrie, option enfant et adolescent
    }
)
PSYCHIATRY = frozenset({"SM42", "SM43"})
CHILD_AGE = 16


class Flag(LabelledEnum):
    """Why a teleconsultation stands outside the coordinated care pathway, legitimately; shown, never blocking."""

    DIRECT_ACCESS = "direct_access", "Spécialité en accès direct : hors parcours coordonné"
    UNDER_16 = "under_16", "Patient de moins de 16 ans : hors parcours coordonné"
    DETAINEE = "detainee", "Patient détenu (USMP) : hors parcours coordonné"
    EHPAD_RESIDENT = "ehpad_resident", "Résident d'EHPAD : hors parcours coordonné"
    NO_ATTENDING = "no_attending", "Pas de médecin traitant déclaré : hors parcours coordonné"


def age_on(birth_date: dt.date, on: dt.date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def pathway_flags(
    *,
    specialty_code: str | None,
    birth_date: dt.date,
    on: dt.date,
    detainee: bool,
    ehpad_resident: bool,
    has_attending: bool,
) -> list[Flag]:
    """The exceptions to the coordinated care pathway that apply to this teleconsultation, in a fixed order."""
    flags = []
    if specialty_code in DIRECT_ACCESS_SPECIALTIES:
        flags.append(Flag.DIRECT_ACCESS)
    if age_on(birth_date, on) < CHILD_AGE:
        flags.append(Flag.UNDER_16)
    if detainee:
        flags.append(Flag.DETAINEE)
    if ehpad_resident:
        flags.append(Flag.EHPAD_RESIDENT)
    if not has_attending:
        flags.append(Flag.NO_ATTENDING)
    return flags


# -- The yearly share -----------------------------------------------------------------------------------------------

CAP = Decimal("0.20")
CAP_PSYCHIATRY = Decimal("0.40")
NEAR_CAP = Decimal("0.80")  # warn from four fifths of the cap (16 %, or 32 % for a psychiatrist)


def cap_for(specialty_code: str | None) -> Decimal:
    return CAP_PSYCHIATRY if specialty_code in PSYCHIATRY else CAP


class ShareLevel(LabelledEnum):
    UNKNOWN = "unknown", "Déclarez votre activité en présentiel de l'année pour calculer votre part"
    BELOW = "below", "En dessous du plafond"
    NEAR = "near", "Proche du plafond"
    OVER = "over", "Plafond dépassé"


@dataclass(frozen=True)
class Share:
    year: int
    counted: int  # teleconsultations that count (platform and declared elsewhere), own patients as GP excluded
    excluded: int  # the médecin traitant's teleconsultations with their own patients, on the platform
    in_person: int | None  # declared; None: not declared
    cap: Decimal
    ratio: Decimal | None  # counted / all activity, or None when the activity is not declared
    level: ShareLevel

    @property
    def percent(self) -> str:
        return "—" if self.ratio is None else f"{(self.ratio * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)} %"

    @property
    def cap_percent(self) -> str:
        return f"{int(self.cap * 100)} %"


def yearly_share(
    *,
    year: int,
    platform_counted: int,
    platform_excluded: int,
    declared_in_person: int | None,
    declared_other_teleconsultations: int = 0,
    specialty_code: str | None,
) -> Share:
    """The share of teleconsultations in the practitioner's activity of a calendar year.

    Numerator: the teleconsultations that count (those on the platform, except the médecin traitant's with their own
    patients, plus those declared elsewhere). Denominator: the whole activity, every teleconsultation (excluded ones
    included: they are activity) plus the declared in-person consultations. Without the declaration the platform
    cannot compute it (it sees only its own teleconsultations)."""
    if min(platform_counted, platform_excluded, declared_other_teleconsultations) < 0 or (
        declared_in_person is not None and declared_in_person < 0
    ):
        raise ValidationFailed("Les nombres d'actes sont positifs ou nuls.")
    cap = cap_for(specialty_code)
    counted = platform_counted + declared_other_teleconsultations
    if declared_in_person is None:
        return Share(year, counted, platform_excluded, None, cap, None, ShareLevel.UNKNOWN)
    total = counted + platform_excluded + declared_in_person
    ratio = Decimal(counted) / Decimal(total) if total else Decimal(0)
    level = ShareLevel.OVER if ratio > cap else ShareLevel.NEAR if ratio >= cap * NEAR_CAP else ShareLevel.BELOW
    return Share(year, counted, platform_excluded, declared_in_person, cap, ratio, level)
