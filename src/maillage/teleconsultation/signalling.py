"""The room's signalling WebSocket, ``/teleconsultation/signal/{appointment id}``: the message types are written in
docs/teleconsultation.md.

Who may enter: the appointment's practitioner (by their session cookie, second factor passed), the patient (by
the link session cookie of that appointment, within the link's window, consent given) or, for an assisted
consultation, the assisting nurse on the patient's side (by their session cookie, within the same window, consent
recorded), and a third participant who consented (by the guest session cookie of their invitation, or by their
session for an invitation by account); the third participant's media is relayed only once the patient has accepted
them (``participants``). Anyone else, or a page of another origin, is refused before the handshake completes (HTTP
403) and the refused attempt is audited. Entering is audited. Each socket has a random connection id (``welcome``'s
``id``); relayed messages carry the sender's (``from``) and may be addressed to one (``to``): with three
participants, each pair has its own connection.

Messages pass through ``relay`` (PostgreSQL LISTEN/NOTIFY, or in process on SQLite), so the two peers may be
connected to two different ``maillage serve`` processes. The server relays the WebRTC messages (offer, answer,
candidate) between the practitioner and the patient only while the appointment is in consultation: a patient in the
waiting room reaches nobody. Two messages are answered by the server itself, never relayed: ``queue`` (the patient's
place and estimated wait, ``waiting``) and ``stats`` (the browser's quality figures, kept by ``quality``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from maillage.auth import service as auth_service
from maillage.authz import service as authz
from maillage.config import Settings
from maillage.exceptions import MaillageError
from maillage.kit.clock import now
from maillage.kit.http import AFTER_ROLLBACK
from maillage.security.context import AuditContext
from maillage.security.deps import SESSION_COOKIE
from maillage.security.purposes import Purpose
from maillage.teleconsultation import assisted, booking, ice, participants, patient_link, quality, relay, rules, waiting
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation.rules import LinkRefusal, Status

router = APIRouter()

PATIENT_COOKIE = "maillage_tc"
GUEST_COOKIE = "maillage_tc_guest"
PRACTITIONER = "practitioner"
PATIENT = "patient"
GUEST = participants.GUEST_ROLE
PEER_TYPES = frozenset({"offer", "answer", "candidate", "present", "hangup"})
SERVER_TYPES = frozenset({"queue", "stats", "third-party"})  # answered by the server, not relayed
QUEUE_EVERY = 5.0  # seconds: a patient's ``queue`` asked more often is not answered
MEDIA_TYPES = frozenset({"offer", "answer", "candidate"})
MAX_MESSAGE = 16_000
CANDIDATE_FIELDS = frozenset({"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"})
REFUSED = 4403


@dataclass(frozen=True)
class Entry:
    role: str
    status: str
    guest: str = ""  # a third participant's invitation
    guest_state: str = ""


def waiting_messages(sessions: sessionmaker[Session], appointment_id: uuid.UUID) -> list[dict[str, Any]]:
    """What the patient's waiting room shows: the place and the estimated wait (while waiting) and the
    practitioner's latest late notice of the day."""
    with sessions() as db:
        appt = repo.appointment(db, appointment_id)
        if appt is None:
            return []
        out: list[dict[str, Any]] = []
        if appt.status == Status.WAITING:
            estimate = waiting.estimate(db, appt)
            out.append({"type": "queue", "place": estimate.place, "minutes": estimate.minutes,
                        "text": rules.wait_text(estimate)})
        notice = waiting.latest_notice(db, appt.practitioner_id)
        if notice is not None and appt.status in (Status.BOOKED, Status.WAITING):
            out.append(notice.message())
        out.extend(participants.message(g) for g in participants.pending(db, appt))
        return out


def decide(sessions: sessionmaker[Session], secret: str, guest: str, accept: bool,
           context: AuditContext) -> str | None:
    """The patient's answer about a third participant, in its own unit of work: None, or the French error."""
    with sessions() as db:
        try:
            participants.patient_decides(db, secret, guest, accept=accept, context=context)
        except (MaillageError, patient_link.LinkRefused) as exc:
            pending = db.info.pop(AFTER_ROLLBACK, [])
            db.rollback()
            for write in pending:
                write(db)
            db.commit()
            return exc.message if isinstance(exc, MaillageError) else exc.refusal.label
        db.commit()
        return None


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin", "")
    host = ws.headers.get("host", "")
    return bool(host) and origin in (f"http://{host}", f"https://{host}")


def _cookies(ws: WebSocket) -> SimpleCookie:
    jar = SimpleCookie()
    with contextlib.suppress(Exception):
        jar.load(ws.headers.get("cookie", ""))
    return jar


