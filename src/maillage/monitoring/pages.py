"""Pages of telesurveillance: the nurses' worklist (live), the patient's page with curves, adherence checks.

Live updates use server-sent events: the stream holds no database session while it waits; it is woken by an
in-process counter (bumped by this process's commits and, on PostgreSQL, by other processes' notifications)
and, every two seconds, reads a cheap indexed mark in a short session of its own (``live.py``). The browser
then reloads the worklist fragment with HTMX.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from maillage.exceptions import MaillageError, NotFound
from maillage.kit import charts
from maillage.kit.clock import now
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.templating import templates
from maillage.monitoring import administration, live, service
from maillage.monitoring import repository as repo
from maillage.monitoring.patient_file import PatientFile, patient_file
from maillage.monitoring.rules.adherence import ADHERENCE_MINIMUM
from maillage.monitoring.rules.enrolment import END_REASONS, PAUSE_REASONS, EnrolmentStatus
from maillage.monitoring.rules.forfaits import ForfaitLevel
from maillage.monitoring.rules.measures import MEASURES
from maillage.patient import service as patients
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission, role_allows
from maillage.security.purposes import Purpose

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Triage = Annotated[Actor, Depends(require(Permission.MONITORING_TRIAGE))]
Enrol = Annotated[Actor, Depends(require(Permission.MONITORING_ENROL))]
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {"worklist.js": "text/javascript", "monitoring.css": "text/css"}
STREAM_SECONDS = 600.0  # the browser reconnects by itself; a reconnection re-checks the session
STREAM_TICK = 0.25  # longest wait between two checks of the connection
DB_CHECK_SECONDS = 2.0  # the database mark is read every two seconds (other processes, lost notifications)
MIN_GAP = 0.1  # at most ten events a second per stream: the browser coalesces reloads anyway
KEEP_ALIVE_SECONDS = 15.0
GROUP_TITLES = {"red": "Alertes rouges", "orange": "Alertes orange", "missing": "Données manquantes",
                "green": "Mesures reçues, rien à signaler"}
PERIODS = (7, 30, 90, 365)


def _back(target: str) -> str:
    return target if target.startswith("/telesurveillance") and not target.startswith("//") else "/telesurveillance"


ORDERS = ("couleur", "risque")


def _worklist_context(db: Session, actor: Actor, request: Request, order: str) -> dict[str, Any]:
    if order not in ORDERS:
        raise MaillageError("Ordre de la liste inconnu : choisissez l'ancienneté de l'alerte (ordre=couleur) ou le "
                            "risque de décompensation (ordre=risque).", status_code=400)
    work = service.worklist(db, actor, audit_context(request), by_risk=order == "risque")
    ids = [a.enrolment_id for items in work.groups.values() for a in items]
    return {"work": work, "titles": GROUP_TITLES, "labels": service.labels(db, actor, ids),
            "notifications": service.notifications(db, actor), "now": now(), "order": order}


@router.get("/telesurveillance", response_class=HTMLResponse)
def worklist_page(request: Request, db: DbSession, actor: Triage, ordre: str = "couleur") -> Response:
    return templates().TemplateResponse(request, "monitoring/worklist.html",
                                        _worklist_context(db, actor, request, ordre))


@router.get("/telesurveillance/liste", response_class=HTMLResponse)
def worklist_fragment(request: Request, db: DbSession, actor: Triage, ordre: str = "couleur") -> Response:
    return templates().TemplateResponse(request, "monitoring/_worklist.html",
                                        _worklist_context(db, actor, request, ordre))


@router.get("/telesurveillance/suivis/{enrolment_id}/facteurs", response_class=HTMLResponse)
def risk_factors(request: Request, enrolment_id: uuid.UUID, db: DbSession, actor: Triage) -> Response:
    """The top factors of a patient's risk score, loaded when the nurse opens them in the worklist (audited then)."""
    score = service.risk_factors(db, actor, enrolment_id, audit_context(request))
    return templates().TemplateResponse(request, "monitoring/_factors.html", {"score": score})


def _mark(sessions: sessionmaker[Session]) -> str:
    with sessions() as session:
        return repo.change_mark(session)


