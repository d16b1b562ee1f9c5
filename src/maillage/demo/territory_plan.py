"""The plan of a demonstration territory: what ``territory.build_territory`` returns and ``load`` writes.

Every row's identifier is a UUIDv5 of the département, the seed and a key, so the same département and seed
always give the same plan, identifiers included. Demo identifiers cannot be real ones: **FINESS** numbers are
``00`` + 6 digits + Luhn key (valid for the FINESS check, and no real number starts with ``00`` since no
département has that code); **RPPS** numbers are ``9990`` + 6 digits + Luhn key, in the ``99…`` range the ANS
uses for fictitious test professionals (DOMAIN §1.3: test card ``99700218896``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from stdnum import luhn

from maillage.directory import communes, rules
from maillage.directory.specialties import Audience, Requirement, Urgency

NAMESPACE = uuid.UUID("6f1f8a2e-3c2b-4b53-9d55-2b7e8c1a0f11")
FINESS_PREFIX = "00"
RPPS_PREFIX = "9990"


@dataclass(frozen=True)
class EstablishmentPlan:
    key: str
    kind: rules.EstablishmentKind
    name: str
    commune: communes.Commune
    latitude: float
    longitude: float
    address_line: str
    phone: str
    public: bool = False
    ght_role: rules.GhtRole | None = None
    finess_et: str | None = None
    finess_ej: str | None = None
    category_code: str | None = None
    parent_key: str | None = None
    units: tuple[tuple[str, str | None], ...] = ()  # (name, TRE_R38 code)


@dataclass(frozen=True)
class ProfessionalPlan:
    key: str
    rpps: str
    civility: str
    last_name: str
    first_name: str
    profession_code: str
    specialty_code: str | None
    establishment_key: str
    unit: str | None
    function_label: str
    practice_mode: str


@dataclass(frozen=True)
class LinePlan:
    key: str
    specialty_code: str
    title: str
    summary: str
    unit: str
    teleexpertise: bool
    teleconsultation: bool
    audiences: frozenset[Audience]
    requirements: tuple[Requirement, ...]
    min_photos: int
    opening_hours: str
    commitments: dict[Urgency, int]
    answering: tuple[str, ...]
    backups: tuple[str, ...]


@dataclass(frozen=True)
class AccountPlan:
    username: str
    professional_key: str | None
    establishment_keys: tuple[str, ...]


@dataclass(frozen=True)
class TerritoryPlan:
    departement: communes.Departement
    seed: int
    ght_code: str
    ght_name: str
    establishments: list[EstablishmentPlan]
    professionals: list[ProfessionalPlan]
    lines: list[LinePlan]
    accounts: list[AccountPlan]
    gp_keys: list[str] = field(default_factory=list)
    prisons_found: int = 0
    notes: list[str] = field(default_factory=list)

    def id_for(self, key: str) -> uuid.UUID:
        return stable_id(self.departement.code, self.seed, key)

    def establishment(self, key: str) -> EstablishmentPlan:
        return next(e for e in self.establishments if e.key == key)

    def professional(self, key: str) -> ProfessionalPlan:
        return next(p for p in self.professionals if p.key == key)


def stable_id(departement: str, seed: int, key: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{departement}:{seed}:{key}")


# --- Identifiers -------------------------------------------------------------------------------------------


def demo_finess(n: int) -> str:
    """The n-th demo FINESS: ``00`` + 6 digits + Luhn key (valid, and outside every real département prefix)."""
    body = f"{FINESS_PREFIX}{n:06d}"
    return body + luhn.calc_check_digit(body)


def demo_rpps(n: int) -> str:
    """The n-th demo RPPS: ``9990`` + 6 digits + Luhn key, in the range of the ANS fictitious professionals."""
    body = f"{RPPS_PREFIX}{n:06d}"
    return body + luhn.calc_check_digit(body)
