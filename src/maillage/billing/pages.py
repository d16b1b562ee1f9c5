"""Pages of the billing office, in French: the month's statement of an establishment (per code: counts and amounts,
caps reached), its acts to review (mark billed, reject with a reason, correct), and its exports (CSV, PDF statement
for the direction, FHIR Claim Bundle)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from maillage.billing import exports, rules, service
from maillage.billing.rules import REJECTION_REASONS, EntryStatus
from maillage.directory.tariffs import TARIFFS
from maillage.exceptions import MaillageError, ValidationFailed
from maillage.kit.clock import now, today_paris
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.ids import as_uuid
from maillage.kit.templating import templates
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Officer = Annotated[Actor, Depends(require(Permission.BILLING_EXPORT))]
BASE = "/facturation"
PAGE_SIZE = 50
EXPORT_LIMIT = 100_000
CODES = sorted({t.code for t in TARIFFS})


def _scope(request: Request, actor: Actor) -> tuple[uuid.UUID, dt.date]:
    q = request.query_params
    raw = q.get("etablissement", "")[:40]
    try:
        establishment_id = as_uuid(raw) if raw else service.default_establishment(actor)
    except (ValueError, TypeError):
        raise ValidationFailed("Établissement inconnu.") from None
    return establishment_id, rules.parse_month(q.get("mois", "")[:7], today_paris())


def _query(establishment_id: uuid.UUID, month: dt.date, **extra: str) -> str:
    return urlencode({"etablissement": str(establishment_id), "mois": month.strftime("%Y-%m"), **extra})


def _cursor(raw: str) -> tuple[dt.date, str, uuid.UUID] | None:
    """A position in the month's list from the page's link (``AAAA-MM-JJ~CODE~id``); a malformed one is a clear
    error, not a 500."""
    if not raw:
        return None
    try:
        day, code, entry_id = raw[:80].split("~")
        return dt.date.fromisoformat(day), code[:8], as_uuid(entry_id)
    except (ValueError, TypeError):
        raise ValidationFailed("Lien de page invalide : revenez à la première page.") from None


def _position(view: service.EntryView) -> str:
    return f"{view.entry.act_date.isoformat()}~{view.entry.code}~{view.entry.id}"


def _statement_page(request: Request, db: Session, actor: Actor, *, error: str | None = None,
                    status_code: int = 200) -> Response:
    establishment_id, month = _scope(request, actor)
    q = request.query_params
    status = q.get("statut", "")[:16] or None
    after, before = _cursor(q.get("apres", "")), _cursor(q.get("avant", ""))
    context = audit_context(request)
    st = service.statement(db, actor, establishment_id, month, context=context)
    # The statement's counts give the number of entries of each status: no second scan of the month.
    total = sum(line.count for line in st.lines if status is None or line.status.value == status)
    # Keyset paging: one more row than shown says whether there is a page beyond.
    rows = service.entries(db, actor, establishment_id, month, status=status, limit=PAGE_SIZE + 1,
                           after=after, before=None if after else before, context=context)
    more = len(rows) > PAGE_SIZE
    if before is not None and after is None:
        rows, has_prev, has_next = rows[-PAGE_SIZE:], more, True
    else:
        rows, has_prev, has_next = rows[:PAGE_SIZE], after is not None, more
    filters = {"statut": status} if status else {}
    paging = {
        "prev": _query(establishment_id, month, avant=_position(rows[0]), **filters) if rows and has_prev else None,
        "next": _query(establishment_id, month, apres=_position(rows[-1]), **filters) if rows and has_next else None,
        "first": _query(establishment_id, month, **filters) if has_prev else None,
    }
    establishments = service.my_establishments(db, actor)
    name = next((n for i, n in establishments if i == establishment_id), "")
    months = [(m.strftime("%Y-%m"), rules.month_label(m)) for m in _recent_months(today_paris(), 13)]
    body: dict[str, Any] = {
        "statement": st, "rows": rows, "total": total, "paging": paging,
        "establishments": establishments, "establishment_id": establishment_id, "establishment_name": name,
        "month": month, "month_label": rules.month_label(month), "months": months, "status": status,
        "statuses": list(EntryStatus), "reasons": REJECTION_REASONS, "query": _query(establishment_id, month),
        "error": error, "info": _info(request), "EntryStatus": EntryStatus,
    }
    return templates().TemplateResponse(request, "billing/statement.html", body, status_code=status_code)


def _recent_months(today: dt.date, count: int) -> list[dt.date]:
    out, month = [], today.replace(day=1)
    for _ in range(count):
        out.append(month)
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return out


@router.get(BASE, response_class=HTMLResponse)
def statement_page(request: Request, db: DbSession, actor: Officer) -> Response:
    return _statement_page(request, db, actor)


# What the page says after an action: the redirect carries a code and a count, never the text (a crafted link
# must not make the platform's own banner say anything).
INFOS = {
    "billed": "{n} acte(s) marqué(s) facturé(s).",
    "rejected": "Acte rejeté.",
    "corrected": "Correction enregistrée : l'acte d'origine est conservé.",
    "collected": "{n} nouvel(s) acte(s) repris des activités.",
}


def _info(request: Request) -> str:
    text = INFOS.get(request.query_params.get("info", ""), "")
    count = request.query_params.get("n", "0")
    return text.format(n=int(count) if count.isdigit() and len(count) < 9 else 0)


def _back(establishment_id: uuid.UUID, month: dt.date, info: str, count: int = 0) -> RedirectResponse:
    return RedirectResponse(f"{BASE}?{_query(establishment_id, month, info=info, n=str(count))}", status_code=303)


async def _form(request: Request) -> dict[str, Any]:
    raw = await request.form()
    return {"ids": [str(v)[:40] for v in raw.getlist("entry_id")],
            **{k: str(v)[:200] for k, v in raw.items() if isinstance(v, str) and k != "entry_id"}}


def _ids(values: list[str]) -> list[uuid.UUID]:
    try:
        return [as_uuid(v) for v in values]
    except (ValueError, TypeError):
        raise ValidationFailed("Acte inconnu.") from None


@router.post(BASE + "/facturer", response_class=HTMLResponse)
async def mark_billed(request: Request, db: DbSession, actor: Officer) -> Response:
    form = await _form(request)
    establishment_id, month = _scope(request, actor)
    try:
        count = service.mark_billed(db, actor, _ids(form["ids"]), context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _statement_page(request, db, actor, error=exc.message, status_code=exc.status_code)
    return _back(establishment_id, month, "billed", count)


@router.post(BASE + "/actes/{entry_id}/rejeter", response_class=HTMLResponse)
async def reject(entry_id: uuid.UUID, request: Request, db: DbSession, actor: Officer) -> Response:
    form = await _form(request)
    establishment_id, month = _scope(request, actor)
    try:
        service.reject(db, actor, entry_id, form.get("reason", ""), context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _statement_page(request, db, actor, error=exc.message, status_code=exc.status_code)
    return _back(establishment_id, month, "rejected")


def _correct_page(request: Request, db: Session, actor: Actor, entry_id: uuid.UUID, *, error: str | None = None,
                  form: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    view = service.entry_view(db, actor, entry_id, context=audit_context(request))
    establishment_id, month = _scope(request, actor)
    values = form or {"code": view.entry.code, "act_date": view.entry.act_date.isoformat()}
    return templates().TemplateResponse(request, "billing/correct.html", {
        "view": view, "codes": CODES, "form": values, "error": error,
        "query": _query(establishment_id, month)}, status_code=status_code)


@router.get(BASE + "/actes/{entry_id}/corriger", response_class=HTMLResponse)
def correct_page(entry_id: uuid.UUID, request: Request, db: DbSession, actor: Officer) -> Response:
    return _correct_page(request, db, actor, entry_id)


@router.post(BASE + "/actes/{entry_id}/corriger", response_class=HTMLResponse)
async def correct(entry_id: uuid.UUID, request: Request, db: DbSession, actor: Officer) -> Response:
    form = await _form(request)
    establishment_id, month = _scope(request, actor)
    try:
        code = form.get("code", "")
        if code not in CODES:
            raise ValidationFailed("Choisissez le code dans la liste.")
        try:
            act_date = dt.date.fromisoformat(form.get("act_date", ""))
        except ValueError:
            raise ValidationFailed("Date de l'acte invalide (jj/mm/aaaa).") from None
        service.correct(db, actor, entry_id, code=code, act_date=act_date, context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _correct_page(request, db, actor, entry_id, error=exc.message, form=form, status_code=exc.status_code)
    return _back(establishment_id, month, "corrected")


@router.post(BASE + "/collecter", response_class=HTMLResponse)
async def collect(request: Request, db: DbSession, actor: Officer) -> Response:
    await _form(request)
    establishment_id, month = _scope(request, actor)
    service.default_establishment(actor)
    count = service.collect(db)
    return _back(establishment_id, month, "collected", count)


def _all_rows(request: Request, db: Session, actor: Actor) -> tuple[uuid.UUID, dt.date, list[service.EntryView]]:
    establishment_id, month = _scope(request, actor)
    rows = service.entries(db, actor, establishment_id, month, limit=EXPORT_LIMIT, context=audit_context(request))
    return establishment_id, month, rows


@router.get(BASE + "/export.csv")
def export_csv(request: Request, db: DbSession, actor: Officer) -> Response:
    _, month, rows = _all_rows(request, db, actor)
    return Response(exports.csv_bytes(rows), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="facturation-{month.strftime("%Y-%m")}.csv"'})


@router.get(BASE + "/releve.pdf")
def statement_pdf(request: Request, db: DbSession, actor: Officer) -> Response:
    establishment_id, month = _scope(request, actor)
    st = service.statement(db, actor, establishment_id, month, context=audit_context(request))
    est = service.establishment_of(db, actor, establishment_id)
    content = exports.statement_pdf(exports.StatementDocument(est.name, est.finess_et, st,
                                                              today_paris().strftime("%d/%m/%Y")))
    return Response(content, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="releve-{month.strftime("%Y-%m")}.pdf"'})


@router.get(BASE + "/claims.json")
def claims(request: Request, db: DbSession, actor: Officer) -> Response:
    _, month, rows = _all_rows(request, db, actor)
    body = exports.claim_bundle(rows, now().isoformat())
    return Response(body, media_type="application/fhir+json", headers={
        "Content-Disposition": f'attachment; filename="claims-{month.strftime("%Y-%m")}.json"'})


# -- A professional's teleconsultation share (DOMAIN.md §2.1) -------------------------------------------------------


def _year(request: Request) -> int:
    raw = request.query_params.get("annee", "")[:4]
    if not raw:
        return today_paris().year
    if not raw.isdigit():
        raise ValidationFailed("Année invalide.")
    return int(raw)


def _share_page(request: Request, db: Session, actor: Actor, user_id: uuid.UUID, *, error: str | None = None,
                form_total: str = "", status_code: int = 200) -> Response:
    establishment_id, _ = _scope(request, actor)
    year = _year(request)
    share = service.professional_share(db, actor, user_id, year, context=audit_context(request))
    info = "Déclaration enregistrée." if request.query_params.get("info") == "declared" else ""
    return templates().TemplateResponse(request, "billing/professional.html", {
        "share": share, "user_id": user_id, "year": year, "establishment_id": establishment_id,
        "years": list(range(today_paris().year, service.YEAR_MIN - 1, -1)), "error": error, "info": info,
        "query": urlencode({"etablissement": str(establishment_id), "annee": str(year)}),
        "beyond_reason": rules.BEYOND_SHARE, "form_total": form_total}, status_code=status_code)


@router.get(BASE + "/professionnels/{user_id}", response_class=HTMLResponse)
def share_page(user_id: uuid.UUID, request: Request, db: DbSession, actor: Officer) -> Response:
    return _share_page(request, db, actor, user_id)


@router.post(BASE + "/professionnels/{user_id}/activite", response_class=HTMLResponse)
async def declare_activity(user_id: uuid.UUID, request: Request, db: DbSession, actor: Officer) -> Response:
    form = await _form(request)
    establishment_id, _ = _scope(request, actor)
    year = _year(request)
    raw = form.get("total_acts", "").strip()
    try:
        if not raw.isdigit() or len(raw) > 9:
            raise ValidationFailed("Indiquez un nombre d'actes entier, positif ou nul.")
        service.declare_activity(db, actor, user_id, year, int(raw), context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _share_page(request, db, actor, user_id, error=exc.message, form_total=raw[:9],
                           status_code=exc.status_code)
    query = urlencode({"etablissement": str(establishment_id), "annee": str(year), "info": "declared"})
    return RedirectResponse(f"{BASE}/professionnels/{user_id}?{query}", status_code=303)
