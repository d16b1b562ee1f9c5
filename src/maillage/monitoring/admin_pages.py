"""Administration pages of telesurveillance, for a coordinating nurse or a physician of an operator team: enrol a
patient, register the team's devices, assign or replace a patient's device, set a patient's reference values and
thresholds. Each change goes through the same use cases as the API (``service.enrol``, ``register_device``,
``update_settings``, ``administration.assign_device``), hence the same rules, access checks and audit.

A form refused by the rules is shown again with a French message beside each field and what was typed kept.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from maillage.exceptions import MaillageError, ValidationFailed
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.kit.templating import templates
from maillage.monitoring import administration as admin
from maillage.monitoring import service
from maillage.monitoring.rules.enrolment import MAX_PRESCRIPTION_MONTHS
from maillage.monitoring.rules.measures import MEASURES
from maillage.monitoring.rules.programmes import PROGRAMMES, get_programme
from maillage.monitoring.schemas import EnrolmentCreate
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Enrol = Annotated[Actor, Depends(require(Permission.MONITORING_ENROL))]
FIELD_MESSAGES = {
    "patient_id": "Choisissez le patient.", "team_id": "Choisissez l'équipe opératrice.",
    "prescribed_on": "Date de prescription attendue (jj/mm/aaaa).",
    "duration_months": f"Durée entre 1 et {MAX_PRESCRIPTION_MONTHS} mois.",
    "consent": "Le consentement du patient est obligatoire.", "programme": "Choisissez un programme.",
}

SERVICE_FIELD_MESSAGES = {  # the service names the device or the member at fault; the page says it in words
    "devices": "Un appareil coché n'est pas libre dans l'équipe choisie.",
    "care_team": "L'équipe de soins ne comprend que des membres de l'équipe choisie.",
}


async def form_fields(request: Request) -> dict[str, Any]:
    """The posted form as a dict: single values as strings, repeated fields (devices, care team) as lists."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = values if key in ("devices", "care_team") else (values[-1][:200] if values else "")
    return out


Fields = Annotated[dict[str, Any], Depends(form_fields)]


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """The page. A refused form is shown again with its errors: its failed change was rolled back first (or never
    written), and what the page read to be shown again (the patients listed, the enrolment, the devices naming
    patients) was audited since, in entries that must be kept although the answer is an error."""
    if status_code >= 400:
        request.state.commit_on_error = True
    return templates().TemplateResponse(request, name, context, status_code=status_code)


# -- Enrolment ---------------------------------------------------------------------------------------------------


def _enrol_context(db: Any, actor: Actor, request: Request, programme_key: str | None, form: dict[str, Any],
                   errors: dict[str, str] | None = None, message: str | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"programmes": list(PROGRAMMES.values()), "programme": None, "form": form,
                               "errors": errors or {}, "message": message, "max_months": MAX_PRESCRIPTION_MONTHS}
    if programme_key in PROGRAMMES:
        programme = get_programme(programme_key)
        choices = admin.enrol_choices(db, actor, programme.key, audit_context(request))
        context.update(programme=programme, choices=choices,
                       references=admin.reference_fields(programme, {
                           k[len("references."):]: v for k, v in form.items() if k.startswith("references.")}),
                       data=[(MEASURES[d.measure].label, d.required, d.frequency) for d in programme.data])
    return context


@router.get("/telesurveillance/inscrire", response_class=HTMLResponse)
def enrol_page(request: Request, db: DbSession, actor: Enrol, programme: str = "") -> Response:
    """Step one: choose the programme; step two (``?programme=``): the enrolment form of that programme."""
    form: dict[str, Any] = {"prescribed_on": admin.today().isoformat(), "duration_months": "6", "devices": [],
                            "care_team": None}
    return render(request, "monitoring/enrol.html", _enrol_context(db, actor, request, programme[:32] or None, form))


