"""Pure rules of teleconsultation: the appointment's state machine, availability and its slots, the patient's link
window. No I/O.

State machine: booked → patient waiting (the patient has consented and waits) → in consultation (the practitioner
admitted them) → done. Before the consultation, an appointment may be cancelled (with a reason), rescheduled (it
closes and a new one is booked in another slot) or recorded as a no-show once its slot has started.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from maillage.exceptions import InvalidTransition, ValidationFailed
from maillage.kit.enums import LabelledEnum

PARIS = ZoneInfo("Europe/Paris")


class Status(LabelledEnum):
    BOOKED = "booked", "Patient pas encore arrivé"
    WAITING = "waiting", "En salle d'attente"
    IN_CONSULTATION = "in_consultation", "En consultation"
    DONE = "done", "Terminée"
    CANCELLED = "cancelled", "Annulée"
    RESCHEDULED = "rescheduled", "Reportée"
    NO_SHOW = "no_show", "Patient absent"


TERMINAL = frozenset({Status.DONE, Status.CANCELLED, Status.RESCHEDULED, Status.NO_SHOW})


class Action(LabelledEnum):
    """What someone does to an appointment; the label is the verb a refusal message uses ("Impossible de …")."""

    ARRIVE = "arrive", "entrer en salle d'attente"  # the patient, after consenting
    ADMIT = "admit", "admettre le patient"  # the practitioner
    END = "end", "terminer la consultation"  # the practitioner
    CANCEL = "cancel", "annuler"  # requester or practitioner, with a reason
    RESCHEDULE = "reschedule", "reporter"  # requester or practitioner, with a reason
    NO_SHOW = "no_show", "déclarer le patient absent"  # the practitioner, once the slot has started


TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (Status.BOOKED, Action.ARRIVE): Status.WAITING,
    (Status.BOOKED, Action.CANCEL): Status.CANCELLED,
    (Status.BOOKED, Action.RESCHEDULE): Status.RESCHEDULED,
    (Status.BOOKED, Action.NO_SHOW): Status.NO_SHOW,
    (Status.WAITING, Action.ARRIVE): Status.WAITING,  # the patient's page reloaded: still waiting
    (Status.WAITING, Action.ADMIT): Status.IN_CONSULTATION,
    (Status.WAITING, Action.CANCEL): Status.CANCELLED,
    (Status.WAITING, Action.RESCHEDULE): Status.RESCHEDULED,
    (Status.IN_CONSULTATION, Action.END): Status.DONE,
}


def next_status(current: Status, action: Action) -> Status:
    """The status after ``action``, or InvalidTransition (409) with a French message."""
    target = TRANSITIONS.get((current, action))
    if target is None:
        raise InvalidTransition(f"Impossible de {action.label} : le rendez-vous est « {current.label} ».")
    return target


def check_no_show(starts_at: dt.datetime, at: dt.datetime) -> None:
    """A no-show is recorded once the slot has started, never before."""
    if at < starts_at:
        raise InvalidTransition("Le créneau n'a pas commencé : le patient ne peut pas encore être déclaré absent.")


MIN_REASON_CHARS = 5


def reason_text(reason: str | None, action: Action) -> str:
    text = " ".join((reason or "").split())
    if len(text) < MIN_REASON_CHARS:
        raise ValidationFailed(f"Indiquez un motif pour {action.label} ({MIN_REASON_CHARS} caractères au moins).",
                               details=[{"field": "reason", "message": "Motif obligatoire."}])
    return text


# -- The patient's link --------------------------------------------------------------------------------------------

OPENS_BEFORE = dt.timedelta(minutes=15)
CLOSES_AFTER = dt.timedelta(minutes=30)  # after the slot's end: a consultation that runs late stays reachable


def link_window(starts_at: dt.datetime, ends_at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    return starts_at - OPENS_BEFORE, ends_at + CLOSES_AFTER


class LinkRefusal(LabelledEnum):
    """Why a link opens nothing; the label is what the patient reads."""

    UNKNOWN = "unknown", "Ce lien n'est pas valide. Vérifiez qu'il a été copié en entier ou demandez-en un nouveau."
    USED = "used", "Ce lien a déjà été ouvert. Pour des raisons de sécurité, il ne s'ouvre qu'une fois : " \
                   "demandez un nouveau lien au cabinet qui a pris le rendez-vous."
    TOO_EARLY = "too_early", "Il est trop tôt : la salle d'attente ouvre 15 minutes avant l'heure du rendez-vous."
    EXPIRED = "expired", "Ce lien a expiré : l'heure du rendez-vous est passée."
    CLOSED = "closed", "Ce rendez-vous n'a plus lieu (annulé, reporté ou terminé)."
    OTHER_APPOINTMENT = "other_appointment", "Ce lien ne donne pas accès à ce rendez-vous."
    NO_CONSENT = "no_consent", "Donnez d'abord votre accord à la téléconsultation."


def link_refusal(*, at: dt.datetime, starts_at: dt.datetime, ends_at: dt.datetime, status: Status,
                 opened: bool, revoked: bool) -> LinkRefusal | None:
    """Why a link can not be opened now (None: it opens). A link opens once."""
    if revoked:
        return LinkRefusal.UNKNOWN
    if opened:
        return LinkRefusal.USED
    return session_refusal(at=at, starts_at=starts_at, ends_at=ends_at, status=status)


def session_refusal(*, at: dt.datetime, starts_at: dt.datetime, ends_at: dt.datetime,
                    status: Status) -> LinkRefusal | None:
    """Why an opened link's session no longer opens the room (None: it does)."""
    if status in TERMINAL and status is not Status.DONE:
        return LinkRefusal.CLOSED
    opens, closes = link_window(starts_at, ends_at)
    if at < opens:
        return LinkRefusal.TOO_EARLY
    if at > closes:
        return LinkRefusal.EXPIRED
    return None


