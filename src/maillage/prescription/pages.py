"""Pages of e-prescription, in French: the prescription form for a patient (from the patient's page, an opinion or
a teleconsultation), the prescription (checks, signature, PDF, what pharmacies dispensed, cancellation), and the
pharmacy's counter (find by number or QR code, dispense line by line)."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from maillage.exceptions import MaillageError, ValidationFailed
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.ids import as_uuid
from maillage.kit.templating import templates
from maillage.patient import allergy
from maillage.patient import service as patients
from maillage.prescription import document, drugs, rules, service
from maillage.prescription.rules import DOSE_UNITS, LineDraft, LineKind, NonSubstitution, Outcome, Period, SourceKind
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Prescriber = Annotated[Actor, Depends(require(Permission.PRESCRIPTION_WRITE))]
Reader = Annotated[Actor, Depends(require(Permission.PATIENT_READ))]
Pharmacist = Annotated[Actor, Depends(require(Permission.PRESCRIPTION_DISPENSE))]
BASE = "/ordonnances"
COUNTER = "/officine"
FORM_LINES = 3
SOURCE_LABELS = {SourceKind.PATIENT.value: "Dossier du patient", SourceKind.OPINION.value: "Avis de téléexpertise",
                 SourceKind.TELECONSULTATION.value: "Téléconsultation"}


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    base = {"periods": Period, "dose_units": DOSE_UNITS, "reasons": NonSubstitution, "outcomes": Outcome,
            "source_labels": SOURCE_LABELS, "form_lines": range(1, FORM_LINES + 1),
            "display_number": rules.display_number, "status_labels": rules.Status}
    return templates().TemplateResponse(request, name, {**base, **context}, status_code=status_code)


# --- Writing -------------------------------------------------------------------------------------------------------


def _source(kind: str | None, source_id: str | None) -> tuple[SourceKind, uuid.UUID | None]:
    try:
        source = SourceKind(kind or SourceKind.PATIENT.value)
        return source, as_uuid(source_id) if source_id else None
    except (ValueError, TypeError):
        raise ValidationFailed("Origine de l'ordonnance inconnue.") from None


def _form_page(request: Request, db: Session, actor: Actor, patient_id: uuid.UUID, form: dict[str, str], *,
               error: str | None = None, choices: dict[int, list[drugs.DrugHit]] | None = None,
               status_code: int = 200) -> Response:
    patient = patients.get_patient(db, actor, patient_id, purpose=Purpose.PRESCRIPTION,
                                   context=audit_context(request))
    known = [a for a in allergy.allergies(db, actor, patient.patient.id, purpose=Purpose.PRESCRIPTION,
                                          context=audit_context(request)) if a.active]
    return render(request, "prescription/new.html", {"patient": patient, "form": form, "error": error,
                                                     "choices": choices or {}, "allergies": known,
                                                     "pharmacies": service.pharmacies(db)}, status_code=status_code)


@router.get("/patients/{patient_id}/ordonnances/nouvelle", response_class=HTMLResponse)
def new_page(patient_id: uuid.UUID, request: Request, db: DbSession, actor: Prescriber) -> Response:
    q = request.query_params
    form = {"source": q.get("origine", SourceKind.PATIENT.value)[:20], "source_id": q.get("acte", "")[:40]}
    _source(form["source"], form["source_id"])
    return _form_page(request, db, actor, patient_id, form)


def _int(value: str, label: str, position: int) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValidationFailed(f"Ligne {position} : {label} doit être un nombre entier.") from None


def _line(db: Session, form: dict[str, str], n: int, choices: dict[int, list[drugs.DrugHit]]) -> LineDraft | None:
    def f(name: str) -> str:
        return form.get(f"l{n}_{name}", "").strip()

    text = f("drug")
    if not text and not f("cis"):
        return None
    kind = LineKind.SUBSTANCE if f("dci") else LineKind.SPECIALITY
    cis = None
    if kind is LineKind.SPECIALITY:
        cis = f("cis") or None
        if cis is None:
            hits = drugs.search(db, text, limit=8)
            exact = [h for h in hits if drugs.bdpm.search_key(h.name) == drugs.bdpm.search_key(text)]
            if len(hits) == 1 or len(exact) == 1:
                cis = (exact or hits)[0].cis
            else:
                choices[n] = hits
                return None
    try:
        dose = Decimal(f("dose").replace(",", ".") or "0")
    except InvalidOperation:
        raise ValidationFailed(f"Ligne {n} : la dose doit être un nombre (par exemple 1 ou 0,5).") from None
    try:
        return LineDraft(
            kind=kind, label=text, cis=cis, dose=dose, dose_unit=f("dose_unit"),
            times=_int(f("times") or "0", "le nombre de prises", n), period=Period(f("period") or "day"),
            duration=_int(f("duration") or "0", "la durée", n), duration_unit=Period(f("duration_unit") or "day"),
            quantity=_int(f("quantity") or "0", "la quantité", n), renewals=_int(f("renewals") or "0",
                                                                                 "le nombre de renouvellements", n),
            conditions=f("conditions") or None,
            non_substitution_reason=NonSubstitution(f("nonsub")) if f("nonsub") else None, ald=bool(f("ald")))
    except ValueError:
        raise ValidationFailed(f"Ligne {n} : choisissez dans les listes proposées.") from None


@router.post("/patients/{patient_id}/ordonnances", response_class=HTMLResponse)
async def create(patient_id: uuid.UUID, request: Request, db: DbSession, actor: Prescriber) -> Response:
    raw = await request.form()
    form = {k: str(v)[:2000] for k, v in raw.items() if isinstance(v, str)}
    choices: dict[int, list[drugs.DrugHit]] = {}
    try:
        source, source_id = _source(form.get("source"), form.get("source_id"))
        lines = [line for n in range(1, FORM_LINES + 1) if (line := _line(db, form, n, choices)) is not None]
        if choices:
            found = ", ".join(str(n) for n in choices)
            raise ValidationFailed(f"Précisez le médicament de la ligne {found} : choisissez-le dans la liste.")
        pharmacy = form.get("pharmacy_id") or None
        try:
            pharmacy_id = as_uuid(pharmacy) if pharmacy else None
        except (ValueError, TypeError):
            raise ValidationFailed("Choisissez la pharmacie dans la liste.") from None
        draft = service.create_draft(db, actor, patient_id, lines, instructions=form.get("instructions"),
                                     source_kind=source, source_id=source_id, pharmacy_id=pharmacy_id,
                                     context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _form_page(request, db, actor, patient_id, form, error=exc.message, choices=choices,
                          status_code=exc.status_code)
    return RedirectResponse(f"{BASE}/{draft.id}", status_code=303)


# --- The prescription --------------------------------------------------------------------------------------------


def _page(request: Request, db: Session, actor: Actor, prescription_id: uuid.UUID, *, error: str | None = None,
          status_code: int = 200) -> Response:
    view = service.view(db, actor, prescription_id, context=audit_context(request))
    notice = request.query_params.get("info", "")[:200] or None
    return render(request, "prescription/prescription.html",
                  {"view": view, "patient": view.patient, "error": error, "notice": notice,
                   "mine": view.prescription.prescriber_id == actor.user_id}, status_code=status_code)


@router.get(BASE + "/{prescription_id}", response_class=HTMLResponse)
def prescription_page(prescription_id: uuid.UUID, request: Request, db: DbSession, actor: Reader) -> Response:
    return _page(request, db, actor, prescription_id)


@router.post(BASE + "/{prescription_id}/signer", response_class=HTMLResponse)
def sign(prescription_id: uuid.UUID, request: Request, db: DbSession, actor: Prescriber) -> Response:
    try:
        document.sign_and_file(db, actor, prescription_id, context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _page(request, db, actor, prescription_id, error=exc.message, status_code=exc.status_code)
    query = urlencode({"info": "Ordonnance signée : remettez-la au patient ou envoyez-la à sa pharmacie."})
    return RedirectResponse(f"{BASE}/{prescription_id}?{query}", status_code=303)


@router.post(BASE + "/{prescription_id}/annuler", response_class=HTMLResponse)
async def cancel(prescription_id: uuid.UUID, request: Request, db: DbSession, actor: Prescriber) -> Response:
    reason = str((await request.form()).get("reason", ""))[:500]
    try:
        service.cancel(db, actor, prescription_id, reason, context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _page(request, db, actor, prescription_id, error=exc.message, status_code=exc.status_code)
    return RedirectResponse(f"{BASE}/{prescription_id}?{urlencode({'info': 'Ordonnance annulée.'})}",
                            status_code=303)


@router.get(BASE + "/{prescription_id}/ordonnance.pdf")
def pdf(prescription_id: uuid.UUID, request: Request, db: DbSession, actor: Reader) -> Response:
    content = document.prescription_pdf(db, actor, prescription_id, context=audit_context(request))
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": 'inline; filename="ordonnance.pdf"'})


# --- The pharmacy's counter ----------------------------------------------------------------------------------------


@router.get(COUNTER, response_class=HTMLResponse)
def counter(request: Request, db: DbSession, actor: Pharmacist) -> Response:
    typed = request.query_params.get("numero", "")[:80].strip()
    if not typed:
        waiting = service.waiting_at_my_pharmacy(db, actor, context=audit_context(request))
        return render(request, "prescription/counter.html", {"typed": "", "waiting": waiting})
    try:
        view = service.open_by_number(db, actor, typed, context=audit_context(request))
    except MaillageError as exc:
        db.rollback()
        return render(request, "prescription/counter.html", {"typed": typed, "error": exc.message},
                      status_code=exc.status_code)
    return _dispense_page(request, db, view)


def _dispense_page(request: Request, db: Session, view: service.PrescriptionView, *, error: str | None = None,
                   notice: str | None = None, status_code: int = 200) -> Response:
    options = {line.line.id: drugs.substitutes(db, line.line.cis) if line.line.cis else [] for line in view.lines}
    return render(request, "prescription/dispense.html",
                  {"view": view, "patient": view.patient, "substitutes": options, "error": error,
                   "notice": notice}, status_code=status_code)


@router.post(COUNTER + "/ordonnances/{prescription_id}/delivrer", response_class=HTMLResponse)
async def dispense(prescription_id: uuid.UUID, request: Request, db: DbSession, actor: Pharmacist) -> Response:
    raw = await request.form()
    form = {k: str(v)[:500] for k, v in raw.items() if isinstance(v, str)}
    number = form.get("number", "")
    entries = []
    try:
        for key, value in form.items():
            if not key.startswith("outcome_") or not value:
                continue
            line_id = key.removeprefix("outcome_")
            outcome = Outcome(value)
            quantity = form.get(f"quantity_{line_id}", "0").strip() or "0"
            if not quantity.isdigit():
                raise ValidationFailed("La quantité délivrée doit être un nombre entier.")
            entries.append(service.DispenseEntry(
                as_uuid(line_id), outcome, 0 if outcome is Outcome.NOT_DELIVERED else int(quantity),
                substitute_cis=form.get(f"substitute_{line_id}") or None, reason=form.get(f"reason_{line_id}")))
        service.dispense(db, actor, prescription_id, entries, context=audit_context(request))
    except (ValueError, TypeError):
        db.rollback()
        return _after_refusal(request, db, actor, number, "Choisissez dans les listes proposées.", 422)
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        return _after_refusal(request, db, actor, number, exc.message, exc.status_code)
    query = urlencode({"numero": number, "info": "Délivrance enregistrée."}) if number else ""
    return RedirectResponse(f"{COUNTER}/enregistree?{query}", status_code=303)


def _after_refusal(request: Request, db: Session, actor: Actor, number: str, message: str,
                   status_code: int) -> Response:
    try:
        view = service.open_by_number(db, actor, number, context=audit_context(request))
    except MaillageError:
        db.rollback()
        return render(request, "prescription/counter.html", {"typed": number, "error": message},
                      status_code=status_code)
    return _dispense_page(request, db, view, error=message, status_code=status_code)


@router.get(COUNTER + "/enregistree", response_class=HTMLResponse)
def dispensed(request: Request, db: DbSession, actor: Pharmacist) -> Response:
    return render(request, "prescription/counter.html",
                  {"typed": "", "notice": "Délivrance enregistrée. Le prescripteur la voit sur l'ordonnance."})
