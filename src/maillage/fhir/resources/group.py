"""``Group``: the patients of a telesurveillance team (``monitoring_team``) followed now (an active or paused
enrolment), as far as the caller may see them. It is what ``Group/[id]/$export`` exports (``fhir.bulk``).

A team whose enrolled patients the caller sees none of is 404, exactly like a team that does not exist: knowing a
team's id opens nothing. The members listed are audited as a list read (one entry per page, with its patients).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select

from maillage.authz import service as authz
from maillage.exceptions import NotFound
from maillage.fhir import repository as repo
from maillage.fhir.registry import Call, Page, Resource, ResourceType, SearchQuery, register
from maillage.fhir.resources.common import ID_PARAM, uuid_or_404, where_ids
from maillage.models.monitoring import MonitoringEnrolment, MonitoringTeam
from maillage.security.actor import Actor
from maillage.security.policy import Permission
from maillage.security.purposes import Purpose

FOLLOWED = ("active", "paused")


def _members_stmt(actor: Actor, team_ids: Any) -> Select[uuid.UUID, uuid.UUID]:
    e = MonitoringEnrolment
    return select(e.team_id, e.patient_id).where(e.team_id.in_(team_ids), e.status.in_(FOLLOWED),
                                                  e.patient_id.in_(authz.accessible_patients(actor))).distinct()


def members(call: Call, team_id: uuid.UUID) -> list[uuid.UUID]:
    """The patients of the team the caller may see, in a stable order (not audited: the caller audits)."""
    return sorted({p for _, p in call.session.execute(_members_stmt(call.actor, [team_id]))})


def to_resource(team: MonitoringTeam, patient_ids: list[uuid.UUID]) -> Resource:
    return {
        "resourceType": "Group",
        "id": str(team.id),
        "active": team.active,
        "type": "person",
        "actual": True,
        "name": team.name,
        "quantity": len(patient_ids),
        "member": [{"entity": {"reference": f"Patient/{p}"}} for p in patient_ids],
    }


def _audit(call: Call, patient_ids: list[uuid.UUID]) -> None:
    authz.audit_list(call.session, call.actor, object_type="group", count=len(patient_ids),
                     purpose=Purpose.MONITORING, patient_ids=patient_ids, context=call.context)


def read(call: Call, resource_id: str) -> Resource:
    team = call.session.get(MonitoringTeam, uuid_or_404(resource_id))
    found = members(call, team.id) if team is not None else []
    if team is None or not found:
        raise NotFound()
    _audit(call, found)
    return to_resource(team, found)


def search(call: Call, query: SearchQuery) -> Page:
    t = MonitoringTeam
    visible = select(MonitoringEnrolment.team_id).where(
        MonitoringEnrolment.status.in_(FOLLOWED),
        MonitoringEnrolment.patient_id.in_(authz.accessible_patients(call.actor)))
    stmt = where_ids(select(t).where(t.id.in_(visible)), query, t.id)
    rows, position = repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=None, sort_kind="uuid",
                                      id_column=t.id, id_kind="uuid", after=query.after, count=query.count)
    by_team: dict[uuid.UUID, list[uuid.UUID]] = {}
    for team_id, patient_id in call.session.execute(_members_stmt(call.actor, [r.id for r in rows])):
        by_team.setdefault(team_id, []).append(patient_id)
    _audit(call, sorted({p for ps in by_team.values() for p in ps}))
    return Page([to_resource(r, sorted(by_team.get(r.id, []))) for r in rows], position)


GROUP = register(ResourceType(
    name="Group",
    read=read,
    search=search,
    permission=Permission.PATIENT_READ,
    search_params=(ID_PARAM,),
    documentation="Patients suivis (inscription active ou suspendue) d'une équipe de télésurveillance, parmi ceux "
                  "que l'appelant suit ; c'est le groupe qu'exporte Group/[id]/$export.",
))