@router.get("/telesurveillance/flux")
async def stream(request: Request, actor: Triage) -> StreamingResponse:
    """Server-sent events: ``worklist`` each time alerts change; no database session held while waiting."""
    sessions: sessionmaker[Session] = request.app.state.sessionmaker
    bind = sessions.kw.get("bind")
    if bind is not None:
        live.ensure_listener(bind)

    async def events() -> AsyncIterator[str]:
        seen_local = live.version()
        seen_mark = await run_in_threadpool(_mark, sessions)
        yield "retry: 2000\n\n"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_SECONDS
        next_check = loop.time() + DB_CHECK_SECONDS
        next_keep_alive = loop.time() + KEEP_ALIVE_SECONDS
        while loop.time() < deadline:
            if await request.is_disconnected():
                return
            current = await live.wait_for_change(seen_local, STREAM_TICK)  # woken at once by a change
            changed = current != seen_local
            seen_local = current
            if loop.time() >= next_check:
                next_check = loop.time() + DB_CHECK_SECONDS
                mark = await run_in_threadpool(_mark, sessions)
                if mark != seen_mark:
                    seen_mark, changed = mark, True
            if changed:
                next_keep_alive = loop.time() + KEEP_ALIVE_SECONDS
                yield "event: worklist\ndata: changed\n\n"
                await asyncio.sleep(MIN_GAP)
            elif loop.time() >= next_keep_alive:
                next_keep_alive = loop.time() + KEEP_ALIVE_SECONDS
                yield ": keep-alive\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/telesurveillance/alertes/{alert_id}/acquitter")
def acknowledge(request: Request, alert_id: uuid.UUID, db: DbSession, actor: Triage,
                comment: Annotated[str, Form(max_length=2000)] = "",
                suite: Annotated[str, Form(max_length=300)] = "/telesurveillance") -> Response:
    service.acknowledge(db, actor, alert_id, comment, context=audit_context(request))
    return RedirectResponse(_back(suite), status_code=303)


@router.post("/telesurveillance/alertes/{alert_id}/escalader")
def escalate(request: Request, alert_id: uuid.UUID, db: DbSession, actor: Triage,
             comment: Annotated[str, Form(max_length=2000)] = "",
             suite: Annotated[str, Form(max_length=300)] = "/telesurveillance") -> Response:
    service.escalate(db, actor, alert_id, comment, context=audit_context(request))
    return RedirectResponse(_back(suite), status_code=303)


@router.post("/telesurveillance/verts/acquitter")
def acknowledge_green(request: Request, db: DbSession, actor: Triage) -> Response:
    service.acknowledge_all_green(db, actor, context=audit_context(request))
    return RedirectResponse("/telesurveillance", status_code=303)


@router.get("/telesurveillance/suivis", response_class=HTMLResponse)
def enrolments(request: Request, db: DbSession, actor: Triage) -> Response:
    items = service.my_enrolments(db, actor, audit_context(request))
    return templates().TemplateResponse(request, "monitoring/enrolments.html", {
        "may_enrol": role_allows(actor.role, Permission.MONITORING_ENROL),
        "enrolments": items, "labels": service.labels(db, actor, [e.id for e in items]),
        "statuses": {s.value: s.label for s in EnrolmentStatus}})


def _charts(file: PatientFile) -> list[Any]:
    out = []
    specs = [("weight", "Poids"), ("spo2", "SpO2"), ("glucose", "Glycémie")]
    for measure, title in specs:
        if measure in file.series or any(d.measure == measure for d in file.programme.data):
            m = MEASURES[measure]
            out.append((title, charts.time_chart(
                title, [(m.label, "s-main", file.series.get(measure, []))], file.since, file.until,
                file.thresholds.get(measure, []), m.unit_label, m.decimals)))
    if "systolic" in file.series or "diastolic" in file.series or \
            any(d.measure == "systolic" for d in file.programme.data):
        out.append(("Pression artérielle", charts.time_chart(
            "Pression artérielle",
            [("Systolique", "s-main", file.series.get("systolic", [])),
             ("Diastolique", "s-second", file.series.get("diastolic", []))],
            file.since, file.until, file.thresholds.get("systolic", []), "mmHg", 0)))
    for requirement in file.programme.data:
        measure = requirement.measure
        if measure in ("weight", "spo2", "glucose", "systolic", "diastolic") or measure not in file.series:
            continue
        m = MEASURES[measure]
        out.append((m.label, charts.time_chart(m.label, [(m.label, "s-main", file.series[measure])], file.since,
                                               file.until, file.thresholds.get(measure, []), m.unit_label,
                                               m.decimals)))
    return out


