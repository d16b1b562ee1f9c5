"""Pages of patient identity: search (by INS or traits, among one's patients), creation with identity vigilance,
the patient page (identity, status, consents), and the identity officer's worklist."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from maillage.directory import pickers
from maillage.exceptions import MaillageError
from maillage.kit.http import DbSession, UnitOfWorkRoute, is_htmx
from maillage.kit.templating import templates
from maillage.patient import allergy, consent, service
from maillage.patient import vigilance as identity_vigilance
from maillage.patient.rules import IdentityAttribute, InsOid
from maillage.patient.schemas import (
    AllergyCriticality,
    AllergyKind,
    AttachRequest,
    ConsentCreate,
    ConsentPurpose,
    ConsentSource,
    IdentityCheck,
    IdentityDocument,
    PatientCreate,
)
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission, role_allows
from maillage.security.purposes import Purpose

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Reader = Annotated[Actor, Depends(require(Permission.PATIENT_READ))]
Writer = Annotated[Actor, Depends(require(Permission.PATIENT_WRITE))]
Officer = Annotated[Actor, Depends(require(Permission.IDENTITY_MERGE))]
VIGILANCE = "identitovigilance"


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return templates().TemplateResponse(request, name, context, status_code=status_code)


def _message(exc: MaillageError) -> str:
    details = exc.details if isinstance(exc.details, list) else []
    extra = [d["message"] for d in details if isinstance(d, dict) and d.get("message") and d["message"] != exc.message]
    return " ".join([exc.message, *extra])


FIELD_LABELS = {
    "birth_name": "nom de naissance", "given_names": "prénom(s) de naissance", "birth_date": "date de naissance",
    "sex": "sexe", "birthplace": "lieu de naissance", "reason": "motif",
}


def _form_error(exc: ValidationError) -> str:
    """The fields a form got wrong, named in French (the pydantic messages are English)."""
    fields = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        label = FIELD_LABELS.get(name, name)
        if label not in fields:
            fields.append(label)
    return "Formulaire incomplet ou invalide : " + ", ".join(fields) + "."


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


# --- Search -----------------------------------------------------------------------------------------------


@router.get("/patients", response_class=HTMLResponse)
def search_page(request: Request, db: DbSession, actor: Reader, ins: str = "", nom: str = "", prenom: str = "",
                naissance: str = "") -> Response:
    """Search one's patients by INS matricule or by traits; HTMX refreshes the results."""
    criteria = {"ins": ins[:21], "nom": nom[:100], "prenom": prenom[:100], "naissance": naissance[:10]}
    context: dict[str, Any] = {"criteria": criteria, "results": None, "error": None, "mine": [],
                               "can_create": role_allows(actor.role, Permission.PATIENT_WRITE)}
    if any(criteria.values()):
        birth = _date(naissance)
        if naissance and birth is None:
            context["error"] = "Date de naissance : format attendu AAAA-MM-JJ."
        else:
            try:
                context["results"] = service.search_patients(db, actor, ins=ins or None, name=nom or None,
                                                             given_name=prenom or None, birth_date=birth,
                                                             context=audit_context(request))
            except MaillageError as exc:
                context["error"] = _message(exc)
    if not is_htmx(request):
        context["mine"] = service.my_patients(db, actor, context=audit_context(request))
        context["my_professional_id"] = service.professional_id_of(db, actor)
    template = "patient/_results.html" if is_htmx(request) else "patient/search.html"
    return render(request, template, context, status_code=422 if context["error"] else 200)


# --- Creation and attachment ---------------------------------------------------------------------------------


# The creation form's pickers: the code submitted, the name of what was typed (``<field>_q``), and which
# ``ValidationFailed`` detail fields are theirs.
PICKER_ERRORS = {"commune_insee": ("commune_insee", "code_commune"),
                 "attending_rpps": ("attending_rpps", "attending_professional_id")}