# -- Availability and slots ----------------------------------------------------------------------------------------


class Kind(LabelledEnum):
    WEEKLY = "weekly", "Chaque semaine"
    EXTRA = "extra", "Ajout ponctuel"
    ABSENCE = "absence", "Absence"


WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
REMOTE = "remote"


@dataclass(frozen=True)
class Range:
    """One availability range, as stored (minutes from midnight, Paris time)."""

    kind: Kind
    start_minute: int
    end_minute: int
    weekday: int | None = None
    day: dt.date | None = None
    slot_minutes: int | None = None
    line: str | None = None  # the specialty line's id, as text (None for an absence)
    place: str = REMOTE

    def applies_to(self, day: dt.date) -> bool:
        return self.weekday == day.weekday() if self.kind is Kind.WEEKLY else self.day == day


@dataclass(frozen=True)
class Slot:
    starts_at: dt.datetime  # UTC
    ends_at: dt.datetime
    line: str
    place: str


def range_problems(r: Range) -> list[dict[str, str]]:
    """What is wrong with a range, field by field (empty: it can be published)."""
    problems: list[dict[str, str]] = []
    if not (0 <= r.start_minute < r.end_minute <= 1440):
        problems.append({"field": "end", "message": "L'heure de fin doit suivre l'heure de début, le même jour."})
    if r.kind is Kind.WEEKLY and (r.weekday is None or not 0 <= r.weekday <= 6):
        problems.append({"field": "weekday", "message": "Choisissez un jour de la semaine."})
    if r.kind is not Kind.WEEKLY and r.day is None:
        problems.append({"field": "day", "message": "Choisissez une date."})
    if r.kind is not Kind.ABSENCE:
        if r.slot_minutes is None or not 5 <= r.slot_minutes <= 120:
            problems.append({"field": "slot_minutes", "message": "La durée d'un créneau va de 5 à 120 minutes."})
        elif 0 <= r.start_minute < r.end_minute and (r.end_minute - r.start_minute) < r.slot_minutes:
            problems.append({"field": "end", "message": "La plage est plus courte qu'un créneau."})
        if not r.line:
            problems.append({"field": "line_id", "message": "Choisissez la ligne de spécialité."})
    return problems