def _guest_entry(db: Session, gs: participants.GuestSession, context: AuditContext) -> Entry:
    participants.join(db, gs, context)
    return Entry(GUEST, gs.appointment.status, str(gs.guest.id), gs.state.value)


def enter(sessions: sessionmaker[Session], settings: Settings, appointment_id: uuid.UUID, *, session_token: str,
          patient_secret: str, context: AuditContext, guest_secret: str = "") -> Entry | None:
    """Who enters the room (audited), or None (the refusal audited in its own transaction)."""
    db = sessions()
    try:
        entry = None
        try:
            if session_token:
                found = auth_service.resolve_session(db, session_token, settings=settings)
                if found is not None and found[0].mfa_passed and not found[1].must_change_password:
                    actor = auth_service.actor_for(db, found[1], found[0])
                    appt = repo.appointment(db, appointment_id)
                    if appt is not None and appt.practitioner_id == actor.user_id:
                        appt = booking.load(db, actor, appointment_id, action="join", context=context)
                        entry = Entry(PRACTITIONER, appt.status)
                    elif appt is not None and appt.assisting_nurse_id == actor.user_id:
                        # The assisting nurse holds the patient's side (no patient link for that appointment).
                        appt = assisted.enter_room(db, actor, appointment_id, context=context)
                        entry = Entry(PATIENT, appt.status)
                    elif appt is not None and repo.guest_of_user(db, appt.id, actor.user_id) is not None:
                        entry = _guest_entry(db, participants.resolve_account(db, actor, appt.id, action="join",
                                                                              context=context), context)
                    elif not patient_secret and not guest_secret:
                        # Not the practitioner (the requester too stays out of the room): the answer of a room that
                        # does not exist, audited.
                        authz.record_refusal(db, actor, action="join", object_type=booking.OBJECT_TYPE,
                                             object_id=str(appointment_id),
                                             patient_id=appt.patient_id if appt else None,
                                             purpose=Purpose.TELECONSULTATION, context=context)
            if entry is None and patient_secret:
                ps = patient_link.resolve(db, patient_secret, appointment_id, action="join", context=context)
                if ps.appointment.consent_at is None:
                    raise patient_link.refuse(db, LinkRefusal.NO_CONSENT, action="join", appt=ps.appointment,
                                              link_id=ps.link.id, context=context)
                patient_link.audit_patient(db, action="join", appt=ps.appointment, link_id=ps.link.id, context=context)
                entry = Entry(PATIENT, ps.appointment.status)
            if entry is None and guest_secret:
                entry = _guest_entry(db, participants.resolve(db, guest_secret, appointment_id, action="join",
                                                              context=context), context)
        except (MaillageError, patient_link.LinkRefused, participants.GuestRefused):
            entry = None
        if entry is None:
            pending = db.info.pop(AFTER_ROLLBACK, [])
            db.rollback()
            for write in pending:  # the refused attempt's audit entry
                write(db)
        db.commit()
        return entry
    finally:
        db.close()


