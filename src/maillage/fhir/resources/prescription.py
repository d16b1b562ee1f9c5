"""``MedicationRequest`` for the lines of prescriptions and ``MedicationDispense`` for their dispensations
(``prescription.fhir`` maps them). Every resource returned comes through ``prescription.service.view``: the same
access check as the prescription's page (the patient's care relationship), one audited read per prescription. Rows
are ordered by id: a new prescription does not move a page already read."""

from __future__ import annotations

import uuid

from sqlalchemy import false, select

from maillage.authz import service as authz
from maillage.directory import service as directory
from maillage.exceptions import NotFound
from maillage.fhir import repository as repo
from maillage.fhir import rules
from maillage.fhir.registry import Call, Page, Resource, ResourceType, SearchParam, SearchQuery, register
from maillage.fhir.resources.common import ID_PARAM, uuid_or_404, where_ids, where_patient, where_references
from maillage.models.prescription import Dispensation, Prescription, PrescriptionLine
from maillage.prescription import fhir as mapping
from maillage.prescription import service as prescriptions
from maillage.prescription.service import PrescriptionView
from maillage.security.policy import Permission

STATUSES_BY_FHIR: dict[str, list[str]] = {}
for internal, fhir_status in mapping.REQUEST_STATUS.items():
    STATUSES_BY_FHIR.setdefault(fhir_status, []).append(internal.value)


def _resources(view: PrescriptionView, line_ids: set[uuid.UUID] | None = None) -> list[Resource]:
    return [mapping.medication_request(view.prescription, lv.line, prescriber_name=view.prescriber_name,
                                       prescriber_rpps=view.prescriber_rpps)
            for lv in view.lines if line_ids is None or lv.line.id in line_ids]


def read(call: Call, resource_id: str) -> Resource:
    line = call.session.get(PrescriptionLine, uuid_or_404(resource_id))
    if line is None:
        raise NotFound()
    view = prescriptions.view(call.session, call.actor, line.prescription_id, context=call.context)
    return _resources(view, {line.id})[0]


def search(call: Call, query: SearchQuery) -> Page:
    line, p = PrescriptionLine, Prescription
    stmt = select(line).join(p, p.id == line.prescription_id) \
        .where(p.patient_id.in_(authz.accessible_patients(call.actor)))
    stmt = where_ids(stmt, query, line.id)
    stmt = where_patient(stmt, query, p.patient_id)
    for value in query.params.get("status", []):
        internal = [s for v in value.split(",") for s in STATUSES_BY_FHIR.get(v, [])]
        stmt = stmt.where(p.status.in_(internal) if internal else false())
    for value in query.params.get("identifier", []):
        token = rules.parse_token(value)
        number = (token.code or "").split("-")[0]
        matches = token.system in (None, mapping.LINE_SYSTEM) and number.isdigit()
        stmt = stmt.where(p.number == number if matches else false())
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=None, sort_kind="uuid",
                                      id_column=line.id, id_kind="uuid", after=query.after, count=query.count)
    wanted_lines: dict[uuid.UUID, set[uuid.UUID]] = {}
    for row in rows:
        wanted_lines.setdefault(row.prescription_id, set()).add(row.id)
    by_line: dict[str, Resource] = {}
    for prescription_id, line_ids in wanted_lines.items():
        view = prescriptions.view(call.session, call.actor, prescription_id, context=call.context)
        by_line.update((r["id"], r) for r in _resources(view, line_ids))
    return Page([by_line[str(row.id)] for row in rows], position)


MEDICATION_REQUEST = register(ResourceType(
    name="MedicationRequest",
    read=read,
    search=search,
    permission=Permission.PATIENT_READ,
    search_params=(
        ID_PARAM,
        SearchParam("patient", "reference", "Le patient : Patient/identifiant (plusieurs séparés par des virgules)."),
        SearchParam("subject", "reference", "Comme patient."),
        SearchParam("status", "token", "Statut : draft, active, completed, cancelled, stopped (ordonnance expirée)."),
        SearchParam("identifier", "token",
                    f"Numéro de l'ordonnance ou de sa ligne ({mapping.LINE_SYSTEM}|numéro-ligne)."),
    ),
    documentation="Lignes des ordonnances des patients que l'appelant suit (une ressource par ligne ; "
                  "groupIdentifier porte le numéro de l'ordonnance).",
))


def _dispenses(call: Call, view: PrescriptionView, wanted: set[uuid.UUID]) -> list[Resource]:
    chosen = [(lv.line, d) for lv in view.lines for d in lv.dispensations if d.id in wanted]
    pharmacists = directory.professionals_of_users(call.session, {d.pharmacist_id for _, d in chosen})
    return [mapping.medication_dispense(view.prescription, line, d, substitute_name=view.substitute_name(d),
                                        pharmacist=pharmacists.get(d.pharmacist_id))
            for line, d in chosen]


def read_dispense(call: Call, resource_id: str) -> Resource:
    row = call.session.get(Dispensation, uuid_or_404(resource_id))
    if row is None:
        raise NotFound()
    view = prescriptions.view(call.session, call.actor, row.prescription_id, context=call.context)
    found = _dispenses(call, view, {row.id})
    if not found:
        raise NotFound()
    return found[0]


def search_dispenses(call: Call, query: SearchQuery) -> Page:
    d, p = Dispensation, Prescription
    stmt = select(d).join(p, p.id == d.prescription_id).where(p.patient_id.in_(authz.accessible_patients(call.actor)))
    stmt = where_ids(stmt, query, d.id)
    stmt = where_patient(stmt, query, p.patient_id)
    stmt = where_references(stmt, query, d.line_id, names=("prescription",), target="MedicationRequest")
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=None, sort_kind="uuid",
                                      id_column=d.id, id_kind="uuid", after=query.after, count=query.count)
    by_prescription: dict[uuid.UUID, set[uuid.UUID]] = {}
    for row in rows:
        by_prescription.setdefault(row.prescription_id, set()).add(row.id)
    found: dict[str, Resource] = {}
    for prescription_id, ids in by_prescription.items():
        view = prescriptions.view(call.session, call.actor, prescription_id, context=call.context)
        found.update((r["id"], r) for r in _dispenses(call, view, ids))
    return Page([found[str(row.id)] for row in rows if str(row.id) in found], position)


MEDICATION_DISPENSE = register(ResourceType(
    name="MedicationDispense",
    read=read_dispense,
    search=search_dispenses,
    permission=Permission.PATIENT_READ,
    search_params=(
        ID_PARAM,
        SearchParam("patient", "reference", "Le patient : Patient/identifiant (plusieurs séparés par des virgules)."),
        SearchParam("subject", "reference", "Comme patient."),
        SearchParam("prescription", "reference", "La ligne d'ordonnance délivrée : MedicationRequest/identifiant."),
    ),
    documentation="Délivrances en pharmacie des lignes d'ordonnance des patients que l'appelant suit (délivré, "
                  "substitué par un générique du même groupe, non délivré avec son motif).",
))