def _pickers(db: Any, form: dict[str, Any], errors: dict[str, str] | None = None) -> dict[str, pickers.Picker]:
    """The residence commune and médecin traitant pickers, with what was typed, the choices it finds and the code
    chosen (an unknown code is not kept: the error says so and the person chooses again)."""
    errors = errors or {}
    commune = pickers.Picker(
        "commune_insee", "Commune de résidence", "Nom de la commune", "/communes/choix",
        none_label="Non renseignée",
        nothing_found="Aucune commune de ce nom : vérifiez l'orthographe (tapez le nom, pas le code postal).")
    attending = pickers.Picker(
        "attending_rpps", "Médecin traitant", "Nom du médecin", "/annuaire/choix/medecins", none_label="Non déclaré",
        nothing_found="Aucun médecin de l'annuaire ne porte ce nom : vérifiez l'orthographe.")
    for picker, find, name in ((commune, pickers.commune_choices, pickers.commune_name),
                               (attending, lambda q: pickers.professional_choices(db, q),
                                lambda code: pickers.professional_name(db, code))):
        picker.query = str(form.get(f"{picker.field}_q") or "")[:100]
        picker.searched = bool(picker.query.strip())
        picker.choices = find(picker.query) if picker.searched else []
        code = str(form.get(picker.field) or "")
        label = name(code) if code else None
        picker.selected, picker.selected_label = (code, label) if label else ("", "")
        picker.error = errors.get(picker.field)
    return {"commune": commune, "attending": attending}


def _picker_errors(exc: MaillageError) -> dict[str, str]:
    details = exc.details if isinstance(exc.details, list) else []
    found: dict[str, str] = {}
    for d in details:
        for picker_field, detail_fields in PICKER_ERRORS.items():
            if isinstance(d, dict) and d.get("field") in detail_fields:
                found[picker_field] = f"{d.get('message') or exc.message} Choisissez dans la liste."
    return found


def _new_context(request: Request, actor: Actor, form: dict[str, Any] | None = None, error: str | None = None,
                 proposal: dict[str, Any] | None = None, attach_error: str | None = None, db: Any = None,
                 picker_errors: dict[str, str] | None = None) -> dict[str, Any]:
    return {"form": form or {}, "error": error, "proposal": proposal, "attach_error": attach_error,
            "pickers": _pickers(db, form or {}, picker_errors),
            "can_attach": role_allows(actor.role, Permission.BREAK_GLASS),
            "attach_hours": request.app.state.settings.break_glass_minutes / 60,
            "documents": list(IdentityDocument.labels().items()),
            "oids": [(o.value, o.label) for o in InsOid]}


@router.get("/patients/nouveau", response_class=HTMLResponse)
def new_page(request: Request, db: DbSession, actor: Writer) -> Response:
    return render(request, "patient/new.html", _new_context(request, actor, db=db))


