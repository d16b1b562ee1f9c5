"""The enrolment lifecycle (enrolled, paused, ended), its reasons and the prescription's duration. No I/O."""

from __future__ import annotations

import datetime as dt

from maillage.exceptions import InvalidTransition, ValidationFailed
from maillage.kit.enums import LabelledEnum
from maillage.kit.months import add_months


class EnrolmentStatus(LabelledEnum):
    ACTIVE = "active", "Suivi actif"
    PAUSED = "paused", "Suivi suspendu"
    ENDED = "ended", "Suivi terminé"


ENROLMENT_TRANSITIONS: dict[tuple[EnrolmentStatus, str], EnrolmentStatus] = {
    (EnrolmentStatus.ACTIVE, "pause"): EnrolmentStatus.PAUSED,
    (EnrolmentStatus.PAUSED, "resume"): EnrolmentStatus.ACTIVE,
    (EnrolmentStatus.ACTIVE, "end"): EnrolmentStatus.ENDED,
    (EnrolmentStatus.PAUSED, "end"): EnrolmentStatus.ENDED,
}


def transition(status: EnrolmentStatus | str, action: str) -> EnrolmentStatus:
    current = EnrolmentStatus(status)
    target = ENROLMENT_TRANSITIONS.get((current, action))
    if target is None:
        raise InvalidTransition(f"Action « {action} » impossible : {current.label.lower()}.")
    return target


PAUSE_REASONS = {"hospitalisation": "Hospitalisation", "holidays": "Vacances", "other": "Autre motif"}
END_REASONS = {
    "prescription_expired": "Fin de la prescription",
    "low_adherence": "Observance insuffisante (contrôle à 1 ou 2 mois)",
    "clinical_decision": "Décision médicale",
    "patient_request": "Demande du patient",
    "transfer": "Transfert vers une autre équipe",
    "death": "Décès",
    "other": "Autre motif",
}
MAX_PRESCRIPTION_MONTHS = 12  # CSS R162-100: a telesurveillance prescription lasts at most one year


def prescription_end(prescribed_on: dt.date, months: int) -> dt.date:
    """Last day covered by a prescription of ``months`` months (at most one year, CSS R162-100)."""
    if not 1 <= months <= MAX_PRESCRIPTION_MONTHS:
        raise ValidationFailed("La prescription de télésurveillance dure de 1 à 12 mois (CSS R162-100).",
                               details=[{"field": "duration_months", "message": "Entre 1 et 12 mois."}])
    return add_months(prescribed_on, months) - dt.timedelta(days=1)
