"""``AuditEvent``: the audit chain's entries (``audit_entry``), mapped by ``audit.fhir.to_audit_event`` (the same
mapping as the trail's FHIR export), for administrators only.

The role's ``audit.read`` permission is the gate (``fhir.service.check_allowed``): no care role holds it, whatever
its token's scopes say (``user/*.rs`` opens no AuditEvent to a physician: 403). Looking at the trail through the door
is itself traced (a ``read`` or ``search`` entry on ``audit``), as on the administrator's trail page. Not in the
patient compartment: ``Patient/$export`` never carries the trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from maillage.audit import fhir as audit_fhir
from maillage.audit.repository import ENTRY, ENTRY_COLUMNS, LISTED, list_patients_of
from maillage.audit.rules import LIST_ACTION
from maillage.audit.service import record
from maillage.exceptions import NotFound
from maillage.fhir import repository as repo
from maillage.fhir import rules
from maillage.fhir.registry import Call, Page, Resource, ResourceType, SearchParam, SearchQuery, register
from maillage.fhir.resources.common import ID_PARAM, dates, uuid_or_404, where_codes, where_ids
from maillage.security.policy import Permission

OBJECT_TYPE = "audit"


def _resources(call: Call, rows: list[Any]) -> list[Resource]:
    listed = list_patients_of(call.session, [r["id"] for r in rows if r["action"] == LIST_ACTION])
    out = []
    for row in rows:
        entry = {**row, "list_patients": listed.get(row["id"], [])}
        out.append(audit_fhir.to_audit_event(entry).model_dump(mode="json", by_alias=True, exclude_none=True))
    return out


def read(call: Call, resource_id: str) -> Resource:
    row = call.session.execute(select(*ENTRY_COLUMNS).where(ENTRY.c.id == uuid_or_404(resource_id))).mappings().first()
    if row is None:
        raise NotFound()
    record(call.session, action="read", object_type=OBJECT_TYPE, object_id=resource_id, context=call.context,
           **call.actor.audit_fields)
    return _resources(call, [row])[0]


def search(call: Call, query: SearchQuery) -> Page:
    stmt = select(*ENTRY_COLUMNS)
    stmt = where_ids(stmt, query, ENTRY.c.id)
    for value in query.params.get("patient", []):
        wanted_patients = [rules.parse_reference(v, "Patient") for v in value.split(",")]
        stmt = stmt.where(or_(ENTRY.c.patient_id.in_(wanted_patients),
                              ENTRY.c.id.in_(select(LISTED.c.entry_id).where(LISTED.c.patient_id.in_(
                                  wanted_patients)))))
    stmt = where_codes(stmt, query, ENTRY.c.outcome, audit_fhir.OUTCOME_CODES, name="outcome")
    stmt = stmt.where(*repo.date_conditions(ENTRY.c.occurred_at, dates(query.params.get("date", []))))
    descending = query.sort.descending
    if query.after is not None:
        try:
            last = int(query.after["i"])
        except (KeyError, TypeError, ValueError):
            raise rules.SearchProblem("Curseur de pagination invalide : repartez du premier lien de la "
                                      "recherche.") from None
        stmt = stmt.where(ENTRY.c.seq < last if descending else ENTRY.c.seq > last)
    # The chain's order is the order of occurrence: the date sort is by sequence number, a stable unique key.
    stmt = stmt.order_by(ENTRY.c.seq.desc() if descending else ENTRY.c.seq).limit(query.count + 1)
    rows = list(call.session.execute(stmt).mappings())
    position = None
    if len(rows) > query.count:
        rows = rows[: query.count]
        position = {"s": ("-" if descending else "") + query.sort.key, "i": str(rows[-1]["seq"])}
    record(call.session, action="search", object_type=OBJECT_TYPE, context=call.context,
           details={"results": len(rows), "via": "fhir"}, **call.actor.audit_fields)
    return Page(_resources(call, rows), position)


AUDIT_EVENT = register(ResourceType(
    name="AuditEvent",
    read=read,
    search=search,
    permission=Permission.AUDIT_READ,
    search_params=(
        ID_PARAM,
        SearchParam("patient", "reference", "Le patient concerné, y compris par une liste qui l'a montré : "
                                            "Patient/identifiant."),
        SearchParam("date", "date", "Date de l'accès, avec préfixe."),
        SearchParam("outcome", "token", "0 (succès), 4 (refusé), 8 (échec)."),
    ),
    sorts=("date",),
    default_sort=rules.Sort("date", True),
    documentation="Traces d'accès de la chaîne d'audit, réservées aux administrateurs (permission audit.read) ; "
                  "la consultation est elle-même tracée.",
    extra={"patient_compartment": False},
))
