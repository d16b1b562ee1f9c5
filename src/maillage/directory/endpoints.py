"""JSON API of the directory (``/api/directory/...``) and the public offer catalogue (``/offre/catalogue.json``).

Reading the directory needs ``directory.read`` (every professional role); changing it ``directory.admin``. The
catalogue is public: it shows what the GHT offers, never who answers.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile

from maillage.directory import admin_service, import_service, imports, service
from maillage.directory.schemas import (
    CareUnitRead,
    CommitmentRead,
    EstablishmentCreate,
    EstablishmentRead,
    EstablishmentSummary,
    GhtRead,
    ImportIssueRead,
    ImportResult,
    LineMemberRead,
    ProfessionalCreate,
    ProfessionalRead,
    ProfessionalSummary,
    PublicCatalogue,
    PublicLineRead,
    RoleRead,
    SpecialtyLineRead,
    SpecialtyLineWrite,
    SpecialtyRead,
)
from maillage.directory.specialties import SPECIALTIES, SPECIALTY_SYSTEM
from maillage.kit.clock import now
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.models.directory import Establishment, Professional
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, require
from maillage.security.policy import Permission

router = APIRouter(prefix="/api/directory", tags=["annuaire"], route_class=UnitOfWorkRoute)
public_router = APIRouter(tags=["offre publique"], route_class=UnitOfWorkRoute)
Reader = Annotated[Actor, Depends(require(Permission.DIRECTORY_READ))]
Admin = Annotated[Actor, Depends(require(Permission.DIRECTORY_ADMIN))]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Non authentifié"}, 403: {"description": "Action non permise"},
    404: {"description": "Introuvable"}, 422: {"description": "Données invalides"},
}
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=100_000)]


def establishment_summary(e: Establishment) -> EstablishmentSummary:
    return EstablishmentSummary(
        id=e.id, name=e.name, kind=e.kind, kind_label=service.kind_label(e.kind), ght_role=e.ght_role,
        ght_role_label=service.ght_role_label(e.ght_role), finess_et=e.finess_et, commune_insee=e.commune_insee,
        commune_name=e.commune_name,
    )


def establishment_read(view: service.EstablishmentView) -> EstablishmentRead:
    e = view.establishment
    return EstablishmentRead(
        **establishment_summary(e).model_dump(), ght_id=e.ght_id, finess_ej=e.finess_ej, siret=e.siret,
        category_code=e.category_code, public=e.public, parent_id=e.parent_id, address_line=e.address_line,
        postcode=e.postcode, latitude=e.latitude, longitude=e.longitude, phone=e.phone, mssante=e.mssante,
        source=e.source, units=[CareUnitRead.model_validate(u) for u in view.units],
    )


def professional_summary(p: Professional) -> ProfessionalSummary:
    view = service.ProfessionalView(p, [], [])
    return ProfessionalSummary(
        id=p.id, display_name=view.display_name, rpps=p.rpps, adeli=p.adeli, national_id=p.national_id,
        profession_code=p.profession_code, profession_label=view.profession_label, specialty_code=p.specialty_code,
        specialty_label=view.specialty_label,
    )


def professional_read(view: service.ProfessionalView) -> ProfessionalRead:
    p = view.professional
    return ProfessionalRead(
        **professional_summary(p).model_dump(), civility=p.civility, last_name=p.last_name, first_name=p.first_name,
        identifier_warnings=list(p.identifier_warnings or []), mssante=p.mssante, phone=p.phone, source=p.source,
        roles=[RoleRead(id=r.role.id, establishment_id=r.role.establishment_id, establishment_name=r.establishment_name,
                        care_unit_id=r.role.care_unit_id, care_unit_name=r.care_unit_name,
                        function_label=r.role.function_label, practice_mode=r.role.practice_mode,
                        site_name=r.role.site_name, site_commune_insee=r.role.site_commune_insee,
                        is_primary=r.role.is_primary) for r in view.roles],
        line_ids=view.line_ids,
    )


def _commitments(view: service.LineView) -> list[CommitmentRead]:
    return [CommitmentRead(urgency=c.urgency, urgency_label=c.urgency_label, response_minutes=c.response_minutes,
                           response_label=c.response_label) for c in view.commitments]


def line_read(view: service.LineView) -> SpecialtyLineRead:
    line = view.line
    return SpecialtyLineRead(
        id=line.id, specialty_code=line.specialty_code, specialty_label=view.specialty_label,
        specialty_system=SPECIALTY_SYSTEM, title=line.title, summary=line.summary,
        establishment_id=line.establishment_id, establishment_name=view.establishment_name,
        care_unit_id=line.care_unit_id, care_unit_name=view.care_unit_name, modalities=view.modalities,
        audiences=view.audiences, audience_labels=view.audience_labels, requirements=list(line.requirements or []),
        requirement_labels=view.requirement_labels, min_photos=line.min_photos, opening_hours=line.opening_hours,
        how_to_request=line.how_to_request, phone=line.phone, on_call_phone=line.on_call_phone,
        commitments=_commitments(view),
        members=[LineMemberRead(professional_id=m.professional_id, display_name=m.display_name, role=m.role,
                                role_label=m.role_label) for m in view.members],
        published=line.published,
    )


def public_line_read(view: service.LineView) -> PublicLineRead:
    line = view.line
    return PublicLineRead(
        id=line.id, specialty_code=line.specialty_code, specialty_label=view.specialty_label, title=line.title,
        summary=line.summary, establishment_name=view.establishment_name, commune_name=view.commune_name,
        modalities=view.modalities, audiences=view.audiences, requirements=view.requirement_labels,
        opening_hours=line.opening_hours, how_to_request=line.how_to_request, phone=line.phone,
        commitments=_commitments(view),
    )


# --- Reading ----------------------------------------------------------------------------------------------


@router.get("/specialties", response_model=list[SpecialtyRead], summary="Spécialités (nomenclature ANS TRE_R38)",
            responses=ERRORS)
def specialties(actor: Reader) -> list[SpecialtyRead]:
    return [SpecialtyRead(code=s.code, label=s.label, system=SPECIALTY_SYSTEM) for s in SPECIALTIES.values()]


@router.get("/ght", response_model=list[GhtRead], summary="Groupements hospitaliers de territoire", responses=ERRORS)
def list_ght(db: DbSession, actor: Reader) -> list[GhtRead]:
    return [GhtRead.model_validate(g) for g in service.ghts(db)]


@router.get("/establishments", response_model=list[EstablishmentSummary], summary="Rechercher un établissement",
            responses=ERRORS)
def search_establishments(db: DbSession, actor: Reader, q: Annotated[str, Query(max_length=100)] = "",
                          kind: Annotated[str, Query(max_length=20)] = "",
                          commune: Annotated[str, Query(max_length=5)] = "", limit: Limit = 50,
                          offset: Offset = 0) -> list[EstablishmentSummary]:
    found = service.search_establishments(db, query=q, kind=kind or None, commune_insee=commune or None,
                                          limit=limit, offset=offset)
    return [establishment_summary(e) for e in found]


@router.get("/establishments/{establishment_id}", response_model=EstablishmentRead,
            summary="Un établissement et ses unités", responses=ERRORS)
def read_establishment(establishment_id: uuid.UUID, db: DbSession, actor: Reader) -> EstablishmentRead:
    return establishment_read(service.get_establishment(db, establishment_id))


@router.post("/establishments", response_model=EstablishmentRead, status_code=201,
             summary="Ajouter un établissement (administration)", responses=ERRORS)
def create_establishment(body: EstablishmentCreate, request: Request, db: DbSession, actor: Admin) -> EstablishmentRead:
    e = admin_service.create_establishment(db, actor, body, context=audit_context(request))
    return establishment_read(service.get_establishment(db, e.id))


@router.get("/professionals", response_model=list[ProfessionalSummary], summary="Rechercher un professionnel",
            responses=ERRORS)
def search_professionals(db: DbSession, actor: Reader, q: Annotated[str, Query(max_length=100)] = "",
                         specialty: Annotated[str, Query(max_length=8)] = "",
                         profession: Annotated[str, Query(max_length=4)] = "",
                         establishment_id: uuid.UUID | None = None, limit: Limit = 50,
                         offset: Offset = 0) -> list[ProfessionalSummary]:
    found = service.search_professionals(db, query=q, specialty_code=specialty or None,
                                         profession_code=profession or None, establishment_id=establishment_id,
                                         limit=limit, offset=offset)
    return [professional_summary(p) for p in found]


@router.get("/professionals/{professional_id}", response_model=ProfessionalRead,
            summary="Un professionnel, ses rôles et ses lignes", responses=ERRORS)
def read_professional(professional_id: uuid.UUID, db: DbSession, actor: Reader) -> ProfessionalRead:
    return professional_read(service.get_professional(db, professional_id))


@router.post("/professionals", response_model=ProfessionalRead, status_code=201,
             summary="Ajouter un professionnel (administration)", responses=ERRORS)
def create_professional(body: ProfessionalCreate, request: Request, db: DbSession, actor: Admin) -> ProfessionalRead:
    p = admin_service.create_professional(db, actor, body, context=audit_context(request))
    return professional_read(service.get_professional(db, p.id))


@router.get("/specialty-lines", response_model=list[SpecialtyLineRead],
            summary="Lignes de spécialité (téléexpertise, téléconsultation)", responses=ERRORS)
def search_lines(db: DbSession, actor: Reader, q: Annotated[str, Query(max_length=100)] = "",
                 specialty: Annotated[str, Query(max_length=8)] = "",
                 audience: Annotated[str, Query(max_length=20, description="city, ehpad, usmp, ght_hospitals")] = "",
                 modality: Annotated[str, Query(max_length=20, description="teleexpertise, teleconsultation")] = "",
                 professional_id: uuid.UUID | None = None, limit: Limit = 100,
                 offset: Offset = 0) -> list[SpecialtyLineRead]:
    views = service.search_lines(db, query=q, specialty_code=specialty or None, audience=audience or None,
                                 modality=modality or None, professional_id=professional_id, limit=limit,
                                 offset=offset)
    return [line_read(v) for v in views]


@router.get("/specialty-lines/{line_id}", response_model=SpecialtyLineRead, summary="Une ligne de spécialité",
            responses=ERRORS)
def read_line(line_id: uuid.UUID, db: DbSession, actor: Reader) -> SpecialtyLineRead:
    return line_read(service.get_line(db, line_id))


@router.post("/specialty-lines", response_model=SpecialtyLineRead, status_code=201,
             summary="Créer une ligne de spécialité (administration)", responses=ERRORS)
def create_line(body: SpecialtyLineWrite, request: Request, db: DbSession, actor: Admin) -> SpecialtyLineRead:
    return line_read(admin_service.save_line(db, actor, body, context=audit_context(request)))


@router.put("/specialty-lines/{line_id}", response_model=SpecialtyLineRead,
            summary="Modifier une ligne de spécialité (administration)", responses=ERRORS)
def update_line(line_id: uuid.UUID, body: SpecialtyLineWrite, request: Request, db: DbSession,
                actor: Admin) -> SpecialtyLineRead:
    return line_read(admin_service.save_line(db, actor, body, line_id=line_id, context=audit_context(request)))


def import_result(outcome: import_service.ImportOutcome) -> ImportResult:
    report = outcome.report
    return ImportResult(
        source=report.source, accepted=True, summary=outcome.summary, lines_read=report.lines_read,
        valid=report.valid_count, invalid=report.invalid_count, skipped=report.skipped_count,
        created=outcome.created, updated=outcome.updated, unchanged=outcome.unchanged, ignored=outcome.ignored,
        errors=[ImportIssueRead(**i.as_detail()) for i in report.errors],
        warnings=[ImportIssueRead(**i.as_detail()) for i in report.warnings],
    )


@router.post("/imports/{kind}", response_model=ImportResult, summary="Importer une extraction RPPS ou FINESS",
             description="Refusée en entier (422, erreurs par ligne) au-delà du seuil de lignes invalides ; "
                         "réimporter le même fichier ne change rien.", responses=ERRORS)
def import_extract(kind: str, request: Request, db: DbSession, actor: Admin,
                   file: Annotated[UploadFile, File(description="Extraction PS_LibreAcces ou FINESS etalab")],
                   threshold: Annotated[float, Form(ge=0, le=1)] = imports.DEFAULT_ERROR_THRESHOLD) -> ImportResult:
    outcome = import_service.run_import(db, kind, file.file, threshold=threshold, actor=actor,
                                 context=audit_context(request))
    return import_result(outcome)


# --- The public catalogue ----------------------------------------------------------------------------------


@public_router.get("/offre/catalogue.json", response_model=PublicCatalogue,
                   summary="Offre de télémédecine du GHT (publique, sans connexion)")
def public_catalogue(db: DbSession, pour: Annotated[str, Query(max_length=20)] = "") -> PublicCatalogue:
    views = service.search_lines(db, audience=pour or None, published_only=True, limit=200)
    return PublicCatalogue(ght=[GhtRead.model_validate(g) for g in service.ghts(db)],
                           lines=[public_line_read(v) for v in views], generated_at=now())
