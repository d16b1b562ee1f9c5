"""The third participant's pages, in French: the one-time link (``/tc/invite/{token}``), the consent screen and the
room, for a guest by link (guest session cookie) or by account (``/teleconsultation/invitations/{appointment}``).
They show no patient data: the date, the practitioner and the capacity the guest was invited in."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from maillage.auth.middleware import cookie_is_secure
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.security.deps import audit_context
from maillage.teleconsultation import participants
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation.pages import BASE, Practitioner, _refused, render
from maillage.teleconsultation.rules import Capacity
from maillage.teleconsultation.signalling import GUEST_COOKIE

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
CONSENT_NEEDED = "Pour rejoindre la consultation, cochez votre accord."


def _page(request: Request, db: DbSession, gs: participants.GuestSession, *, consent_action: str,
          error: str | None = None, status_code: int = 200) -> Response:
    users = repo.users_by_ids(db, [gs.appointment.practitioner_id])
    practitioner = users.get(gs.appointment.practitioner_id)
    return render(request, "teleconsultation/guest.html", {
        "appt": gs.appointment, "guest": gs.guest, "capacity": Capacity(gs.guest.capacity).label,
        "practitioner": practitioner.display_name if practitioner else "", "consented": gs.guest.consent_at is not None,
        "consent_action": consent_action, "error": error}, status_code=status_code)


@router.get("/tc/invite/{token}", response_class=HTMLResponse)
def open_invitation(request: Request, token: str, db: DbSession) -> Response:
    """The guest's link: opened once, it sets the guest session's cookie and leads to the consent screen."""
    try:
        _, secret = participants.open_link(db, token, context=audit_context(request))
    except participants.GuestRefused as refused:
        return _refused(request, refused.refusal)
    response = RedirectResponse(f"{BASE}/invite", status_code=303)
    response.headers["Referrer-Policy"] = "no-referrer"
    secure = cookie_is_secure(request.app.state.settings, request.scope)
    response.set_cookie(GUEST_COOKIE, secret, httponly=True, samesite="strict", secure=secure, path=BASE,
                        max_age=6 * 3600)
    return response


@router.get(f"{BASE}/invite", response_class=HTMLResponse)
def guest_room(request: Request, db: DbSession) -> Response:
    try:
        gs = participants.resolve(db, request.cookies.get(GUEST_COOKIE, ""), None, action="read",
                                  context=audit_context(request))
    except participants.GuestRefused as refused:
        return _refused(request, refused.refusal)
    participants.read(db, gs, context=audit_context(request))
    return _page(request, db, gs, consent_action=f"{BASE}/invite/consentement")


@router.post(f"{BASE}/invite/consentement", response_class=HTMLResponse)
def guest_consent(request: Request, db: DbSession, consent: Annotated[str, Form(max_length=3)] = "") -> Response:
    try:
        gs = participants.resolve(db, request.cookies.get(GUEST_COOKIE, ""), None, action="consent",
                                  context=audit_context(request))
    except participants.GuestRefused as refused:
        return _refused(request, refused.refusal)
    if consent != "oui":
        return _page(request, db, gs, consent_action=f"{BASE}/invite/consentement", error=CONSENT_NEEDED,
                     status_code=422)
    participants.consent(db, gs, context=audit_context(request))
    return RedirectResponse(f"{BASE}/invite", status_code=303)


@router.get(f"{BASE}/invitations/{{appointment_id}}", response_class=HTMLResponse)
def account_room(request: Request, appointment_id: uuid.UUID, db: DbSession, actor: Practitioner) -> Response:
    """A professional invited by account: the consent screen, then the room."""
    try:
        gs = participants.resolve_account(db, actor, appointment_id, action="read", context=audit_context(request))
    except participants.GuestRefused as refused:
        return _refused(request, refused.refusal)
    participants.read(db, gs, context=audit_context(request))
    return _page(request, db, gs, consent_action=f"{BASE}/invitations/{appointment_id}/consentement")


@router.post(f"{BASE}/invitations/{{appointment_id}}/consentement", response_class=HTMLResponse)
def account_consent(request: Request, appointment_id: uuid.UUID, db: DbSession, actor: Practitioner,
                    consent: Annotated[str, Form(max_length=3)] = "") -> Response:
    try:
        gs = participants.resolve_account(db, actor, appointment_id, action="consent",
                                          context=audit_context(request))
    except participants.GuestRefused as refused:
        return _refused(request, refused.refusal)
    if consent != "oui":
        return _page(request, db, gs, consent_action=f"{BASE}/invitations/{appointment_id}/consentement",
                     error=CONSENT_NEEDED, status_code=422)
    participants.consent(db, gs, context=audit_context(request))
    return RedirectResponse(f"{BASE}/invitations/{appointment_id}", status_code=303)