def overlaps(new: Range, existing: Iterable[Range]) -> bool:
    """Whether ``new`` (a weekly range or an addition) overlaps a range of the same practitioner that gives slots:
    two ranges of one day would offer two slots at once."""
    if new.kind is Kind.ABSENCE:
        return False
    for r in existing:
        if r.kind is Kind.ABSENCE:
            continue
        same_days = ((r.kind is Kind.WEEKLY and new.kind is Kind.WEEKLY and r.weekday == new.weekday)
                     or (r.kind is Kind.EXTRA and new.kind is Kind.EXTRA and r.day == new.day)
                     or (r.kind is Kind.WEEKLY and new.kind is Kind.EXTRA and new.day is not None
                         and new.day.weekday() == r.weekday)
                     or (r.kind is Kind.EXTRA and new.kind is Kind.WEEKLY and r.day is not None
                         and r.day.weekday() == new.weekday))
        if same_days and new.start_minute < r.end_minute and r.start_minute < new.end_minute:
            return True
    return False


def _at(day: dt.date, minute: int) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=minute)
    return local.replace(tzinfo=PARIS).astimezone(dt.UTC)


def slots(ranges: Iterable[Range], first_day: dt.date, days: int, *, after: dt.datetime,
          taken: Iterable[dt.datetime] = ()) -> list[Slot]:
    """The free slots of a practitioner over ``days`` days from ``first_day`` (Paris dates), in time order.

    A day's slots come from its weekly ranges and its additions, cut in ``slot_minutes`` from each range's start;
    a slot that meets an absence of that day, that starts at or before ``after`` (now), or whose start is
    ``taken`` (an appointment holds it) is not offered."""
    ranges = list(ranges)
    busy = set(taken)
    out: list[Slot] = []
    for offset in range(days):
        day = first_day + dt.timedelta(days=offset)
        todays = [r for r in ranges if r.applies_to(day)]
        absences = [(_at(day, r.start_minute), _at(day, r.end_minute)) for r in todays if r.kind is Kind.ABSENCE]
        for r in todays:
            if r.kind is Kind.ABSENCE or not r.slot_minutes or not r.line:
                continue
            minute = r.start_minute
            while minute + r.slot_minutes <= r.end_minute:
                start, end = _at(day, minute), _at(day, minute + r.slot_minutes)
                minute += r.slot_minutes
                if start <= after or start in busy or any(start < a_end and a_start < end
                                                          for a_start, a_end in absences):
                    continue
                out.append(Slot(start, end, r.line, r.place))
    out.sort(key=lambda s: s.starts_at)
    return out


# -- Assisted consultations and places ------------------------------------------------------------------------------


class Assistance(LabelledEnum):
    """The nurse's accompaniment of a teleconsultation (NGAP art. 14.9.5, DOMAIN.md §2.2): the code recorded for
    the nurse when the consultation ends, priced from the dated tariff table."""

    TLS = "TLS", "Pendant un soin infirmier déjà prévu"
    TLL = "TLL", "Dans un lieu dédié à la téléconsultation"
    TLD = "TLD", "Visite à domicile organisée pour la téléconsultation"


def assisted_refusal(*, at: dt.datetime, starts_at: dt.datetime, ends_at: dt.datetime,
                     status: Status) -> LinkRefusal | None:
    """Why the assisting nurse may not open the patient's side now (None: they may): the window and closed
    appointments are those of the patient's link (the nurse stands in for it)."""
    return session_refusal(at=at, starts_at=starts_at, ends_at=ends_at, status=status)


def place_open(ranges: Iterable[Range], starts_at: dt.datetime, ends_at: dt.datetime) -> bool:
    """Whether a place is open over ``[starts_at, ends_at)`` (UTC): one weekly range or addition of that Paris day
    holds the whole interval and no closure (``absence``) of that day meets it. A place's ranges carry no slot
    length: the practitioner's slot decides the length, the place only has to be open."""
    local_start, local_end = starts_at.astimezone(PARIS), ends_at.astimezone(PARIS)
    day = local_start.date()
    if local_end.date() != day and local_end.timetz().replace(tzinfo=None) != dt.time():
        return False
    todays = [r for r in ranges if r.applies_to(day)]
    if any(_at(day, r.start_minute) < ends_at and starts_at < _at(day, r.end_minute)
           for r in todays if r.kind is Kind.ABSENCE):
        return False
    return any(_at(day, r.start_minute) <= starts_at and ends_at <= _at(day, r.end_minute)
               for r in todays if r.kind is not Kind.ABSENCE)