@router.post("/patients/nouveau", response_class=HTMLResponse)
def new_submit(
    request: Request, db: DbSession, actor: Writer,
    birth_name: Annotated[str, Form(max_length=100)] = "", given_names: Annotated[str, Form(max_length=200)] = "",
    birth_date: Annotated[str, Form(max_length=10)] = "", sex: Annotated[str, Form(max_length=1)] = "",
    birthplace: Annotated[str, Form(max_length=5)] = "", used_name: Annotated[str, Form(max_length=100)] = "",
    ins_matricule: Annotated[str, Form(max_length=21)] = "", ins_oid: Annotated[str, Form(max_length=40)] = "",
    insi_checked: Annotated[str, Form(max_length=5)] = "", identity_document: Annotated[str, Form(max_length=32)] = "",
    phone: Annotated[str, Form(max_length=30)] = "", commune_insee: Annotated[str, Form(max_length=5)] = "",
    attending_rpps: Annotated[str, Form(max_length=20)] = "",
    commune_insee_q: Annotated[str, Form(max_length=100)] = "",
    attending_rpps_q: Annotated[str, Form(max_length=100)] = "",
    chercher: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    form = {"birth_name": birth_name, "given_names": given_names, "birth_date": birth_date, "sex": sex,
            "birthplace": birthplace, "used_name": used_name, "ins_matricule": ins_matricule, "ins_oid": ins_oid,
            "insi_checked": insi_checked, "identity_document": identity_document, "phone": phone,
            "commune_insee": commune_insee, "attending_rpps": attending_rpps, "commune_insee_q": commune_insee_q,
            "attending_rpps_q": attending_rpps_q}
    if chercher:  # the pickers' search step, without JavaScript: the same form, with the choices found
        return render(request, "patient/new.html", _new_context(request, actor, form, db=db))
    unchosen = {f: "Vous avez tapé un nom sans choisir dans la liste : choisissez, ou videz la recherche."
                for f in PICKER_ERRORS if form[f"{f}_q"].strip() and not form[f]}
    if unchosen:
        return render(request, "patient/new.html", _new_context(
            request, actor, form, "Le formulaire contient une erreur : voir « Commune de résidence » ou « Médecin "
            "traitant ».", db=db, picker_errors=unchosen), status_code=422)
    try:
        data = PatientCreate(
            birth_name=birth_name, given_names=given_names, birth_date=birth_date, sex=sex, birthplace=birthplace,
            used_name=used_name or None, ins_matricule=ins_matricule or None,
            ins_oid=ins_oid if ins_matricule else None,
            insi_checked=insi_checked in ("1", "on", "true"), identity_document=identity_document or None,
            phone=phone or None, commune_insee=commune_insee or None, attending_rpps=attending_rpps or None,
        )
    except ValidationError as exc:
        return render(request, "patient/new.html", _new_context(request, actor, form, _form_error(exc), db=db),
                      status_code=422)
    try:
        view = service.create_patient(db, actor, data, context=audit_context(request))
    except service.IdentityExists as exc:
        # The refusal is audited after the rollback of this request. The page says nothing of the existing record
        # (its id only to a caller who may already see it) and offers the exceptional, reviewed access.
        proposal = {"message": exc.message, **(exc.details if isinstance(exc.details, dict) else {})}
        return render(request, "patient/new.html", _new_context(request, actor, form, None, proposal, db=db),
                      status_code=409)
    except MaillageError as exc:
        return render(request, "patient/new.html", _new_context(
            request, actor, form, _message(exc), db=db, picker_errors=_picker_errors(exc)), status_code=exc.status_code)
    return RedirectResponse(f"/patients/{view.patient.id}", status_code=303)


@router.post("/patients/rattachement", response_class=HTMLResponse)
def attach_submit(
    request: Request, db: DbSession, actor: Writer,
    birth_name: Annotated[str, Form(max_length=100)] = "", given_names: Annotated[str, Form(max_length=200)] = "",
    birth_date: Annotated[str, Form(max_length=10)] = "", sex: Annotated[str, Form(max_length=1)] = "",
    birthplace: Annotated[str, Form(max_length=5)] = "", reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The exceptional access to an identity a refused creation matched (traits only; 404 when none matches)."""
    form = {"birth_name": birth_name, "given_names": given_names, "birth_date": birth_date, "sex": sex,
            "birthplace": birthplace, "reason": reason}
    proposal = {"message": service.IdentityExists.default_message}
    try:
        data = AttachRequest(birth_name=birth_name, given_names=given_names, birth_date=birth_date, sex=sex,
                             birthplace=birthplace, reason=reason)
        view = service.attach_to_patient(db, actor, data, context=audit_context(request),
                                         settings=request.app.state.settings)
    except ValidationError as exc:
        return render(request, "patient/new.html",
                      _new_context(request, actor, form, None, proposal, _form_error(exc), db=db), status_code=422)
    except MaillageError as exc:
        if exc.status_code == 404:
            raise  # no record with these traits: the same answer as any record out of reach
        return render(request, "patient/new.html",
                      _new_context(request, actor, form, None, proposal, _message(exc), db=db),
                      status_code=exc.status_code)
    return RedirectResponse(f"/patients/{view.patient.id}", status_code=303)


# --- The patient page --------------------------------------------------------------------------------------


def _patient_context(db: Any, actor: Actor, request: Request, patient_id: uuid.UUID, vigilance: bool,
                     **extra: Any) -> dict[str, Any]:
    purpose = Purpose.IDENTITY_VIGILANCE if vigilance else Purpose.CARE
    view = service.get_patient(db, actor, patient_id, purpose=purpose, context=audit_context(request))
    history = consent.consent_history(db, actor, patient_id, context=audit_context(request)) if not vigilance else []
    allergies = allergy.allergies(db, actor, patient_id, context=audit_context(request)) if not vigilance else []
    return {"view": view, "states": consent.consent_states(history), "history": history, "vigilance": vigilance,
            "allergies": [a for a in allergies if a.active],
            "allergies_in_error": [a for a in allergies if not a.active],
            "allergy_kinds": list(AllergyKind.labels().items()),
            "allergy_criticalities": list(AllergyCriticality.labels().items()),
            "recorders": consent.recorder_names(db, history),
            "can_write": role_allows(actor.role, Permission.PATIENT_WRITE) and not vigilance,
            "can_prescribe": role_allows(actor.role, Permission.PRESCRIPTION_WRITE) and not vigilance
            and view.patient.merged_into_id is None,
            "is_officer": role_allows(actor.role, Permission.IDENTITY_MERGE),
            "purposes": list(ConsentPurpose.labels().items()), "sources": list(ConsentSource.labels().items()),
            "documents": list(IdentityDocument.labels().items()), "oids": [(o.value, o.label) for o in InsOid],
            "attributes": [a.value for a in IdentityAttribute], "purpose_labels": ConsentPurpose.labels(),
            "source_labels": ConsentSource.labels(), "error": None, "message": None, **extra}


def _patient_error(request: Request, db: Any, actor: Actor, patient_id: uuid.UUID, exc: MaillageError) -> Response:
    """Nothing of the failed change is kept; the page shown again is a read, audited and committed as such."""
    db.rollback()
    request.state.commit_on_error = True
    return render(request, "patient/patient.html",
                  _patient_context(db, actor, request, patient_id, False, error=_message(exc)),
                  status_code=exc.status_code)


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(request: Request, patient_id: uuid.UUID, db: DbSession, actor: Reader,
                 finalite: str = "") -> Response:
    vigilance = finalite == VIGILANCE and role_allows(actor.role, Permission.IDENTITY_MERGE)
    return render(request, "patient/patient.html", _patient_context(db, actor, request, patient_id, vigilance))


@router.post("/patients/{patient_id}/consentements", response_class=HTMLResponse)
def consent_submit(request: Request, patient_id: uuid.UUID, db: DbSession, actor: Writer,
                   purpose: Annotated[str, Form(max_length=32)] = "",
                   decision: Annotated[str, Form(max_length=16)] = "",
                   source: Annotated[str, Form(max_length=32)] = "oral") -> Response:
    try:
        consent.record_consent(db, actor, patient_id, ConsentCreate(purpose=purpose, decision=decision, source=source),
                               context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        return _patient_error(request, db, actor, patient_id, exc)
    return RedirectResponse(f"/patients/{patient_id}#consentements", status_code=303)


@router.post("/patients/{patient_id}/allergies", response_class=HTMLResponse)
def allergy_submit(request: Request, patient_id: uuid.UUID, db: DbSession, actor: Writer,
                   substance: Annotated[str, Form(max_length=400)] = "",
                   kind: Annotated[str, Form(max_length=16)] = "allergy",
                   criticality: Annotated[str, Form(max_length=24)] = "unable-to-assess",
                   reaction: Annotated[str, Form(max_length=1000)] = "") -> Response:
    try:
        allergy.record_allergy(db, actor, patient_id, allergy.AllergyIn(
            substance=substance, kind=kind, criticality=criticality, reaction=reaction), context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        return _patient_error(request, db, actor, patient_id, exc)
    return RedirectResponse(f"/patients/{patient_id}#allergies", status_code=303)


@router.post("/patients/{patient_id}/allergies/{allergy_id}/erreur", response_class=HTMLResponse)
def allergy_error_submit(request: Request, patient_id: uuid.UUID, allergy_id: uuid.UUID, db: DbSession,
                         actor: Writer) -> Response:
    try:
        allergy.mark_entered_in_error(db, actor, patient_id, allergy_id, context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        return _patient_error(request, db, actor, patient_id, exc)
    return RedirectResponse(f"/patients/{patient_id}#allergies", status_code=303)


@router.post("/patients/{patient_id}/verification", response_class=HTMLResponse)
def verification_submit(request: Request, patient_id: uuid.UUID, db: DbSession, actor: Writer,
                        insi_checked: Annotated[str, Form(max_length=5)] = "",
                        ins_matricule: Annotated[str, Form(max_length=21)] = "",
                        ins_oid: Annotated[str, Form(max_length=40)] = "",
                        identity_document: Annotated[str, Form(max_length=32)] = "") -> Response:
    data = IdentityCheck(insi_checked=insi_checked in ("1", "on", "true"), ins_matricule=ins_matricule or None,
                         ins_oid=ins_oid if ins_matricule else None, identity_document=identity_document or None)
    try:
        service.check_identity(db, actor, patient_id, data, context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        return _patient_error(request, db, actor, patient_id, exc)
    return RedirectResponse(f"/patients/{patient_id}#identite", status_code=303)


# --- Identity vigilance ------------------------------------------------------------------------------------


def _worklist(db: Any, actor: Actor, request: Request, **extra: Any) -> dict[str, Any]:
    merges = identity_vigilance.recent_merges(db, actor, context=audit_context(request))
    pairs = identity_vigilance.potential_duplicates(db, actor, context=audit_context(request))
    return {"pairs": pairs, "merges": merges, "parties": identity_vigilance.merge_parties(db, merges), "error": None,
            "message": None, **extra}


def _worklist_error(request: Request, db: Any, actor: Actor, exc: MaillageError) -> Response:
    db.rollback()
    request.state.commit_on_error = True
    return render(request, "patient/vigilance.html", _worklist(db, actor, request, error=_message(exc)),
                  status_code=exc.status_code)


@router.get("/identitovigilance", response_class=HTMLResponse)
def worklist_page(request: Request, db: DbSession, actor: Officer, message: str = "") -> Response:
    messages = {"fusion": "Les deux dossiers ont été fusionnés.", "annulation": "La fusion a été annulée.",
                "distincts": "Les deux dossiers sont enregistrés comme deux personnes distinctes."}
    return render(request, "patient/vigilance.html", _worklist(db, actor, request, message=messages.get(message)))


@router.post("/identitovigilance/fusions", response_class=HTMLResponse)
def merge_submit(request: Request, db: DbSession, actor: Officer, kept_patient_id: Annotated[uuid.UUID, Form()],
                 merged_patient_id: Annotated[uuid.UUID, Form()],
                 reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    try:
        identity_vigilance.merge_patients(db, actor, kept_id=kept_patient_id, merged_id=merged_patient_id,
                                          reason=reason, context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        return _worklist_error(request, db, actor, exc)
    return RedirectResponse("/identitovigilance?message=fusion", status_code=303)


@router.post("/identitovigilance/fusions/{merge_id}/annulation", response_class=HTMLResponse)
def unmerge_submit(request: Request, merge_id: uuid.UUID, db: DbSession, actor: Officer,
                   reason: Annotated[str, Form(max_length=2000)] = "") -> Response:
    try:
        identity_vigilance.unmerge_patients(db, actor, merge_id, reason, context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        return _worklist_error(request, db, actor, exc)
    return RedirectResponse("/identitovigilance?message=annulation", status_code=303)


@router.post("/identitovigilance/distincts", response_class=HTMLResponse)
def distinct_submit(request: Request, db: DbSession, actor: Officer, first_patient_id: Annotated[uuid.UUID, Form()],
                    second_patient_id: Annotated[uuid.UUID, Form()]) -> Response:
    identity_vigilance.mark_distinct(db, actor, first_patient_id, second_patient_id, context=audit_context(request))
    return RedirectResponse("/identitovigilance?message=distincts", status_code=303)

