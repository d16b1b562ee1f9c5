"""Use cases of the directory: search and read the territory, maintain it, import the national extracts.

The directory holds no patient data: reading it needs the ``directory.read`` permission (checked at the route),
changing it ``directory.admin`` (checked here too, so a script cannot bypass it). Every change by a person is
audited. Services flush and never commit: an import is one unit of work, committed (or not) by its caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.directory import communes, imports, rules
from maillage.directory import repository as repo
from maillage.directory.specialties import (
    AUDIENCE_LABELS,
    PROFESSION_LABELS,
    REQUIREMENT_LABELS,
    SPECIALTY_SYSTEM,
    Audience,
    Modality,
    Requirement,
    Urgency,
    format_delay,
    profession_label,
    specialty_label,
)
from maillage.exceptions import NotFound, PermissionDenied, ValidationFailed
from maillage.kit.clock import now
from maillage.kit.logging import get_logger
from maillage.models.auth import UserAccount
from maillage.models.directory import (
    CareUnit,
    Establishment,
    Ght,
    Professional,
    ProfessionalRole,
    SpecialtyLine,
)
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows

log = get_logger("maillage.directory")
Progress = Callable[[int, int], None]  # (rows just written, rows to write)


# --- Labels ------------------------------------------------------------------------------------------------


def kind_label(kind: str) -> str:
    try:
        return rules.EstablishmentKind(kind).label
    except ValueError:
        return kind


def ght_role_label(role: str | None) -> str | None:
    if role is None:
        return None
    try:
        return rules.GhtRole(role).label
    except ValueError:
        return role


def display_name(p: Professional) -> str:
    """How a professional is named in pages: ``Dr Claire MARTIN`` for physicians, ``Léa GARNIER`` otherwise."""
    prefix = "Dr " if p.profession_code == "10" or (p.civility or "").upper() in ("DR", "PR") else ""
    if (p.civility or "").upper() == "PR":
        prefix = "Pr "
    return f"{prefix}{p.first_name + ' ' if p.first_name else ''}{p.last_name}".strip()


def establishment_search_text(e: Establishment) -> str:
    return repo.search_form(e.name, e.commune_name, e.finess_et, kind_label(e.kind))[:400]


def professional_search_text(p: Professional) -> str:
    return repo.search_form(p.last_name, p.first_name, p.specialty_label or specialty_label(p.specialty_code),
                            p.profession_label or profession_label(p.profession_code))[:300]


def line_search_text(line: SpecialtyLine) -> str:
    return repo.search_form(line.title, specialty_label(line.specialty_code), line.specialty_code, line.summary)[:600]


# --- Views ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitmentView:
    urgency: str
    response_minutes: int

    @property
    def urgency_label(self) -> str:
        try:
            return Urgency(self.urgency).label
        except ValueError:
            return self.urgency

    @property
    def response_label(self) -> str:
        return format_delay(self.response_minutes)


@dataclass(frozen=True)
class MemberView:
    professional_id: uuid.UUID
    display_name: str
    role: str
    specialty_label: str | None = None

    @property
    def role_label(self) -> str:
        return "Astreinte (recours)" if self.role == "backup" else "Répond aux demandes"


@dataclass(frozen=True)
class LineView:
    """A specialty line with what pages and the API show of it."""

    line: SpecialtyLine
    establishment: Establishment
    care_unit: CareUnit | None
    commitments: list[CommitmentView]
    members: list[MemberView]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "line":
            raise AttributeError(name)
        return getattr(self.line, name)

    @property
    def id(self) -> uuid.UUID:
        return self.line.id

    @property
    def specialty_label(self) -> str:
        return specialty_label(self.line.specialty_code)

    @property
    def specialty_system(self) -> str:
        return SPECIALTY_SYSTEM

    @property
    def establishment_name(self) -> str:
        return self.establishment.name

    @property
    def commune_name(self) -> str | None:
        return self.establishment.commune_name

    @property
    def care_unit_name(self) -> str | None:
        return self.care_unit.name if self.care_unit else None

    @property
    def modalities(self) -> list[str]:
        out = []
        if self.line.teleexpertise:
            out.append(Modality.TELEEXPERTISE.value)
        if self.line.teleconsultation:
            out.append(Modality.TELECONSULTATION.value)
        return out

    @property
    def modality_labels(self) -> list[str]:
        return [Modality(m).label for m in self.modalities]

    @property
    def audiences(self) -> list[str]:
        flags = {Audience.CITY: self.line.accepts_city, Audience.EHPAD: self.line.accepts_ehpad,
                 Audience.USMP: self.line.accepts_usmp, Audience.GHT_HOSPITALS: self.line.accepts_ght_hospitals}
        return [a.value for a, on in flags.items() if on]

    @property
    def audience_labels(self) -> list[str]:
        return [AUDIENCE_LABELS[Audience(a)] for a in self.audiences]

    @property
    def requirement_labels(self) -> list[str]:
        labels = []
        for code in self.line.requirements or []:
            try:
                label = REQUIREMENT_LABELS[Requirement(code)]
            except ValueError:
                label = code
            if code == Requirement.PHOTO and self.line.min_photos:
                label = f"{label} : au moins {self.line.min_photos}"
            labels.append(label)
        return labels

    @property
    def answering(self) -> list[MemberView]:
        return [m for m in self.members if m.role == "answering"]

    @property
    def backups(self) -> list[MemberView]:
        return [m for m in self.members if m.role == "backup"]


def _line_views(session: Session, lines: Sequence[SpecialtyLine]) -> list[LineView]:
    if not lines:
        return []
    ids = [line_.id for line_ in lines]
    establishments = repo.establishments_by_ids(session, (line_.establishment_id for line_ in lines))
    units = repo.care_units_by_ids(session, (line_.care_unit_id for line_ in lines if line_.care_unit_id))
    commitments = repo.commitments_of(session, ids)
    members = repo.members_of(session, ids)
    views = []
    for line_ in lines:
        views.append(LineView(
            line=line_, establishment=establishments[line_.establishment_id],
            care_unit=units.get(line_.care_unit_id) if line_.care_unit_id else None,
            commitments=[CommitmentView(c.urgency, c.response_minutes) for c in commitments[line_.id]],
            members=[MemberView(p.id, display_name(p), m.role, p.specialty_label or specialty_label(p.specialty_code))
                     for m, p in members[line_.id]],
        ))
    return views


@dataclass(frozen=True)
class RoleView:
    role: ProfessionalRole
    establishment: Establishment | None
    care_unit: CareUnit | None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "role":
            raise AttributeError(name)
        return getattr(self.role, name)

    @property
    def establishment_name(self) -> str | None:
        return self.establishment.name if self.establishment else self.role.site_name

    @property
    def care_unit_name(self) -> str | None:
        return self.care_unit.name if self.care_unit else None


@dataclass(frozen=True)
class ProfessionalView:
    professional: Professional
    roles: list[RoleView]
    lines: list[tuple[LineView, str]]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "professional":
            raise AttributeError(name)
        return getattr(self.professional, name)

    @property
    def display_name(self) -> str:
        return display_name(self.professional)

    @property
    def profession_label(self) -> str:
        return profession_label(self.professional.profession_code, self.professional.profession_label)

    @property
    def specialty_label(self) -> str | None:
        if not self.professional.specialty_code:
            return None
        return specialty_label(self.professional.specialty_code, self.professional.specialty_label)

    @property
    def line_ids(self) -> list[uuid.UUID]:
        return [v.id for v, _ in self.lines]


@dataclass(frozen=True)
class EstablishmentView:
    establishment: Establishment
    units: list[CareUnit] = field(default_factory=list)
    parent: Establishment | None = None
    children: list[Establishment] = field(default_factory=list)
    staff: list[tuple[Professional, ProfessionalRole]] = field(default_factory=list)
    lines: list[LineView] = field(default_factory=list)
    ght: Ght | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "establishment":
            raise AttributeError(name)
        return getattr(self.establishment, name)

    @property
    def kind_label(self) -> str:
        return kind_label(self.establishment.kind)

    @property
    def ght_role_label(self) -> str | None:
        return ght_role_label(self.establishment.ght_role)


# --- Reading ----------------------------------------------------------------------------------------------


def search_establishments(session: Session, *, query: str = "", kind: str | None = None,
                          commune_insee: str | None = None, limit: int = 50, offset: int = 0) -> list[Establishment]:
    if kind:
        _check_kind(kind)
    return list(repo.search_establishments(session, query=query, kind=kind or None,
                                           commune_insee=commune_insee or None, limit=limit, offset=offset))


def get_establishment(session: Session, establishment_id: uuid.UUID) -> EstablishmentView:
    e = repo.establishment(session, establishment_id)
    if e is None:
        raise NotFound("Établissement introuvable.")
    lines = repo.search_lines(session, establishment_id=e.id)
    return EstablishmentView(
        establishment=e, units=list(repo.units_of(session, e.id)),
        parent=repo.establishment(session, e.parent_id) if e.parent_id else None,
        children=list(repo.child_establishments(session, e.id)), staff=list(repo.staff_of(session, e.id)),
        lines=_line_views(session, lines), ght=session.get(Ght, e.ght_id) if e.ght_id else None,
    )


def search_professionals(session: Session, *, query: str = "", specialty_code: str | None = None,
                         profession_code: str | None = None, establishment_id: uuid.UUID | None = None,
                         limit: int = 50, offset: int = 0) -> list[Professional]:
    return list(repo.search_professionals(session, query=query, specialty_code=specialty_code or None,
                                          profession_code=profession_code or None,
                                          establishment_id=establishment_id, limit=limit, offset=offset))


def get_professional(session: Session, professional_id: uuid.UUID) -> ProfessionalView:
    p = repo.professional(session, professional_id)
    if p is None:
        raise NotFound("Professionnel introuvable.")
    roles = list(repo.roles_of_professional(session, p.id))
    establishments = repo.establishments_by_ids(session, (r.establishment_id for r in roles if r.establishment_id))
    units = repo.care_units_by_ids(session, (r.care_unit_id for r in roles if r.care_unit_id))
    answered = list(repo.lines_answered_by(session, p.id))
    line_views = {v.id: v for v in _line_views(session, [line_ for line_, _ in answered])}
    return ProfessionalView(
        professional=p,
        roles=[RoleView(r, establishments.get(r.establishment_id) if r.establishment_id else None,
                        units.get(r.care_unit_id) if r.care_unit_id else None) for r in roles],
        lines=[(line_views[line_.id], role) for line_, role in answered],
    )


def search_lines(session: Session, *, query: str = "", specialty_code: str | None = None,
                 audience: str | None = None, modality: str | None = None, published_only: bool = False,
                 professional_id: uuid.UUID | None = None, limit: int = 100, offset: int = 0) -> list[LineView]:
    if audience:
        _check_choice(audience, [a.value for a in Audience], "pour", "Public")
    if modality:
        _check_choice(modality, [m.value for m in Modality], "modalite", "Modalité")
    lines = repo.search_lines(session, query=query, specialty_code=specialty_code or None, audience=audience or None,
                              modality=modality or None, published_only=published_only,
                              professional_id=professional_id, limit=limit, offset=offset)
    return _line_views(session, lines)


def get_line(session: Session, line_id: uuid.UUID, *, published_only: bool = False) -> LineView:
    line_ = repo.line(session, line_id)
    if line_ is None or not line_.active or (published_only and not line_.published):
        raise NotFound("Ligne de spécialité introuvable.")
    return _line_views(session, [line_])[0]


def ghts(session: Session) -> list[Ght]:
    return list(repo.ghts(session))


def professional_of_user(session: Session, user_id: uuid.UUID) -> Professional | None:
    return repo.professional_of_user(session, user_id)


def professionals_by_ids(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Professional]:
    return repo.professionals_by_ids(session, ids)


def user_ids_of_professionals(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """The accounts of these professionals (for workflows that route work to a line's members)."""
    return repo.user_ids_of_professionals(session, ids)


def find_professional_by_rpps(session: Session, rpps: str) -> Professional:
    number = rules.validate_rpps(rpps, field="rpps").value
    found = repo.professional_by_rpps(session, number)
    if found is None:
        raise NotFound(f"Aucun professionnel de l'annuaire n'a le RPPS {number}.")
    return found


def territory_counts(session: Session) -> dict[str, int]:
    return repo.count_establishments_by_kind(session)


# --- Changing the directory (administrators) ----------------------------------------------------------------


def _require_admin(actor: Actor | None) -> None:
    if actor is not None and not role_allows(actor.role, Permission.DIRECTORY_ADMIN):
        raise PermissionDenied("Seule l'administration tient l'annuaire à jour.")


def _audit_fields(actor: Actor | None) -> dict[str, Any]:
    if actor is None:
        return {"actor_id": None, "actor_role": "cli", "establishment_id": None}
    return actor.audit_fields


def _check_choice(value: str, allowed: Sequence[str], field_name: str, label: str) -> str:
    if value not in allowed:
        message = f"{label} : « {value} » n'est pas une valeur permise ({', '.join(allowed)})."
        raise ValidationFailed(message, details=[{"field": field_name, "message": message}])
    return value


def _check_kind(kind: str) -> rules.EstablishmentKind:
    _check_choice(kind, [k.value for k in rules.EstablishmentKind], "kind", "Type d'établissement")
    return rules.EstablishmentKind(kind)


def _commune(code: str | None) -> communes.Commune | None:
    if not code:
        return None
    return communes.get_commune(rules.validate_insee_commune_code(code))


def create_establishment(session: Session, actor: Actor | None, data: Any,
                         context: AuditContext | None = None) -> Establishment:
    """Add an establishment (FINESS checked, GHT role allowed for its kind and status, commune known)."""
    _require_admin(actor)
    kind = _check_kind(data.kind)
    finess_et = rules.validate_finess(data.finess_et, field="finess_et", label="FINESS ET") if data.finess_et else None
    finess_ej = rules.validate_finess(data.finess_ej, field="finess_ej", label="FINESS EJ") if data.finess_ej else None
    role = None
    if data.ght_role:
        _check_choice(data.ght_role, [r.value for r in rules.GhtRole], "ght_role", "Rôle GHT")
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
           **_audit_fields(actor))
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
    _require_admin(actor)
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
           details={"warnings": len(pid.warnings)}, **_audit_fields(actor))
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
    _require_admin(actor)
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
           **_audit_fields(actor))
    return _line_views(session, [line_])[0]


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


