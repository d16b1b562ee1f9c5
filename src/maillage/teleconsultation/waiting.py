"""The waiting room: the patient's place in their practitioner's queue and the estimated wait (the rule is
``rules.estimate_wait``, from the practitioner's actual consultation durations), and the practitioner's late notices.

The queue is the practitioner's appointments of the day (Paris) that are waiting or in consultation, in the order of
their slots (then of arrival). A late notice is a delay chosen from ``rules.LATE_CHOICES`` (no text, so no health
data); it is kept, audited once per appointment it reaches (the day's appointments still to hold), and sent live to
their rooms (message ``notice``); a patient who arrives later sees the latest notice of the day.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.kit.clock import now
from maillage.models.teleconsultation import TeleconsultationAppointment, TeleconsultationLateNotice
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.purposes import Purpose
from maillage.teleconsultation import availability, booking, relay, rules
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation.rules import Status

QUEUED = (Status.WAITING.value, Status.IN_CONSULTATION.value)
STILL_TO_HOLD = (Status.BOOKED.value, Status.WAITING.value)


@dataclass(frozen=True)
class Notice:
    minutes: int
    sent_at: dt.datetime
    text: str

    def message(self) -> dict[str, object]:
        """The room's ``notice`` message."""
        return {"type": "notice", "minutes": self.minutes, "sent_at": self.sent_at.isoformat(), "text": self.text}


def _day_bounds(at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(at.astimezone(rules.PARIS).date(), dt.time(), rules.PARIS).astimezone(dt.UTC)
    return start, start + dt.timedelta(days=1)


def latest_notice(session: Session, practitioner_id: uuid.UUID, at: dt.datetime | None = None) -> Notice | None:
    """The practitioner's latest late notice of the day, if any."""
    at = at or now()
    found = repo.latest_late_notice(session, practitioner_id, _day_bounds(at)[0])
    return Notice(found.minutes, found.sent_at, rules.late_notice_text(found.minutes)) if found else None


def estimate(session: Session, appt: TeleconsultationAppointment, at: dt.datetime | None = None) -> rules.WaitEstimate:
    """The place and the estimated wait of a waiting appointment (the caller has checked who asks)."""
    at = at or now()
    start, end = _day_bounds(appt.starts_at)
    queue = repo.practitioner_open(session, appt.practitioner_id, start, end, QUEUED)
    current = next((a for a in queue if a.status == Status.IN_CONSULTATION and a.id != appt.id), None)
    ahead = 0
    for other in queue:
        if other.id == appt.id:
            break
        if other.status == Status.WAITING:
            ahead += 1
    slot = max(1, round((appt.ends_at - appt.starts_at).total_seconds() / 60))
    typical, from_history = rules.typical_minutes(repo.recent_durations(session, appt.practitioner_id,
                                                                        rules.WAIT_HISTORY), slot)
    notice = latest_notice(session, appt.practitioner_id, at)
    late_until = notice.sent_at + dt.timedelta(minutes=notice.minutes) if notice else None
    return rules.estimate_wait(at=at, starts_at=appt.starts_at, ahead=ahead,
                               current_since=current.admitted_at if current else None, typical=typical,
                               from_history=from_history, late_until=late_until)


def send_late_notice(session: Session, actor: Actor, minutes: int,
                     context: AuditContext | None = None) -> tuple[Notice, int]:
    """Tell the patients of the practitioner's appointments still to hold today that they are late by ``minutes``:
    the notice and the number of appointments it reached."""
    availability.need_run(actor)
    text = rules.late_notice_text(minutes)
    at = now()
    row = TeleconsultationLateNotice(practitioner_id=actor.user_id, minutes=minutes, sent_at=at)
    session.add(row)
    session.flush()
    notice = Notice(minutes, at, text)
    start, end = _day_bounds(at)
    reached = repo.practitioner_open(session, actor.user_id, start, end, STILL_TO_HOLD)
    for appt in reached:
        record(session, action="late_notice", object_type=booking.OBJECT_TYPE, object_id=str(appt.id),
               patient_id=str(appt.patient_id), purpose=Purpose.TELECONSULTATION.value, context=context,
               details={"minutes": minutes}, **actor.audit_fields)
        relay.publish_on_commit(session, booking.room_topic(appt.id), notice.message())
    if not reached:
        record(session, action="late_notice", object_type=booking.OBJECT_TYPE, purpose=Purpose.TELECONSULTATION.value,
               context=context, details={"minutes": minutes, "count": 0}, **actor.audit_fields)
    return notice, len(reached)
