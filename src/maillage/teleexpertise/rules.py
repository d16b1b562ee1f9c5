"""Pure rules of tele-expertise: the status model, due times, orientations, tariffs and caps. No I/O.

Status model: the ANS "Confluences" tele-expertise FHIR guide carries a request as a ``ServiceRequest``
whose ``status`` follows FHIR R4 (draft, active, on-hold, revoked, completed) and whose ``statusReason``
extension splits *active* into *published* (posted, waiting for a specialist) and *in progress* (taken
by a specialist). Maillage's internal statuses map one to one onto that pair (``fhir_status``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from maillage.directory.tariffs import TARIFFS as TARIFFS
from maillage.directory.tariffs import Tariff as Tariff
from maillage.directory.tariffs import tariff_for as tariff_for
from maillage.exceptions import InvalidTransition, ValidationFailed
from maillage.kit.enums import LabelledEnum


class Status(LabelledEnum):
    DRAFT = "draft", "Brouillon"
    PUBLISHED = "published", "En attente d'un spécialiste"
    IN_PROGRESS = "in_progress", "En cours d'expertise"  # taken by a specialist
    AWAITING_INFORMATION = "awaiting_information", "Complément demandé au requérant"
    COMPLETED = "completed", "Avis rendu"
    DECLINED = "declined", "Refusée"  # by the line (out of scope, vital emergency…)
    CANCELLED = "cancelled", "Annulée"  # by the requester


TERMINAL = frozenset({Status.COMPLETED, Status.DECLINED, Status.CANCELLED})
OPEN = frozenset({Status.PUBLISHED, Status.IN_PROGRESS, Status.AWAITING_INFORMATION})


class Action(LabelledEnum):
    """What a person does to a request; the label is the verb a refusal message uses ("Impossible de …")."""

    SUBMIT = "submit", "envoyer"  # requester: draft → published
    CLAIM = "claim", "prendre en charge"  # specialist takes it from the pool
    ASSIGN = "assign", "attribuer"  # coordinator gives it to a specialist
    HAND_BACK = "hand_back", "remettre dans la file"  # specialist returns it to the pool (reason)
    TRANSFER = "transfer", "confier à un confrère"  # specialist passes it to a colleague (reason)
    ASK = "ask", "demander un complément"  # specialist asks the requester for more information
    REPLY = "reply", "répondre"  # requester answers the question
    ANSWER = "answer", "rendre l'avis"  # specialist signs the opinion
    DECLINE = "decline", "refuser"  # the line declines (reason seen by the requester at once)
    CANCEL = "cancel", "annuler"  # requester withdraws
    REROUTE = "reroute", "réorienter vers la file"  # absence rerouting: a named request goes back to the line's pool


TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (Status.DRAFT, Action.SUBMIT): Status.PUBLISHED,
    (Status.DRAFT, Action.CANCEL): Status.CANCELLED,
    (Status.PUBLISHED, Action.CLAIM): Status.IN_PROGRESS,
    (Status.PUBLISHED, Action.ASSIGN): Status.IN_PROGRESS,
    (Status.PUBLISHED, Action.DECLINE): Status.DECLINED,
    (Status.PUBLISHED, Action.CANCEL): Status.CANCELLED,
    (Status.PUBLISHED, Action.REROUTE): Status.PUBLISHED,
    (Status.IN_PROGRESS, Action.HAND_BACK): Status.PUBLISHED,
    (Status.IN_PROGRESS, Action.TRANSFER): Status.IN_PROGRESS,
    (Status.IN_PROGRESS, Action.ASSIGN): Status.IN_PROGRESS,
    (Status.IN_PROGRESS, Action.ASK): Status.AWAITING_INFORMATION,
    (Status.IN_PROGRESS, Action.ANSWER): Status.COMPLETED,
    (Status.IN_PROGRESS, Action.DECLINE): Status.DECLINED,
    (Status.IN_PROGRESS, Action.CANCEL): Status.CANCELLED,
    (Status.IN_PROGRESS, Action.REROUTE): Status.PUBLISHED,
    (Status.AWAITING_INFORMATION, Action.REPLY): Status.IN_PROGRESS,
    (Status.AWAITING_INFORMATION, Action.CANCEL): Status.CANCELLED,
    (Status.AWAITING_INFORMATION, Action.DECLINE): Status.DECLINED,
}



def next_status(current: Status, action: Action) -> Status:
    """The status after ``action``, or InvalidTransition (409) with a French message."""
    target = TRANSITIONS.get((current, action))
    if target is None:
        raise InvalidTransition(
            f"Impossible de {action.label} une demande au statut « {current.label} »."
        )
    return target


def fhir_status(status: Status) -> tuple[str, str | None]:
    """``(ServiceRequest.status, Confluences statusReason)`` for an internal status."""
    return {
        Status.DRAFT: ("draft", None),
        Status.PUBLISHED: ("active", "published"),
        Status.IN_PROGRESS: ("active", "in-progress"),
        Status.AWAITING_INFORMATION: ("on-hold", "awaiting-information"),
        Status.COMPLETED: ("completed", None),
        Status.DECLINED: ("revoked", "declined"),
        Status.CANCELLED: ("revoked", "cancelled"),
    }[status]


# -- Urgency and due times -----------------------------------------------------------------------------


class Urgency(LabelledEnum):
    ROUTINE = "routine", "Programmée"
    URGENT = "urgent", "Urgente"  # the line commits to a shorter delay; vital emergencies go to the 15


@dataclass(frozen=True)
class Pause:
    start: dt.datetime
    end: dt.datetime | None  # None: still paused


def due_at(submitted_at: dt.datetime, committed_hours: int, pauses: list[Pause], now: dt.datetime) -> dt.datetime:
    """When the answer is due: submission + the line's committed delay, pushed back by every pause.

    The clock stops while a question waits for the requester (HAS: the requis sets a response
    time once the request is complete). An open pause pushes the due time as far as ``now``.
    """
    if committed_hours <= 0:
        raise ValidationFailed("Le délai d'engagement doit être positif.")
    return due_at_minutes(submitted_at, committed_hours * 60, pauses, now)


def due_at_minutes(submitted_at: dt.datetime, committed_minutes: int, pauses: list[Pause],
                   now: dt.datetime) -> dt.datetime:
    """``due_at`` for a delay in minutes, the unit the directory's line commitments use."""
    if committed_minutes <= 0:
        raise ValidationFailed("Le délai d'engagement doit être positif.")
    paused = dt.timedelta()
    for p in pauses:
        end = p.end or now
        if end > p.start:
            paused += end - p.start
    return submitted_at + dt.timedelta(minutes=committed_minutes) + paused