# --- Imports of the national extracts ---------------------------------------------------------------------


@dataclass
class ImportOutcome:
    """What an import did: the parser's report and the counts of rows created, updated, left unchanged."""

    report: imports.ImportReport[Any]
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored: int = 0

    @property
    def summary(self) -> str:
        return (f"{self.report.summary()} Enregistrement : {self.created} créé(s), {self.updated} mis à jour, "
                f"{self.unchanged} inchangé(s), {self.ignored} hors du champ de l'annuaire.")


def _apply(obj: Any, values: dict[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def import_rpps(session: Session, lines: Iterable[str | bytes], *, threshold: float = imports.DEFAULT_ERROR_THRESHOLD,
                actor: Actor | None = None, progress: Progress | None = None,
                context: AuditContext | None = None) -> ImportOutcome:
    """Import a ``PS_LibreAcces_Personne_activite`` extract: professionals upserted by their national identifier,
    one role per activity site (linked to the establishment when its FINESS is in the directory).

    Nothing is written when the file is refused (``ValidationFailed`` listing the lines); otherwise the whole file
    is written in the caller's transaction. Re-importing the same file changes nothing. Activities absent from a
    later file are kept: an extract may cover one département only.
    """
    _require_admin(actor)
    report = imports.parse_rpps(lines)
    report.raise_unless_accepted(threshold)
    outcome = ImportOutcome(report)
    by_person: dict[str, list[imports.RppsActivity]] = {}
    for row in report.rows:
        by_person.setdefault(row.national_id, []).append(row)
    people = list(by_person.items())
    for start in range(0, len(people), repo.CHUNK):
        batch = people[start:start + repo.CHUNK]
        existing = repo.professionals_by_national_id(session, [nid for nid, _ in batch])
        sites = repo.establishments_by_finess(session, [r.finess_site for _, rows in batch for r in rows
                                                        if r.finess_site])
        legal = repo.establishments_of_legal_entity(session, [r.finess_legal for _, rows in batch for r in rows
                                                              if r.finess_legal and not r.finess_site])
        pending_roles: list[tuple[Professional, list[imports.RppsActivity]]] = []
        for national_id, rows in batch:
            first = rows[0]
            specialty = next((r for r in rows if (r.skill_type_code or "").upper() == "S" and r.skill_code), None)
            pid = rules.validate_professional_id(first.id_type.value, first.identifier)
            values: dict[str, Any] = {
                "rpps": first.identifier if first.id_type is rules.ProfessionalIdType.RPPS else None,
                "adeli": first.identifier if first.id_type is rules.ProfessionalIdType.ADELI else None,
                "identifier_warnings": list(pid.warnings),
                "civility": first.exercise_civility_code or first.civility_code,
                "last_name": first.last_name.upper(), "first_name": first.first_name,
                "profession_code": first.profession_code,
                "profession_label": first.profession_label or profession_label(first.profession_code),
                "specialty_code": specialty.skill_code.upper() if specialty and specialty.skill_code else None,
                "specialty_label": (specialty_label(specialty.skill_code, specialty.skill_label)
                                    if specialty and specialty.skill_code else None),
                "source": "rpps", "active": True,
            }
            p = existing.get(national_id)
            if p is None:
                p = Professional(national_id=national_id, **values)
                p.search_text = professional_search_text(p)
                session.add(p)
                outcome.created += 1
            else:
                changed = _apply(p, values)
                text = professional_search_text(p)
                changed = _apply(p, {"search_text": text}) or changed
                if changed:
                    p.updated_at = now()
                    outcome.updated += 1
                else:
                    outcome.unchanged += 1
            pending_roles.append((p, rows))
        session.flush()
        roles = repo.roles_by_professional_ids(session, [p.id for p, _ in pending_roles])
        for p, rows in pending_roles:
            mine = roles.get(p.id, {})
            for index, row in enumerate(rows):
                site = sites.get(row.finess_site) if row.finess_site else None
                site = site or (legal.get(row.finess_legal) if row.finess_legal else None)
                key = _activity_key(row)
                values = {
                    "establishment_id": site.id if site else None, "function_label": row.practice_mode_label,
                    "practice_mode": row.practice_mode_code if row.practice_mode_code in ("L", "S", "B") else None,
                    "site_name": (row.site_name or row.brand or (site.name if site else None)),
                    "site_commune_insee": row.commune_code, "site_finess": row.finess_site,
                    "is_primary": index == 0,
                }
                role = mine.get(key)
                if role is None:
                    role = ProfessionalRole(professional_id=p.id, activity_key=key, **values)
                    session.add(role)
                    mine[key] = role
                elif _apply(role, values):
                    role.updated_at = now()
            if progress is not None:
                progress(len(rows), len(report.rows))
        session.flush()
    record(session, action="import", object_type="directory_rpps", context=context,
           details={"valid": report.valid_count, "invalid": report.invalid_count, "created": outcome.created,
                    "updated": outcome.updated, "unchanged": outcome.unchanged}, **_audit_fields(actor))
    log.info("directory.import_rpps", valid=report.valid_count, invalid=report.invalid_count,
             created=outcome.created, updated=outcome.updated)
    return outcome


def _activity_key(row: imports.RppsActivity) -> str:
    if row.finess_site:
        key = f"finess:{row.finess_site}"
    elif row.structure_id:
        key = f"structure:{row.structure_id}"
    elif row.siret:
        key = f"siret:{row.siret}"
    else:
        key = f"site:{repo.search_form(row.site_name)}|{row.commune_code or ''}|{row.practice_mode_code or ''}"
    return key[:160]


# FINESS geolocation: the projection the extract's source string names (EPSG codes of the official French
# projections: Lambert-93 in mainland France and Corsica, UTM of the RGAF09/RGFG95/RGR92/RGM04 frames overseas).
PROJECTIONS = {"LAMBERT_93": "EPSG:2154", "UTM_N20": "EPSG:5490", "UTM_N22": "EPSG:2972", "UTM_S40": "EPSG:2975",
               "UTM_S38": "EPSG:4471"}


@cache
def _transformer(crs: str) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


def to_wgs84(x: float, y: float, source: str | None) -> tuple[float, float] | None:
    """(latitude, longitude) of a FINESS geolocation, or None when its projection is not one Maillage knows."""
    tokens = (source or "").upper().replace(" ", "").split(",")
    crs = next((PROJECTIONS[t] for t in tokens if t in PROJECTIONS), None)
    if crs is None:
        return None
    lon, lat = _transformer(crs).transform(x, y)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return round(float(lat), 6), round(float(lon), 6)


def import_finess(session: Session, lines: Iterable[str | bytes], *,
                  threshold: float = imports.DEFAULT_ERROR_THRESHOLD, actor: Actor | None = None,
                  progress: Progress | None = None, context: AuditContext | None = None) -> ImportOutcome:
    """Import an etalab FINESS establishments extract: establishments of the kinds Maillage knows (hospitals,
    EHPAD, health centres, health homes, pharmacies) upserted by FINESS ET, with WGS 84 coordinates from the
    geolocation lines (the commune's point otherwise). Other categories are counted as ignored.

    Nothing is written when the file is refused; GHT membership is left to the administrator.
    """
    _require_admin(actor)
    report = imports.parse_finess(lines)
    report.raise_unless_accepted(threshold)
    outcome = ImportOutcome(report)
    geolocations = {g.finess_et: g for g in report.geolocations}
    wanted = [row for row in report.rows if row.kind is not None]
    outcome.ignored = len(report.rows) - len(wanted)
    for start in range(0, len(wanted), repo.CHUNK):
        batch = wanted[start:start + repo.CHUNK]
        existing = repo.establishments_by_finess(session, [row.finess_et for row in batch])
        for row in batch:
            kind = row.kind
            assert kind is not None
            commune = None
            if row.commune_insee:
                try:
                    commune = communes.get_commune(row.commune_insee)
                except ValidationFailed:
                    commune = None
            point = None
            geo = geolocations.get(row.finess_et)
            if geo is not None:
                point = to_wgs84(geo.x, geo.y, geo.source)
            if point is None and commune is not None:
                point = (commune.latitude, commune.longitude)
            address = " ".join(p for p in (row.street_number, row.street_type, row.street) if p) or None
            values: dict[str, Any] = {
                "name": row.long_name or row.short_name, "kind": kind.value, "finess_ej": row.finess_ej,
                "siret": row.siret, "category_code": row.category_code,
                "public": row.public_health_establishment, "address_line": address, "postcode": row.postcode,
                "commune_insee": row.commune_insee, "commune_name": commune.name if commune else row.routing_line,
                "latitude": point[0] if point else None, "longitude": point[1] if point else None,
                "phone": row.phone, "source": "finess", "active": True,
            }
            e = existing.get(row.finess_et)
            if e is None:
                e = Establishment(finess_et=row.finess_et, **values)
                e.search_text = establishment_search_text(e)
                session.add(e)
                outcome.created += 1
            else:
                changed = _apply(e, values)
                changed = _apply(e, {"search_text": establishment_search_text(e)}) or changed
                if changed:
                    e.updated_at = now()
                    outcome.updated += 1
                else:
                    outcome.unchanged += 1
            if progress is not None:
                progress(1, len(wanted))
        session.flush()
    record(session, action="import", object_type="directory_finess", context=context,
           details={"valid": report.valid_count, "invalid": report.invalid_count, "created": outcome.created,
                    "updated": outcome.updated, "unchanged": outcome.unchanged, "ignored": outcome.ignored},
           **_audit_fields(actor))
    log.info("directory.import_finess", valid=report.valid_count, invalid=report.invalid_count,
             created=outcome.created, updated=outcome.updated, ignored=outcome.ignored)
    return outcome


IMPORTERS: dict[str, Callable[..., ImportOutcome]] = {"rpps": import_rpps, "finess": import_finess}


def run_import(session: Session, kind: str, lines: Iterable[str | bytes], **kwargs: Any) -> ImportOutcome:
    _check_choice(kind, list(IMPORTERS), "kind", "Type de fichier")
    return IMPORTERS[kind](session, lines, **kwargs)


def check_threshold(threshold: float) -> float:
    return imports.check_threshold(threshold)


def lines_for(session: Session, establishment: Establishment) -> list[LineView]:
    return _line_views(session, repo.search_lines(session, establishment_id=establishment.id))

