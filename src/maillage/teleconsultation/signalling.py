"""The room's signalling WebSocket, ``/teleconsultation/signal/{appointment id}``: the message types are written in
docs/teleconsultation.md.

Who may enter: the appointment's practitioner (by their session cookie, second factor passed) and the patient (by
the link session cookie of that appointment, within the link's window) or, for an assisted consultation, the
assisting nurse on the patient's side (by their session cookie, within the same window, consent recorded). Anyone
else, or a page of another origin, is refused before the handshake completes (HTTP 403) and the refused attempt is
audited. Entering is audited.

Messages pass through ``relay`` (PostgreSQL LISTEN/NOTIFY, or in process on SQLite), so the two peers may be
connected to two different ``maillage serve`` processes. The server relays the WebRTC messages (offer, answer,
candidate) between the practitioner and the patient only while the appointment is in consultation: a patient in the
waiting room reaches nobody.
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
from maillage.kit.http import AFTER_ROLLBACK
from maillage.security.context import AuditContext
from maillage.security.deps import SESSION_COOKIE
from maillage.security.purposes import Purpose
from maillage.teleconsultation import assisted, booking, patient_link, relay
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation.rules import LinkRefusal, Status

router = APIRouter()

PATIENT_COOKIE = "maillage_tc"
PRACTITIONER = "practitioner"
PATIENT = "patient"
PEER_TYPES = frozenset({"offer", "answer", "candidate", "present", "hangup"})
MEDIA_TYPES = frozenset({"offer", "answer", "candidate"})
MAX_MESSAGE = 16_000
CANDIDATE_FIELDS = frozenset({"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"})
REFUSED = 4403


@dataclass(frozen=True)
class Entry:
    role: str
    status: str


def ice_servers(settings: Settings) -> list[dict[str, Any]]:
    urls = [u for u in settings.teleconsultation_ice_servers.split()
            if u.startswith(("stun:", "stuns:", "turn:", "turns:"))]
    return [{"urls": urls}] if urls else []


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin", "")
    host = ws.headers.get("host", "")
    return bool(host) and origin in (f"http://{host}", f"https://{host}")


def _cookies(ws: WebSocket) -> SimpleCookie:
    jar = SimpleCookie()
    with contextlib.suppress(Exception):
        jar.load(ws.headers.get("cookie", ""))
    return jar


def enter(sessions: sessionmaker[Session], settings: Settings, appointment_id: uuid.UUID, *, session_token: str,
          patient_secret: str, context: AuditContext) -> Entry | None:
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
                    elif not patient_secret:
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
        except (MaillageError, patient_link.LinkRefused):
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
    context = AuditContext(request_id="", address=ws.client.host if ws.client else "")
    entry = None
    if _same_origin(ws) and (token or secret):
        entry = await run_in_threadpool(enter, sessions, settings, appointment_id, session_token=token,
                                        patient_secret=secret, context=context)
    if entry is None:
        await ws.close(code=REFUSED)
        return
    await run_in_threadpool(relay.ensure_listener, sessions)
    topic = booking.room_topic(appointment_id)
    me = uuid.uuid4().hex
    queue = relay.subscribe(topic)
    status = entry.status
    try:
        await ws.accept()
        await ws.send_json({"type": "welcome", "role": entry.role, "status": status,
                            "ice_servers": ice_servers(settings)})
        await run_in_threadpool(relay.publish_now, sessions, topic, {"type": "peer-joined", "role": entry.role}, me)

        async def outbound() -> None:
            nonlocal status
            while True:
                message = await queue.get()
                sender = message.pop("sender", "")
                if message.get("type") == "state":
                    status = str(message.get("status", status))
                elif sender == me:
                    continue
                await ws.send_json(message)
                if message.get("type") == "state" and status in (Status.DONE, Status.CANCELLED):
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
                if message["type"] in MEDIA_TYPES and status != Status.IN_CONSULTATION:
                    continue  # the waiting room reaches nobody
                message["role"] = entry.role
                try:
                    await run_in_threadpool(relay.publish_now, sessions, topic, message, me)
                except relay.TooLarge:
                    await ws.send_json({"type": "error", "message": "Message trop volumineux."})
        except (WebSocketDisconnect, RuntimeError, KeyError):  # gone, or a binary frame the protocol has not
            pass
        finally:
            sender_task.cancel()
    finally:
        relay.unsubscribe(topic, queue)
        with contextlib.suppress(Exception):
            await run_in_threadpool(relay.publish_now, sessions, topic, {"type": "peer-left", "role": entry.role}, me)


def _checked(raw: str) -> dict[str, Any] | None:
    """A client's message if it is one the protocol knows (type and fields), else None."""
    if len(raw) > MAX_MESSAGE:
        return None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("type") not in PEER_TYPES:
        return None
    kind = data["type"]
    rounds = {"n": data["n"]} if isinstance(data.get("n"), int) and not isinstance(data.get("n"), bool) else {}
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
    return {"type": kind}
