"""How a patient record is shown: ``PatientView`` (the INS matricule only for a qualified identity), the labels
of its traits, and the comparison forms of the strict traits. No access decision here: the views are built for
records the caller was already given by ``maillage.patient.service``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from maillage.directory import communes
from maillage.directory import service as directory
from maillage.exceptions import ValidationFailed
from maillage.kit import french
from maillage.kit.clock import today_paris
from maillage.models.directory import Professional
from maillage.models.patient import Patient
from maillage.patient.rules import (
    IdentityStatus,
    InsOid,
    Sex,
    StrictTraits,
    can_share_matricule,
    duplicate_key,
    matricule_trait_mismatches,
    normalise_name,
    validate_nir,
)
from maillage.patient.schemas import IdentityDocument

MASKED_MATRICULE = "• •• •• ••••• ••• ••"


@dataclass(frozen=True)
class PatientView:
    """A patient as pages and the API may show it: the matricule only when the identity is qualified."""

    patient: Patient
    attending: Professional | None = None
    remarks: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "patient":
            raise AttributeError(name)
        return getattr(self.patient, name)

    @property
    def status(self) -> IdentityStatus:
        return IdentityStatus(self.patient.identity_status)

    @property
    def identity_status_label(self) -> str:
        return self.status.label

    @property
    def matricule_shared(self) -> bool:
        return self.patient.ins_matricule is not None and can_share_matricule(self.status)

    @property
    def matricule(self) -> str | None:
        return self.patient.ins_matricule if self.matricule_shared else None

    @property
    def matricule_display(self) -> str | None:
        """``2 95 10 99 126 111 93`` when shareable, the masked form otherwise, None without an INS."""
        if self.patient.ins_matricule is None:
            return None
        if not self.matricule_shared:
            return MASKED_MATRICULE
        m = self.patient.ins_matricule
        return f"{m[0]} {m[1:3]} {m[3:5]} {m[5:7]} {m[7:10]} {m[10:13]} {m[13:]}"

    @property
    def ins_oid_label(self) -> str | None:
        if self.patient.ins_oid is None:
            return None
        try:
            return InsOid(self.patient.ins_oid).label
        except ValueError:
            return self.patient.ins_oid

    @property
    def ins(self) -> dict[str, Any] | None:
        if self.patient.ins_oid is None:
            return None
        return {"oid": self.patient.ins_oid, "oid_label": self.ins_oid_label,
                "system": f"urn:oid:{self.patient.ins_oid}", "matricule": self.matricule,
                "matricule_shared": self.matricule_shared,
                "matricule_masked": None if self.matricule_shared else MASKED_MATRICULE}

    @property
    def display_name(self) -> str:
        used = self.patient.used_name
        name = self.patient.birth_name.upper()
        if used and normalise_name(used) != self.patient.birth_name_norm:
            name = f"{used.upper()} ({french.agree(self.patient.sex, 'né', 'née')} {self.patient.birth_name.upper()})"
        first = self.patient.used_given_name or self.patient.given_names.split(" ")[0]
        return f"{name} {first}"

    @property
    def sex_label(self) -> str:
        return "Féminin" if self.patient.sex == "F" else "Masculin"

    @property
    def born_label(self) -> str:
        """"Née le" or "Né le", agreed with the recorded sex."""
        return "Née le" if self.patient.sex == "F" else "Né le"

    @property
    def age_label(self) -> str:
        """The age today in Paris: "3 mois" under two years, else "76 ans"."""
        return age_label(self.patient.birth_date, today_paris())

    @property
    def commune_name(self) -> str | None:
        return _commune_name(self.patient.commune_insee)

    @property
    def birthplace_label(self) -> str:
        return _birthplace_label(self.patient.birthplace)

    @property
    def attending_name(self) -> str | None:
        return directory.display_name(self.attending) if self.attending else None

    @property
    def attributes(self) -> list[str]:
        return list(self.patient.identity_attributes or [])

    @property
    def identity_document_label(self) -> str | None:
        if not self.patient.identity_document:
            return None
        try:
            return IdentityDocument(self.patient.identity_document).label
        except ValueError:
            return self.patient.identity_document


def age_label(birth: dt.date, today: dt.date) -> str:
    """A patient's age in French: whole months under two years ("1 mois", "18 mois"), else whole years."""
    months = (today.year - birth.year) * 12 + today.month - birth.month - (today.day < birth.day)
    months = max(months, 0)
    if months < 24:
        return f"{months} mois"
    return f"{months // 12} ans"


def _commune_name(code: str | None) -> str | None:
    if not code:
        return None
    try:
        return communes.get_commune(code).name
    except ValidationFailed:
        return None


def _birthplace_label(code: str) -> str:
    if code.startswith("99"):
        return f"Né·e à l'étranger (code pays {code})"
    name = _commune_name(code)
    return f"{name} ({code})" if name else code


def patient_views(session: Session, patients: Sequence[Patient], *, with_remarks: bool = False) -> list[PatientView]:
    attendings = directory.professionals_by_ids(
        session, (p.attending_professional_id for p in patients if p.attending_professional_id))
    return [PatientView(p, attendings.get(p.attending_professional_id) if p.attending_professional_id else None,
                        _remarks(p) if with_remarks else []) for p in patients]


def _remarks(p: Patient) -> list[str]:
    if p.ins_matricule is None:
        return []
    return matricule_trait_mismatches(validate_nir(p.ins_matricule), traits_of(p))


def traits_of(p: Patient) -> StrictTraits:
    return StrictTraits(p.birth_name, tuple(p.given_names.split(" ")), p.birth_date, Sex(p.sex), p.birthplace)


def key_text(traits: StrictTraits) -> str:
    return "|".join(duplicate_key(traits))