@router.websocket("/teleconsultation/signal/{appointment_id}")
async def signal(ws: WebSocket, appointment_id: uuid.UUID) -> None:
    settings: Settings = ws.app.state.settings
    sessions: sessionmaker[Session] = ws.app.state.sessionmaker
    jar = _cookies(ws)
    token = jar[SESSION_COOKIE].value if SESSION_COOKIE in jar else ""
    secret = jar[PATIENT_COOKIE].value if PATIENT_COOKIE in jar else ""
    guest_secret = jar[GUEST_COOKIE].value if GUEST_COOKIE in jar else ""
    context = AuditContext(request_id="", address=ws.client.host if ws.client else "")
    entry = None
    if _same_origin(ws) and (token or secret or guest_secret):
        entry = await run_in_threadpool(enter, sessions, settings, appointment_id, session_token=token,
                                        patient_secret=secret, guest_secret=guest_secret, context=context)
    if entry is None:
        await ws.close(code=REFUSED)
        return
    await run_in_threadpool(relay.ensure_listener, sessions)
    topic = booking.room_topic(appointment_id)
    me = uuid.uuid4().hex
    queue = relay.subscribe(topic)
    status = entry.status
    guest_state = entry.guest_state

    def exchanges() -> bool:
        """Whether this participant's media may pass: in consultation, and a guest once the patient accepted."""
        if entry.role == GUEST:
            return rules.guest_may_exchange(state=rules.GuestState(guest_state), status=Status(status))
        return status == Status.IN_CONSULTATION

    try:
        await ws.accept()
        await ws.send_json({"type": "welcome", "role": entry.role, "status": status, "id": me,
                            "ice_servers": ice.ice_servers(settings, at=now(), user=entry.role),
                            **({"guest_state": guest_state} if entry.role == GUEST else {})})
        if entry.role == PATIENT:
            for waiting_message in await run_in_threadpool(waiting_messages, sessions, appointment_id):
                await ws.send_json(waiting_message)
        queue_answered = 0.0
        relay.publish(sessions, topic, {"type": "peer-joined", "role": entry.role, "from": me}, me)

        async def outbound() -> None:
            nonlocal status, guest_state
            while True:
                message = await queue.get()
                sender = message.pop("sender", "")
                kind = message.get("type")
                if kind == "state":
                    status = str(message.get("status", status))
                elif sender == me or message.get("to", me) != me:
                    continue
                if kind == "third-party" and entry.role == GUEST:
                    if message.get("guest") != entry.guest:
                        continue
                    guest_state = str(message.get("state", guest_state))
                if kind in MEDIA_TYPES | {"present"} and entry.role == GUEST and not exchanges():
                    continue  # nobody reaches a third participant the patient has not accepted
                await ws.send_json(message)
                if kind == "state" and status in (Status.DONE, Status.CANCELLED):
                    await ws.close(code=1000)
                    return
                if kind == "third-party" and entry.role == GUEST and guest_state in ("refused", "revoked"):
                    await ws.close(code=1000)
                    return

        sender_task = asyncio.create_task(outbound())
        try:
            while not sender_task.done():
                receive = asyncio.create_task(ws.receive_text())
                done, _ = await asyncio.wait({receive, sender_task}, return_when=asyncio.FIRST_COMPLETED)
                if receive not in done:
                    receive.cancel()
                    break
                raw = receive.result()
                message = _checked(raw)
                if message is None:
                    await ws.send_json({"type": "error", "message": "Message non reconnu."})
                    continue
                kind = message["type"]
                if kind == "stats":
                    if exchanges():
                        await run_in_threadpool(quality.keep_in_own_transaction, sessions, appointment_id,
                                                entry.role, message["sample"])
                    continue
                if kind == "queue":
                    clock = asyncio.get_running_loop().time()
                    if entry.role == PATIENT and clock - queue_answered >= QUEUE_EVERY:
                        queue_answered = clock
                        for waiting_message in await run_in_threadpool(waiting_messages, sessions, appointment_id):
                            await ws.send_json(waiting_message)
                    continue
                if kind == "third-party":
                    if entry.role == PATIENT:
                        problem = await run_in_threadpool(decide, sessions, secret, message["guest"],
                                                          message["accept"], context)
                        if problem:
                            await ws.send_json({"type": "error", "message": problem})
                    continue
                if kind in MEDIA_TYPES and not exchanges():
                    continue  # the waiting room reaches nobody
                if kind == "present" and entry.role == GUEST and not exchanges():
                    continue  # nor does a third participant the patient has not accepted
                message["role"] = entry.role
                message["from"] = me
                try:
                    relay.publish(sessions, topic, message, me)
                except relay.TooLarge:
                    await ws.send_json({"type": "error", "message": "Message trop volumineux."})
        except (WebSocketDisconnect, RuntimeError, KeyError):  # gone, or a binary frame the protocol has not
            pass
        finally:
            sender_task.cancel()
    finally:
        relay.unsubscribe(topic, queue)
        with contextlib.suppress(Exception):
            relay.publish(sessions, topic, {"type": "peer-left", "role": entry.role, "from": me}, me)


def _checked(raw: str) -> dict[str, Any] | None:
    """A client's message if it is one the protocol knows (type and fields), else None."""
    if len(raw) > MAX_MESSAGE:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("type") not in PEER_TYPES | SERVER_TYPES:
        return None
    kind = data["type"]
    if kind == "stats":
        sample = quality.parse(data)
        return {"type": kind, "sample": sample} if sample is not None else None
    if kind == "third-party":
        guest, accept = data.get("guest"), data.get("accept")
        return ({"type": kind, "guest": guest, "accept": accept}
                if isinstance(guest, str) and len(guest) <= 36 and isinstance(accept, bool) else None)
    target = data.get("to")
    if target is not None and not (isinstance(target, str) and len(target) == 32 and target.isalnum()):
        return None
    addressed = {"to": target} if target else {}
    rounds = {**addressed, **({"n": data["n"]} if isinstance(data.get("n"), int)
                              and not isinstance(data.get("n"), bool) else {})}
    if kind in ("offer", "answer"):
        sdp = data.get("sdp")
        return {"type": kind, "sdp": sdp, **rounds} if isinstance(sdp, str) and sdp else None
    if kind == "candidate":
        candidate = data.get("candidate")
        if not isinstance(candidate, dict):
            return None
        kept = {k: v for k, v in candidate.items()
                if k in CANDIDATE_FIELDS and (v is None or isinstance(v, (str, int)))}
        return {"type": kind, "candidate": kept, **rounds}
    return {"type": kind, **addressed}