def reminder_at(due: dt.datetime, committed_hours: int) -> dt.datetime:
    """Remind the assigned specialist when a quarter of the committed delay remains (at least 1 h before)."""
    return due - max(dt.timedelta(hours=1), dt.timedelta(hours=committed_hours) / 4)


# -- Opinion and orientation ---------------------------------------------------------------------------


class Orientation(LabelledEnum):
    ADVICE_ONLY = "advice_only", "Conseil, sans autre suite"
    ACT_RELEVANT = "act_relevant", "Acte pertinent"  # the act is named
    ACT_NOT_RELEVANT = "act_not_relevant", "Acte non pertinent"  # the act is named
    TELECONSULTATION = "teleconsultation", "Téléconsultation à programmer"
    CONSULTATION = "consultation", "Consultation en présentiel"  # with a delay
    SCHEDULED_HOSPITALISATION = "scheduled_hospitalisation", "Hospitalisation programmée"
    URGENT_TRANSFER = "urgent_transfer", "Transfert urgent"

    @property
    def opens_admission(self) -> bool:
        return self in (Orientation.SCHEDULED_HOSPITALISATION, Orientation.URGENT_TRANSFER)


def check_opinion(
    text: str, orientation: Orientation, act: str | None, delay_days: int | None
) -> list[dict[str, str]]:
    """What is missing from an opinion, field by field (empty: it can be signed)."""
    problems: list[dict[str, str]] = []
    if len(text.strip()) < 10:
        problems.append({"field": "answer", "message": "Rédigez l'avis (10 caractères au moins)."})
    if orientation in (Orientation.ACT_RELEVANT, Orientation.ACT_NOT_RELEVANT) and not (act or "").strip():
        problems.append({"field": "act", "message": "Nommez l'acte dont vous jugez la pertinence."})
    if orientation == Orientation.CONSULTATION and (delay_days is None or not 0 <= delay_days <= 365):
        problems.append({"field": "delay_days", "message": "Indiquez le délai de la consultation (0 à 365 jours)."})
    return problems