def place_free(starts_at: dt.datetime, ends_at: dt.datetime,
               held: Iterable[tuple[dt.datetime, dt.datetime]]) -> bool:
    """Whether no appointment ``held`` in the place meets ``[starts_at, ends_at)`` (touching ends do not meet)."""
    return not any(start < ends_at and starts_at < end for start, end in held)


def place_range_problems(r: Range) -> list[dict[str, str]]:
    """What is wrong with a place's range (no slot length or line: a place is only open or closed)."""
    problems: list[dict[str, str]] = []
    if not (0 <= r.start_minute < r.end_minute <= 1440):
        problems.append({"field": "end", "message": "L'heure de fin doit suivre l'heure de début, le même jour."})
    if r.kind is Kind.WEEKLY and (r.weekday is None or not 0 <= r.weekday <= 6):
        problems.append({"field": "weekday", "message": "Choisissez un jour de la semaine."})
    if r.kind is not Kind.WEEKLY and r.day is None:
        problems.append({"field": "day", "message": "Choisissez une date."})
    return problems


def minutes_of(text: str) -> int:
    """``"HH:MM"`` (``"24:00"`` for the end of the day) as minutes from midnight, or ValidationFailed."""
    try:
        hours, minutes = text.strip().split(":")
        value = int(hours) * 60 + int(minutes)
    except ValueError:
        raise ValidationFailed("Heure attendue au format HH:MM.") from None
    if not (0 <= int(minutes) < 60 and 0 <= value <= 1440):
        raise ValidationFailed("Heure attendue au format HH:MM.")
    return value