@router.get("/telesurveillance/suivis/{enrolment_id}", response_class=HTMLResponse)
def patient_page(request: Request, enrolment_id: uuid.UUID, db: DbSession, actor: Triage,
                 jours: Annotated[int, Query(ge=1, le=366)] = 30) -> Response:
    file = patient_file(db, actor, enrolment_id, days=jours, context=audit_context(request))
    label = service.labels(db, actor, [enrolment_id]).get(enrolment_id, ("", ""))
    may_enrol = role_allows(actor.role, Permission.MONITORING_ENROL)
    return templates().TemplateResponse(request, "monitoring/patient.html", {
        "file": file, "label": label, "charts": _charts(file), "periods": PERIODS, "days": jours,
        "statuses": {s.value: s.label for s in EnrolmentStatus}, "pause_reasons": PAUSE_REASONS,
        "end_reasons": END_REASONS, "forfait_labels": {f.value: f.label for f in ForfaitLevel},
        "may_enrol": may_enrol, "references": administration.reference_fields(file.programme,
                                                                            file.enrolment.reference_values),
        "free_devices": administration.free_devices_for(db, actor, file.enrolment) if may_enrol else [],
        "patient": patients.get_patient(db, actor, file.enrolment.patient_id, purpose=Purpose.MONITORING,
                                        context=audit_context(request))
        if role_allows(actor.role, Permission.PATIENT_READ) else None,  # the banner (web/_patient_banner.html)
    })


def _to_patient(enrolment_id: uuid.UUID) -> RedirectResponse:
    return RedirectResponse(f"/telesurveillance/suivis/{enrolment_id}", status_code=303)


@router.post("/telesurveillance/suivis/{enrolment_id}/suspendre")
def pause(request: Request, enrolment_id: uuid.UUID, db: DbSession, actor: Enrol,
          reason: Annotated[str, Form(max_length=32)] = "other") -> Response:
    service.pause(db, actor, enrolment_id, reason, context=audit_context(request))
    return _to_patient(enrolment_id)


@router.post("/telesurveillance/suivis/{enrolment_id}/reprendre")
def resume(request: Request, enrolment_id: uuid.UUID, db: DbSession, actor: Enrol) -> Response:
    service.resume(db, actor, enrolment_id, context=audit_context(request))
    return _to_patient(enrolment_id)


@router.post("/telesurveillance/suivis/{enrolment_id}/terminer")
def end(request: Request, enrolment_id: uuid.UUID, db: DbSession, actor: Enrol,
        reason: Annotated[str, Form(max_length=32)] = "other") -> Response:
    service.end(db, actor, enrolment_id, reason, context=audit_context(request))
    return RedirectResponse("/telesurveillance/suivis", status_code=303)


@router.get("/telesurveillance/observance", response_class=HTMLResponse)
def adherence(request: Request, db: DbSession, actor: Triage) -> Response:
    checks = service.regulatory_checks(db, actor, audit_context(request))
    return templates().TemplateResponse(request, "monitoring/adherence.html", {
        "checks": checks, "labels": service.labels(db, actor, [c.enrolment.id for c in checks]),
        "minimum": int(ADHERENCE_MINIMUM * 100)})


@router.get("/telesurveillance/static/{name}")
def static(name: str, actor: Triage) -> Response:
    media = STATIC_FILES.get(name)
    if media is None:
        raise NotFound()
    return FileResponse(STATIC_DIR / name, media_type=media, headers={"Cache-Control": "private, max-age=300"})