def _enrol_data(programme_key: str, form: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    programme = get_programme(programme_key)
    references, errors = admin.parse_references(programme, form)
    if form.get("consent") != "1":
        errors["consent"] = FIELD_MESSAGES["consent"]
    try:
        data = EnrolmentCreate(
            patient_id=form.get("patient_id") or None, team_id=form.get("team_id") or None, programme=programme.key,
            prescribed_on=form.get("prescribed_on") or None, duration_months=form.get("duration_months") or None,
            consent=form.get("consent") == "1", devices=form.get("devices") or [], references=references,
            care_team=form.get("care_team") or [])
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else ""
            errors.setdefault(name, FIELD_MESSAGES.get(name, "Valeur invalide."))
        return None, errors
    return (None if errors else data), errors


@router.post("/telesurveillance/inscrire", response_class=HTMLResponse)
def enrol_submit(request: Request, db: DbSession, actor: Enrol, form: Fields) -> Response:
    programme_key = str(form.get("programme", ""))
    if programme_key not in PROGRAMMES:
        return RedirectResponse("/telesurveillance/inscrire", status_code=303)
    data, errors = _enrol_data(programme_key, form)
    message = "Le formulaire est incomplet ou invalide : voyez les champs signalés."
    if data is not None:
        try:
            enrolment = service.enrol(db, actor, data, context=audit_context(request))
        except MaillageError as exc:
            if exc.status_code == 404:
                raise  # a patient or a team out of reach: the same answer as one that does not exist
            db.rollback()  # nothing of the refused enrolment stays; the form is read again below
            errors = {name: SERVICE_FIELD_MESSAGES.get(name, text)
                      for name, text in admin.field_errors(exc).items()} if isinstance(exc, ValidationFailed) else {}
            message = exc.message
            status = exc.status_code
        else:
            return RedirectResponse(f"/telesurveillance/suivis/{enrolment.id}", status_code=303)
    else:
        status = 422
    return render(request, "monitoring/enrol.html",
                  _enrol_context(db, actor, request, programme_key, form, errors, message), status_code=status)


# -- The team's devices -----------------------------------------------------------------------------------------


def _devices_context(db: Any, actor: Actor, request: Request, **extra: Any) -> dict[str, Any]:
    return {"teams": admin.team_devices(db, actor, audit_context(request)), "kinds": admin.DEVICE_KINDS,
            "form": {}, "errors": {}, "message": None, "registered": None, **extra}


@router.get("/telesurveillance/appareils", response_class=HTMLResponse)
def devices_page(request: Request, db: DbSession, actor: Enrol) -> Response:
    return render(request, "monitoring/devices.html", _devices_context(db, actor, request))


@router.post("/telesurveillance/appareils", response_class=HTMLResponse)
def register_device(request: Request, db: DbSession, actor: Enrol, form: Fields) -> Response:
    """Register a device; its connection secret is shown on this answer only (never stored in clear)."""
    errors: dict[str, str] = {}
    label, identifier = str(form.get("label", "")).strip(), str(form.get("identifier", "")).strip()
    kind = str(form.get("kind", "device"))
    if not label:
        errors["label"] = "Nom de l'appareil obligatoire (par exemple « Balance connectée »)."
    if not identifier:
        errors["identifier"] = "Numéro de série obligatoire."
    if kind not in admin.DEVICE_KINDS:
        errors["kind"] = "Type d'appareil inconnu."
    try:
        team_id = uuid.UUID(str(form.get("team_id", "")))
    except ValueError:
        errors["team_id"] = "Choisissez l'équipe."
    if errors:
        return render(request, "monitoring/devices.html", _devices_context(
            db, actor, request, form=form, errors=errors, message="Appareil non enregistré : voyez les champs "
                                                                  "signalés."), status_code=422)
    try:
        registered = service.register_device(db, actor, team_id=team_id, identifier=identifier, label=label,
                                             kind=kind, context=audit_context(request))
    except MaillageError as exc:
        if exc.status_code == 404:
            raise
        db.rollback()
        fields = {"identifier": exc.message} if exc.status_code == 409 else {}
        return render(request, "monitoring/devices.html", _devices_context(
            db, actor, request, form=form, errors=fields, message=exc.message), status_code=exc.status_code)
    response = render(request, "monitoring/devices.html", _devices_context(
        db, actor, request, registered=registered))
    response.headers["Cache-Control"] = "no-store"
    return response


# -- A patient's devices ----------------------------------------------------------------------------------------


def _to_patient(enrolment_id: uuid.UUID) -> RedirectResponse:
    return RedirectResponse(f"/telesurveillance/suivis/{enrolment_id}", status_code=303)


@router.post("/telesurveillance/suivis/{enrolment_id}/appareils")
def assign_device(request: Request, enrolment_id: uuid.UUID, db: DbSession, actor: Enrol,
                  identifier: Annotated[str, Form(max_length=128)] = "") -> Response:
    if not identifier:
        raise ValidationFailed("Choisissez l'appareil à remettre au patient.")
    admin.assign_device(db, actor, enrolment_id, identifier, context=audit_context(request))
    return _to_patient(enrolment_id)


@router.post("/telesurveillance/suivis/{enrolment_id}/appareils/remplacer")
def replace_device(request: Request, enrolment_id: uuid.UUID, db: DbSession, actor: Enrol,
                   old: Annotated[str, Form(max_length=128)] = "",
                   new: Annotated[str, Form(max_length=128)] = "") -> Response:
    if not old or not new:
        raise ValidationFailed("Choisissez l'appareil de remplacement.")
    admin.replace_device(db, actor, enrolment_id, old, new, context=audit_context(request))
    return _to_patient(enrolment_id)


# -- Settings -----------------------------------------------------------------------------------------------------


def _settings_context(db: Any, actor: Actor, request: Request, enrolment_id: uuid.UUID,
                      typed: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                      message: str | None = None) -> dict[str, Any]:
    enrolment = service.get_enrolment(db, actor, enrolment_id, audit_context(request))
    programme = admin.programme_of(enrolment)
    references = dict(enrolment.reference_values)
    if typed is not None:
        references.update({k[len("references."):]: v for k, v in typed.items() if k.startswith("references.")})
    return {"enrolment": enrolment, "programme": programme,
            "label": service.labels(db, actor, [enrolment.id]).get(enrolment.id, ("", ""))[0],
            "references": admin.reference_fields(programme, references),
            "rules": admin.rule_fields(programme, enrolment.overrides, typed), "errors": errors or {},
            "message": message}


@router.get("/telesurveillance/suivis/{enrolment_id}/reglages", response_class=HTMLResponse)
def settings_page(request: Request, enrolment_id: uuid.UUID, db: DbSession, actor: Enrol) -> Response:
    return render(request, "monitoring/settings.html", _settings_context(db, actor, request, enrolment_id))


@router.post("/telesurveillance/suivis/{enrolment_id}/reglages", response_class=HTMLResponse)
def settings_submit(request: Request, enrolment_id: uuid.UUID, db: DbSession, actor: Enrol,
                    form: Fields) -> Response:
    enrolment = service.get_enrolment(db, actor, enrolment_id, audit_context(request))
    parsed = admin.parse_settings(admin.programme_of(enrolment), form)
    errors, message, status = parsed.errors, "Réglages non enregistrés : voyez les champs signalés.", 422
    if not errors:
        try:
            service.update_settings(db, actor, enrolment_id, references=parsed.references,
                                    overrides=parsed.overrides, context=audit_context(request))
        except MaillageError as exc:
            if exc.status_code == 404:
                raise
            db.rollback()
            errors = admin.field_errors(exc) if isinstance(exc, ValidationFailed) else {}
            message, status = exc.message, exc.status_code
        else:
            return _to_patient(enrolment_id)
    else:
        db.rollback()
    return render(request, "monitoring/settings.html",
                  _settings_context(db, actor, request, enrolment_id, form, errors, message), status_code=status)
