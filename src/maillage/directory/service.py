"""Reading the directory: search and show establishments, professionals and specialty lines, with their labels.

The directory holds no patient data: reading it needs the ``directory.read`` permission (checked at the route).
Changing it is ``admin_service``; importing the national extracts is ``import_service``. Other capabilities read
the directory through this module (who a professional is, which account is theirs).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from maillage.directory import repository as repo
from maillage.directory import rules
from maillage.directory.specialties import (
    AVAILABLE_MODALITIES,
    SPECIALTY_SYSTEM,
    Audience,
    Modality,
    Requirement,
    Urgency,
    format_delay,
    profession_label,
    specialty_label,
)
from maillage.exceptions import NotFound
from maillage.models.directory import CareUnit, Establishment, Ght, Professional, ProfessionalRole, SpecialtyLine

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
        """The modalities the pages name: only those Maillage runs (``AVAILABLE_MODALITIES``)."""
        return [m.label for m in AVAILABLE_MODALITIES if m.value in self.modalities]

    @property
    def audiences(self) -> list[str]:
        flags = {Audience.CITY: self.line.accepts_city, Audience.EHPAD: self.line.accepts_ehpad,
                 Audience.USMP: self.line.accepts_usmp, Audience.GHT_HOSPITALS: self.line.accepts_ght_hospitals}
        return [a.value for a, on in flags.items() if on]

    @property
    def audience_labels(self) -> list[str]:
        return [Audience.label_of(a) for a in self.audiences]

    @property
    def requirement_labels(self) -> list[str]:
        labels = []
        for code in self.line.requirements or []:
            label = Requirement.label_of(code)
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


def line_views(session: Session, lines: Sequence[SpecialtyLine]) -> list[LineView]:
    """The views of these lines, their establishments, units, delays and members loaded in a few queries."""
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
        rules.check_kind(kind)
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
        lines=line_views(session, lines), ght=session.get(Ght, e.ght_id) if e.ght_id else None,
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
    views_by_id = {v.id: v for v in line_views(session, [line_ for line_, _ in answered])}
    return ProfessionalView(
        professional=p,
        roles=[RoleView(r, establishments.get(r.establishment_id) if r.establishment_id else None,
                        units.get(r.care_unit_id) if r.care_unit_id else None) for r in roles],
        lines=[(views_by_id[line_.id], role) for line_, role in answered],
    )


def search_lines(session: Session, *, query: str = "", specialty_code: str | None = None,
                 audience: str | None = None, modality: str | None = None, published_only: bool = False,
                 professional_id: uuid.UUID | None = None, limit: int = 100, offset: int = 0) -> list[LineView]:
    if audience:
        rules.check_choice(audience, [a.value for a in Audience], "pour", "Public")
    if modality:
        rules.check_choice(modality, [m.value for m in Modality], "modalite", "Modalité")
    lines = repo.search_lines(session, query=query, specialty_code=specialty_code or None, audience=audience or None,
                              modality=modality or None, published_only=published_only,
                              professional_id=professional_id, limit=limit, offset=offset)
    return line_views(session, lines)


def get_line(session: Session, line_id: uuid.UUID, *, published_only: bool = False) -> LineView:
    line_ = repo.line(session, line_id)
    if line_ is None or not line_.active or (published_only and not line_.published):
        raise NotFound("Ligne de spécialité introuvable.")
    return line_views(session, [line_])[0]


def ghts(session: Session) -> list[Ght]:
    return list(repo.ghts(session))


def professional_of_user(session: Session, user_id: uuid.UUID) -> Professional | None:
    return repo.professional_of_user(session, user_id)


def professionals_of_users(session: Session, user_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Professional]:
    """The directory entries of accounts, one query (an account without one is left out)."""
    return repo.professionals_of_users(session, user_ids)


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
