"""``DocumentReference`` and ``Binary`` for the patient's documents (``document.fhir`` maps one version; IHE MHD's
shape, which the ANS PDSm guide follows). A read goes through ``document.service.export_facts``
(the same access check as the documents page: the patient's care relationship, and a document restricted to its
author's team only for that team; one audit entry); a search page is restricted in SQL the same way and its facts
built by ``export_facts_page`` (one audit entry listing the page's patients, one query for the patients). The INS
only for a qualified identity. A ``DocumentReference`` carries the SHA-1 stored at upload and never decrypts the
content; only a ``Binary`` does. A ``Binary`` has its document's id: ``DocumentReference/<id>`` points to
``Binary/<id>``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import false, select

from maillage.authz import service as authz
from maillage.document import fhir as mapping
from maillage.document import repository as document_repo
from maillage.document import rules as document_rules
from maillage.document import service as documents
from maillage.document.facts import ExportFacts
from maillage.fhir import repository as repo
from maillage.fhir import rules
from maillage.fhir.registry import Call, Page, Resource, ResourceType, SearchParam, SearchQuery, register
from maillage.fhir.resources.common import (
    ID_PARAM,
    LAST_UPDATED_PARAM,
    dates,
    uuid_or_404,
    where_ids,
    where_patient,
)
from maillage.models.document import Document
from maillage.security.policy import Permission

STATUS_BY_FHIR = {s.fhir: s.value for s in document_rules.Status}


def document_reference(facts: ExportFacts) -> Resource:
    return mapping.document_reference(facts, binary_url=f"Binary/{facts.document.id}")


def binary(facts: ExportFacts) -> Resource:
    return {**mapping.binary(facts), "id": str(facts.document.id)}


def _reader(to_resource: Callable[[ExportFacts], Resource], *, with_content: bool) -> Callable[[Call, str], Resource]:
    def read(call: Call, resource_id: str) -> Resource:
        return to_resource(documents.export_facts(call.session, call.actor, uuid_or_404(resource_id),
                                                  context=call.context, with_content=with_content))
    return read


def _rows(call: Call, query: SearchQuery) -> tuple[Sequence[Document], dict[str, object] | None]:
    d = Document
    stmt = select(d).where(d.patient_id.in_(authz.accessible_patients(call.actor)), d.deleted_at.is_(None))
    stmt = document_repo.visible_to(stmt, call.actor.user_id, authz.teammates(call.actor.user_id))
    stmt = where_ids(stmt, query, d.id)
    stmt = where_patient(stmt, query, d.patient_id)
    for value in query.params.get("status", []):
        internal = [STATUS_BY_FHIR[v] for v in value.split(",") if v in STATUS_BY_FHIR]
        stmt = stmt.where(d.status.in_(internal) if internal else false())
    for value in query.params.get("type", []):
        codes = [t.code for t in (rules.parse_token(v) for v in value.split(","))
                 if t.code and t.system in (None, document_rules.LOINC_SYSTEM)]
        stmt = stmt.where(d.type_code.in_(codes) if codes else false())
    stmt = stmt.where(*repo.date_conditions(d.uploaded_at, dates(query.params.get("date", []))))
    stmt = stmt.where(*repo.date_conditions(d.uploaded_at, dates(query.params.get("_lastUpdated", []))))
    return repo.keyset_page(call.session, stmt, sort=query.sort, sort_column=d.uploaded_at, sort_kind="datetime",
                            id_column=d.id, id_kind="uuid", after=query.after, count=query.count)


def _searcher(to_resource: Callable[[ExportFacts], Resource], *,
              with_content: bool) -> Callable[[Call, SearchQuery], Page]:
    def search(call: Call, query: SearchQuery) -> Page:
        rows, position = _rows(call, query)
        facts = documents.export_facts_page(call.session, call.actor, rows, with_content=with_content,
                                            context=call.context)
        return Page([to_resource(f) for f in facts], position)
    return search


DOCUMENT_REFERENCE = register(ResourceType(
    name="DocumentReference",
    read=_reader(document_reference, with_content=False),
    search=_searcher(document_reference, with_content=False),
    permission=Permission.PATIENT_READ,
    search_params=(
        ID_PARAM,
        SearchParam("patient", "reference", "Le patient : Patient/identifiant (plusieurs séparés par des virgules)."),
        SearchParam("subject", "reference", "Comme patient."),
        SearchParam("status", "token", "Statut : current, superseded, entered-in-error."),
        SearchParam("type", "token", "Type de document : système|code (LOINC http://loinc.org) ou code seul."),
        SearchParam("date", "date", "Date d'enregistrement du document, avec préfixe eq, ge, gt, le ou lt."),
        LAST_UPDATED_PARAM,
    ),
    sorts=("date", "_lastUpdated"),
    default_sort=rules.Sort("date", True),
    documentation="Documents des patients que l'appelant suit (chaque version ; un document réservé à l'équipe de "
                  "son auteur, pour cette équipe seulement). Le contenu est la ressource Binary de même identifiant.",
))

BINARY = register(ResourceType(
    name="Binary",
    read=_reader(binary, with_content=True),
    search=_searcher(binary, with_content=True),
    permission=Permission.PATIENT_READ,
    search_params=(
        ID_PARAM,
        SearchParam("patient", "reference", "Le patient du document : Patient/identifiant."),
    ),
    sorts=("_lastUpdated",),
    default_sort=rules.Sort("_lastUpdated", True),
    documentation="Contenu d'un document (même identifiant que son DocumentReference), en base64.",
))