class AdmissionStatus(LabelledEnum):
    REQUESTED = "requested", "Demandée"
    ACCEPTED = "accepted", "Acceptée"  # with a date
    REFUSED = "refused", "Refusée"  # with a reason
    ARRIVED = "arrived", "Patient arrivé"
    CANCELLED = "cancelled", "Annulée"


ADMISSION_TRANSITIONS: dict[AdmissionStatus, frozenset[AdmissionStatus]] = {
    AdmissionStatus.REQUESTED: frozenset(
        {AdmissionStatus.ACCEPTED, AdmissionStatus.REFUSED, AdmissionStatus.CANCELLED}
    ),
    AdmissionStatus.ACCEPTED: frozenset({AdmissionStatus.ARRIVED, AdmissionStatus.CANCELLED}),
    AdmissionStatus.REFUSED: frozenset(),
    AdmissionStatus.ARRIVED: frozenset(),
    AdmissionStatus.CANCELLED: frozenset(),
}


def next_admission_status(current: AdmissionStatus, target: AdmissionStatus) -> AdmissionStatus:
    if target not in ADMISSION_TRANSITIONS[current]:
        raise InvalidTransition(
            f"Une admission « {current.label} » ne peut pas passer à « {target.label} »."
        )
    return target


# -- Billing: NGAP codes, dated tariffs, caps ----------------------------------------------------------


# The dated tariff table (``Tariff``, ``TARIFFS``, ``tariff_for``) is shared with teleconsultation: it lives in
# ``maillage.directory.tariffs`` and is re-exported here.


# Professions allowed to request (RQD) and to answer (TE2), DOMAIN.md §2.3.
REQUESTER_PROFESSIONS = frozenset(
    {"physician", "midwife", "nurse", "coordinating_nurse", "speech_therapist", "physiotherapist", "podiatrist"}
)
EXPERT_PROFESSIONS = frozenset({"physician", "midwife"})

DEFAULT_YEARLY_CAP = 4  # per patient per requis per calendar year: configurable, DOMAIN.md §2.3 [uncertain]


@dataclass(frozen=True)
class BillingDecision:
    billable: bool
    reason: str  # French, shown to the billing office


def te2_billing(*, prior_te2_same_year: int, cap: int = DEFAULT_YEARLY_CAP, patient_inpatient: bool,
                expert_profession: str) -> BillingDecision:
    """Whether the specialist's TE2 may be billed.

    - Hospitals bill tele-expertise only for their external activity: an inpatient's act is recorded,
      not billed as tele-expertise (omniprat.org, DOMAIN.md §2.3).
    - At most ``cap`` acts per patient per requis per calendar year (default 4, configurable).
    """
    if expert_profession not in EXPERT_PROFESSIONS:
        return BillingDecision(False, "Profession non autorisée à facturer une téléexpertise (TE2).")
    if patient_inpatient:
        return BillingDecision(False, "Patient hospitalisé : acte non facturable en téléexpertise.")
    if prior_te2_same_year >= cap:
        return BillingDecision(False, f"Plafond annuel atteint ({cap} téléexpertises par patient et par requis).")
    return BillingDecision(True, "Facturable.")


def rqd_billing(*, patient_inpatient: bool, requester_profession: str) -> BillingDecision:
    if requester_profession not in REQUESTER_PROFESSIONS:
        return BillingDecision(False, "Profession non autorisée à facturer une demande de téléexpertise (RQD).")
    if patient_inpatient:
        return BillingDecision(False, "Patient hospitalisé : acte non facturable en téléexpertise.")
    return BillingDecision(True, "Facturable.")
