"""Changing the directory (administrators): establishments, professionals and their roles, specialty lines, the
directory person and establishments of an account.

Changing needs ``directory.admin`` (checked here too, so a script cannot bypass it). Every change by a person is
audited. Services flush and never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.directory import communes, rules
from maillage.directory import repository as repo
from maillage.directory.service import (
    LineView,
    establishment_search_text,
    line_search_text,
    line_views,
    professional_search_text,
)
from maillage.directory.specialties import PROFESSION_LABELS, Requirement, Urgency, profession_label, specialty_label
from maillage.exceptions import NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import now
from maillage.models.auth import UserAccount
from maillage.models.directory import Establishment, Ght, Professional, ProfessionalRole, SpecialtyLine
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows


def require_admin(actor: Actor | None) -> None:
    """Refuse a person without ``directory.admin``; ``None`` is the console (an operator on the server)."""
    if actor is not None and not role_allows(actor.role, Permission.DIRECTORY_ADMIN):
        raise PermissionDenied("Seule l'administration tient l'annuaire à jour.")


def audit_fields(actor: Actor | None) -> dict[str, Any]:
    """Who made a change, for its audit entry: the actor, or the console."""
    if actor is None:
        return {"actor_id": None, "actor_role": "cli", "establishment_id": None}
    return actor.audit_fields


def _commune(code: str | None) -> communes.Commune | None:
    if not code:
        return None
    return communes.get_commune(rules.validate_insee_commune_code(code))


def create_establishment(session: Session, actor: Actor | None, data: Any,
                         context: AuditContext | None = None) -> Establishment:
    """Add an establishment (FINESS checked, GHT role allowed for its kind and status, commune known)."""
    require_admin(actor)
    kind = rules.check_kind(data.kind)
    finess_et = rules.validate_finess(data.finess_et, field="finess_et", label="FINESS ET") if data.finess_et else None
    finess_ej = rules.validate_finess(data.finess_ej, field="finess_ej", label="FINESS EJ") if data.finess_ej else None
    role = None
    if data.ght_role:
        rules.check_choice(data.ght_role, [r.value for r in rules.GhtRole], "ght_role", "Rôle GHT")
        role = rules.check_ght_role(kind, rules.GhtRole(data.ght_role), public=data.public, field="ght_role")
        if data.ght_id is None or session.get(Ght, data.ght_id) is None:
            raise ValidationFailed("GHT : un rôle GHT demande un GHT existant.",
                                   details=[{"field": "ght_id", "message": "GHT introuvable."}])
    if finess_et and repo.establishments_by_finess(session, [finess_et]):
        raise ValidationFailed(f"FINESS ET : {finess_et} figure déjà dans l'annuaire.",
                               details=[{"field": "finess_et", "message": "FINESS déjà présent."}])
    if data.parent_id and repo.establishment(session, data.parent_id) is None:
        raise ValidationFailed("Établissement de rattachement introuvable.",
                               details=[{"field": "parent_id", "message": "Établissement introuvable."}])
    commune = _commune(data.commune_insee)
    e = Establishment(
        name=" ".join(data.name.split()), kind=kind.value, finess_et=finess_et, finess_ej=finess_ej,
        public=data.public, ght_id=data.ght_id, ght_role=role.value if role else None,
        parent_id=data.parent_id, address_line=data.address_line,
        postcode=rules.validate_postcode(data.postcode) if data.postcode else None,
        commune_insee=commune.insee if commune else None, commune_name=commune.name if commune else None,
        latitude=commune.latitude if commune else None, longitude=commune.longitude if commune else None,
        phone=data.phone, mssante=data.mssante, source="manual",
    )
    e.search_text = establishment_search_text(e)
    session.add(e)
    session.flush()
    record(session, action="create", object_type="establishment", object_id=str(e.id), context=context,
           **audit_fields(actor))
    return e


def professional_identifier(rpps: str | None, adeli: str | None) -> rules.ProfessionalId:
    """The checked identifier of a professional: the RPPS when given (a failed key is a warning), else ADELI."""
    if rpps:
        return rules.validate_rpps(rpps, field="rpps")
    if adeli:
        return rules.validate_adeli(adeli, field="adeli")
    message = "Identifiant : un RPPS ou un numéro ADELI est obligatoire."
    raise ValidationFailed(message, details=[{"field": "rpps", "message": message}])


def create_professional(session: Session, actor: Actor | None, data: Any,
                        context: AuditContext | None = None) -> Professional:
    """Add a professional; the national identifier IdNat_PS is derived (8 + RPPS or 0 + ADELI), never typed."""
    require_admin(actor)
    pid = professional_identifier(data.rpps, data.adeli)
    adeli = rules.validate_adeli(data.adeli, field="adeli").value if data.adeli and data.rpps else None
    if repo.professionals_by_national_id(session, [pid.national_id]):
        raise ValidationFailed(f"{pid.type.label} {pid.value} : ce professionnel figure déjà dans l'annuaire.",
                               details=[{"field": "rpps", "message": "Identifiant déjà présent."}])
    if data.profession_code not in PROFESSION_LABELS:
        message = f"Profession : « {data.profession_code} » n'est pas un code TRE_G15-ProfessionSante."
        raise ValidationFailed(message, details=[{"field": "profession_code", "message": message}])
    p = Professional(
        rpps=pid.value if pid.type is rules.ProfessionalIdType.RPPS else None,
        adeli=pid.value if pid.type is rules.ProfessionalIdType.ADELI else adeli,
        national_id=pid.national_id, identifier_warnings=list(pid.warnings), civility=data.civility,
        last_name=" ".join(data.last_name.split()).upper(),
        first_name=" ".join(data.first_name.split()) if data.first_name else None,
        profession_code=data.profession_code, profession_label=profession_label(data.profession_code),
        specialty_code=data.specialty_code.upper() if data.specialty_code else None,
        specialty_label=specialty_label(data.specialty_code) if data.specialty_code else None,
        mssante=data.mssante, phone=data.phone, source="manual",
    )
    p.search_text = professional_search_text(p)
    session.add(p)
    session.flush()
    if data.establishment_id:
        e = repo.establishment(session, data.establishment_id)
        if e is None:
            raise ValidationFailed("Établissement introuvable.",
                                   details=[{"field": "establishment_id", "message": "Établissement introuvable."}])
        add_role(session, p, e, care_unit_id=data.care_unit_id, function_label=data.function_label, primary=True)
    record(session, action="create", object_type="professional", object_id=str(p.id), context=context,
           details={"warnings": len(pid.warnings)}, **audit_fields(actor))
    return p


def add_role(session: Session, p: Professional, e: Establishment, *, care_unit_id: uuid.UUID | None = None,
             function_label: str | None = None, practice_mode: str | None = None,
             primary: bool = False) -> ProfessionalRole:
    """Attach a professional to an establishment (idempotent for the same establishment and unit)."""
    if care_unit_id is not None:
        unit = repo.care_unit(session, care_unit_id)
        if unit is None or unit.establishment_id != e.id:
            raise ValidationFailed("Unité de soins introuvable dans cet établissement.",
                                   details=[{"field": "care_unit_id", "message": "Unité introuvable."}])
    key = f"establishment:{e.id}" + (f":{care_unit_id}" if care_unit_id else "")
    existing = repo.roles_by_professional_ids(session, [p.id]).get(p.id, {}).get(key)
    if existing is not None:
        return existing
    role = ProfessionalRole(professional_id=p.id, establishment_id=e.id, care_unit_id=care_unit_id,
                            activity_key=key, function_label=function_label, practice_mode=practice_mode,
                            site_name=e.name, site_commune_insee=e.commune_insee, site_finess=e.finess_et,
                            is_primary=primary)
    session.add(role)
    session.flush()
    return role


def save_line(session: Session, actor: Actor | None, data: Any, *, line_id: uuid.UUID | None = None,
              context: AuditContext | None = None) -> LineView:
    """Create or replace a specialty line: its offer, the delays it commits to, who answers and who backs up."""
    require_admin(actor)
    problems: list[dict[str, str]] = []
    establishment = repo.establishment(session, data.establishment_id)
    if establishment is None:
        problems.append({"field": "establishment_id", "message": "Établissement introuvable."})
    if data.care_unit_id is not None:
        unit = repo.care_unit(session, data.care_unit_id)
        if unit is None or (establishment is not None and unit.establishment_id != establishment.id):
            problems.append({"field": "care_unit_id", "message": "Unité introuvable dans cet établissement."})
    code = data.specialty_code.strip().upper()
    if not code.startswith(("SM", "SCD", "SI")) or not code[2:].lstrip("D").isdigit():
        problems.append({"field": "specialty_code",
                         "message": f"Spécialité : « {code} » n'est pas un code TRE_R38-SpecialiteOrdinale."})
    if not (data.teleexpertise or data.teleconsultation):
        problems.append({"field": "teleexpertise", "message": "Une ligne offre la téléexpertise, la téléconsultation "
                                                               "ou les deux."})
    for requirement in data.requirements:
        if requirement not in [r.value for r in Requirement]:
            problems.append({"field": "requirements", "message": f"Exigence inconnue : « {requirement} »."})
    if Requirement.PHOTO.value in data.requirements and data.min_photos < 1:
        problems.append({"field": "min_photos", "message": "Une ligne qui exige des photos en demande au moins une."})
    for urgency, minutes in data.commitments.items():
        if urgency not in [u.value for u in Urgency]:
            problems.append({"field": "commitments", "message": f"Urgence inconnue : « {urgency} »."})
        elif not 5 <= minutes <= 60 * 24 * 30:
            problems.append({"field": "commitments",
                             "message": f"Délai « {urgency} » : entre 5 minutes et 30 jours."})
    if not data.commitments:
        problems.append({"field": "commitments", "message": "Indiquez au moins un délai de réponse."})
    members = [(pid, "answering") for pid in data.answering] + [(pid, "backup") for pid in data.backups]
    known = repo.professionals_by_ids(session, [pid for pid, _ in members])
    for pid, _ in members:
        if pid not in known:
            problems.append({"field": "answering", "message": f"Professionnel introuvable : {pid}."})
    if problems:
        raise ValidationFailed(problems[0]["message"], details=problems)
    if line_id is None:
        line_ = SpecialtyLine(establishment_id=data.establishment_id, specialty_code=code, title=data.title)
        session.add(line_)
        action = "create"
    else:
        found = repo.line(session, line_id)
        if found is None:
            raise NotFound("Ligne de spécialité introuvable.")
        line_ = found
        action = "update"
    for name in ("establishment_id", "care_unit_id", "summary", "teleexpertise", "teleconsultation",
                 "accepts_city", "accepts_ehpad", "accepts_usmp", "accepts_ght_hospitals", "min_photos",
                 "opening_hours", "how_to_request", "phone", "on_call_phone", "published"):
        setattr(line_, name, getattr(data, name))
    line_.title = " ".join(data.title.split())
    line_.specialty_code = code
    line_.requirements = list(dict.fromkeys(data.requirements))
    line_.search_text = line_search_text(line_)
    line_.updated_at = now()
    session.flush()
    repo.replace_commitments(session, line_.id, dict(data.commitments))
    repo.replace_members(session, line_.id, members)
    session.flush()
    record(session, action=action, object_type="specialty_line", object_id=str(line_.id), context=context,
           **audit_fields(actor))
    return line_views(session, [line_])[0]


def link_account(session: Session, user: UserAccount, *, professional_id: uuid.UUID | None,
                 establishment_ids: Sequence[uuid.UUID]) -> None:
    """Tie an account to its person of the directory and to the establishments it acts for (first = default)."""
    if professional_id is not None and repo.professional(session, professional_id) is None:
        raise NotFound("Professionnel introuvable.")
    found = repo.establishments_by_ids(session, establishment_ids)
    missing = [e for e in establishment_ids if e not in found]
    if missing:
        raise NotFound("Établissement introuvable.")
    user.person_id = professional_id
    repo.set_user_establishments(session, user.id, establishment_ids)
    session.flush()