def clock_text(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


# -- Follow-up ------------------------------------------------------------------------------------------------------


class FollowUp(LabelledEnum):
    """What the practitioner orders after a teleconsultation (issue 19: another teleconsultation, an in-person
    consultation, a tele-expertise)."""

    TELECONSULTATION = "teleconsultation", "Nouvelle téléconsultation à programmer"
    IN_PERSON = "in_person", "Consultation en présentiel à programmer"
    TELEEXPERTISE = "teleexpertise", "Demande de téléexpertise à adresser"


def follow_up_kind(value: str) -> FollowUp:
    try:
        return FollowUp(value)
    except ValueError:
        raise ValidationFailed("Choisissez la suite à donner.",
                               details=[{"field": "kind", "message": "Suite inconnue."}]) from None


def check_follow_up(status: Status, *, already: str | None) -> None:
    """A follow-up is ordered once the consultation is done, and once."""
    if status is not Status.DONE:
        raise InvalidTransition(f"Une suite se demande une fois la consultation terminée : le rendez-vous est "
                                f"« {status.label} ».")
    if already is not None:
        raise InvalidTransition("Une suite est déjà demandée pour cette téléconsultation.")
# -- The waiting room: place, estimated wait, late notices -----------------------------------------------------------

# The typical length of the practitioner's consultations: the median of the durations (admitted → ended) of their
# last WAIT_HISTORY held consultations, so that one consultation that ran very long or very short does not move the
# estimate much; with fewer than WAIT_MIN_HISTORY of them, the slot's length (what the practitioner planned).
WAIT_HISTORY = 10
WAIT_MIN_HISTORY = 3
TYPICAL_MINUTES_BOUNDS = (1, 120)  # a duration outside (a forgotten "end") is clamped, not trusted as is


@dataclass(frozen=True)
class WaitEstimate:
    place: int  # 1: the next patient to be admitted
    minutes: int  # estimated minutes before admission, rounded up
    typical_minutes: int  # the typical consultation length used
    from_history: bool  # False: the slot's length stood in for a history


def typical_minutes(durations: Iterable[dt.timedelta], slot_minutes: int) -> tuple[int, bool]:
    """The typical consultation length in minutes (the median of the last WAIT_HISTORY durations, newest first in
    ``durations``), and whether it comes from the history; the slot's length without enough history."""
    low, high = TYPICAL_MINUTES_BOUNDS
    recent = [min(high, max(low, d.total_seconds() / 60)) for d in list(durations)[:WAIT_HISTORY]]
    if len(recent) < WAIT_MIN_HISTORY:
        return max(low, slot_minutes), False
    recent.sort()
    middle = len(recent) // 2
    median = recent[middle] if len(recent) % 2 else (recent[middle - 1] + recent[middle]) / 2
    return max(low, round(median)), True


def estimate_wait(*, at: dt.datetime, starts_at: dt.datetime, ahead: int, current_since: dt.datetime | None,
                  typical: int, from_history: bool = True, late_until: dt.datetime | None = None) -> WaitEstimate:
    """The wait of a patient with ``ahead`` patients waiting before them: what remains of the consultation in course
    (typical length minus its elapsed time, at least one minute; none in course: nothing), plus a typical length per
    patient ahead; never before the patient's slot starts, nor before the end of an announced delay."""
    remaining = 0.0
    if current_since is not None:
        remaining = max(1.0, typical - (at - current_since).total_seconds() / 60)
    minutes = remaining + ahead * typical
    floors = [starts_at] + ([late_until] if late_until is not None else [])
    for floor in floors:
        minutes = max(minutes, (floor - at).total_seconds() / 60)
    return WaitEstimate(place=ahead + 1, minutes=max(0, math.ceil(minutes - 1e-9)), typical_minutes=typical,
                        from_history=from_history)


def wait_text(estimate: WaitEstimate) -> str:
    """The waiting room's sentence, in French."""
    place = ("Vous êtes le prochain patient." if estimate.place == 1
             else f"{estimate.place - 1} {'patient passe' if estimate.place == 2 else 'patients passent'} avant vous.")
    if estimate.minutes <= 1:
        return f"{place} Votre médecin devrait vous faire entrer d'un instant à l'autre."
    return f"{place} Attente estimée : environ {estimate.minutes} minutes."


# A late notice carries a delay chosen from a list, never free text: it cannot hold health data.
LATE_CHOICES = (5, 10, 15, 20, 30, 45, 60)


def late_notice_text(minutes: int) -> str:
    """The sentence shown in the waiting rooms for a delay of ``minutes`` (one of LATE_CHOICES)."""
    if minutes not in LATE_CHOICES:
        raise ValidationFailed("Choisissez le retard dans la liste.",
                               details=[{"field": "minutes", "message": "Retard non prévu."}])
    return (f"Votre médecin a environ {minutes} minutes de retard. Merci de patienter : vous restez en salle "
            "d'attente, il vous fera entrer dès qu'il le pourra.")


# -- The third participant -------------------------------------------------------------------------------------------

# One third participant per consultation: the room is then three peers, each linked to the two others.
MAX_GUESTS = 1


class Capacity(LabelledEnum):
    """In what capacity a third participant joins; the label is what the patient is asked to accept."""

    INTERPRETER = "interpreter", "un ou une interprète"
    FAMILY = "family", "un proche du patient"
    NURSE = "nurse", "un infirmier ou une infirmière"
    SPECIALIST = "specialist", "un second spécialiste"


class GuestState(LabelledEnum):
    INVITED = "invited", "Invitation envoyée"
    ASKING = "asking", "En attente de l'accord du patient"  # the guest has consented
    ADMITTED = "admitted", "Accepté par le patient"
    REFUSED = "refused", "Refusé par le patient"
    REVOKED = "revoked", "Invitation retirée"


def guest_state(*, consent_at: dt.datetime | None, patient_decision: str | None, revoked: bool) -> GuestState:
    if revoked:
        return GuestState.REVOKED
    if patient_decision == "refused":
        return GuestState.REFUSED
    if consent_at is None:
        return GuestState.INVITED
    return GuestState.ADMITTED if patient_decision == "accepted" else GuestState.ASKING


INVITABLE = frozenset({Status.BOOKED, Status.WAITING, Status.IN_CONSULTATION})


def check_invite(status: Status, live_guests: int) -> None:
    """A third participant may be invited before or during the consultation, one at a time."""
    if status not in INVITABLE:
        raise InvalidTransition(f"Impossible d'inviter un tiers : le rendez-vous est « {status.label} ».")
    if live_guests >= MAX_GUESTS:
        raise InvalidTransition("Un tiers est déjà invité à cette consultation : retirez son invitation d'abord.")


def guest_may_exchange(*, state: GuestState, status: Status) -> bool:
    """Whether the third participant's media is relayed: they consented, the patient accepted them (the patient's
    consent recorded before the third person is admitted), and the consultation is in course."""
    return state is GuestState.ADMITTED and status is Status.IN_CONSULTATION
