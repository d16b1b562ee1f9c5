"""The drug database's use cases: import a BDPM release (replace in one transaction), search it.

The drug database is public data (ANSM): reading it needs no care relationship and writes no audit entry; the
import is an operator's command (``maillage drugs import DIR``), which commits.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from maillage.exceptions import MaillageError, ValidationFailed
from maillage.kit.clock import now
from maillage.models.drug import (
    DrugComposition,
    DrugGenericMember,
    DrugNotice,
    DrugPresentation,
    DrugRelease,
    DrugSearchTerm,
    DrugSpeciality,
)
from maillage.prescription import bdpm, repository

DEFAULT_ERROR_THRESHOLD = 0.05
SEARCH_LIMIT = 20
MIN_QUERY_LENGTH = 2


@dataclass(frozen=True)
class ImportOutcome:
    release_id: str
    unchanged: bool
    specialities: int
    presentations: int
    compositions: int
    generics: int
    notices: int
    encoding: str
    issues: list[bdpm.LineIssue]

    @property
    def summary(self) -> str:
        if self.unchanged:
            return "Cette version de la base des médicaments est déjà la version en service : rien n'a changé."
        return (f"Base des médicaments importée ({self.encoding}) : {self.specialities} spécialités, "
                f"{self.presentations} présentations, {self.compositions} compositions, {self.generics} "
                f"appartenances à un groupe générique, {self.notices} informations importantes ; "
                f"{len(self.issues)} ligne(s) ignorée(s).")


def _percent(share: float) -> str:
    return f"{share * 100:.1f}".replace(".", ",") + "\u00a0%"


def import_release(session: Session, directory: Path, *, threshold: float = DEFAULT_ERROR_THRESHOLD,
                   on_step: Callable[[str], None] | None = None) -> ImportOutcome:
    """Replace the drug database by the release in ``directory``; flushes, the caller commits.

    Raises ``ValidationFailed`` (nothing written) when a required file is missing or when the share of bad lines
    is above ``threshold``; the details list every bad line. Importing the release already current changes nothing.
    """
    if not 0 <= threshold <= 1:
        raise ValidationFailed("Le seuil d'erreurs doit être compris entre 0 et 1 (0,05 = 5 %).")
    step = on_step or (lambda _label: None)
    step("Lecture des fichiers")
    try:
        release = bdpm.read_release(directory)
    except FileNotFoundError as exc:
        raise ValidationFailed(f"Fichier(s) BDPM absent(s) du dossier : {exc}.") from exc
    if release.error_share > threshold:
        raise ValidationFailed(
            f"{len(release.issues)} ligne(s) invalide(s) sur {release.line_count} "
            f"({_percent(release.error_share)}), au-delà du seuil de {_percent(threshold)} : rien n'a été importé.",
            details=[str(issue) for issue in release.issues])
    repository.lock_releases(session)
    current = repository.current_release(session)
    counts = dict(specialities=len(release.specialities), presentations=len(release.presentations),
                  compositions=len(release.compositions), generics=len(release.generics),
                  notices=len(release.notices))
    if current is not None and current.checksum == release.checksum:
        return ImportOutcome(str(current.id), True, encoding=release.encoding, issues=release.issues, **counts)
    step("Enregistrement")
    repository.replace_drugs(session, [
        (DrugSpeciality, release.specialities), (DrugPresentation, release.presentations),
        (DrugComposition, release.compositions), (DrugGenericMember, release.generics),
        (DrugNotice, release.notices), (DrugSearchTerm, release.terms),
    ])
    record = DrugRelease(checksum=release.checksum, encoding=release.encoding, current=True,
                         speciality_count=len(release.specialities), presentation_count=len(release.presentations),
                         skipped_line_count=len(release.issues), imported_at=now())
    repository.record_release(session, record)
    repository.refresh_statistics(session)
    return ImportOutcome(str(record.id), False, encoding=release.encoding, issues=release.issues, **counts)


@dataclass
class Presentation:
    cip13: str
    label: str
    marketed: bool
    reimbursement_rates: str


@dataclass
class DrugHit:
    """A speciality as a prescriber or a pharmacist sees it: boxes (marketed first), substances, generic group,
    notices in force."""

    cis: str
    name: str
    form: str
    marketed: bool
    enhanced_monitoring: bool
    substances: list[str] = field(default_factory=list)
    substance_codes: list[str] = field(default_factory=list)  # the active substances' codes (CIS_COMPO)
    presentations: list[Presentation] = field(default_factory=list)
    generic_group_id: str | None = None
    generic_group: str | None = None
    generic_kind: str | None = None
    notices: list[str] = field(default_factory=list)


def _query_kind(query: str) -> tuple[str, str]:
    digits = query.replace(" ", "")
    if digits.isdigit() and len(digits) in (7, 8, 13):
        return {7: "cip7", 8: "cis", 13: "cip13"}[len(digits)], digits
    return "text", bdpm.search_key(query)


def search(session: Session, query: str, *, limit: int = SEARCH_LIMIT, today: dt.date | None = None) -> list[DrugHit]:
    """Specialities whose name or substance (DCI) words start with the words of ``query`` (``clobé`` finds
    ``PROPIONATE DE CLOBÉTASOL``; ``doli 1000`` finds ``DOLIPRANE 1000 mg``), or whose CIS / CIP13 / CIP7 is
    ``query``: marketed specialities first, then by name."""
    kind, key = _query_kind(query.strip())
    if kind == "text":
        words = sorted(bdpm.search_terms(key), key=len, reverse=True)[:4]
        if len(key) < MIN_QUERY_LENGTH or not words:
            return []
        specialities = repository.specialities_by_words(session, words, limit)
    else:
        cis = key if kind == "cis" else repository.cis_of_presentation(
            session, cip13=key if kind == "cip13" else None, cip7=key if kind == "cip7" else None)
        specialities = repository.specialities_by_cis(session, [cis]) if cis else []
    return describe(session, specialities, today=today)


def describe(session: Session, specialities: list[DrugSpeciality], *, today: dt.date | None = None) -> list[DrugHit]:
    """Hits for ``specialities`` (four queries whatever their number)."""
    if not specialities:
        return []
    day = today or now().date()
    cis = [s.cis for s in specialities]
    hits = {s.cis: DrugHit(s.cis, s.name, s.form, s.marketed, s.enhanced_monitoring) for s in specialities}
    for presentation in repository.presentations_of(session, cis):
        hits[presentation.cis].presentations.append(Presentation(
            presentation.cip13, presentation.label, presentation.marketed, presentation.reimbursement_rates))
    substances: dict[str, list[str]] = defaultdict(list)
    for composition in repository.compositions_of(session, cis):
        if composition.nature == "SA" and composition.substance not in substances[composition.cis]:
            substances[composition.cis].append(composition.substance)
        if composition.substance_code and composition.substance_code not in hits[composition.cis].substance_codes:
            hits[composition.cis].substance_codes.append(composition.substance_code)
    for member in repository.generic_memberships_of(session, cis):
        hit = hits[member.cis]
        hit.generic_group_id, hit.generic_group = member.group_id, member.group_label
        hit.generic_kind = bdpm.GENERIC_KINDS.get(member.kind)
    for notice in repository.notices_of(session, cis):
        if (notice.starts_on is None or notice.starts_on <= day) and (notice.ends_on is None or notice.ends_on >= day):
            hits[notice.cis].notices.append(notice.text)
    for code, names in substances.items():
        hits[code].substances = names
    return [hits[code] for code in cis]


def substitutes(session: Session, cis: str) -> list[DrugHit]:
    """The other specialities of ``cis``'s generic group (CIS_GENER): what a pharmacist may dispense instead."""
    memberships = repository.generic_memberships_of(session, [cis])
    if not memberships:
        return []
    others = [m.cis for m in repository.generic_group(session, memberships[0].group_id) if m.cis != cis]
    found = {s.cis: s for s in repository.specialities_by_cis(session, others)}
    return describe(session, [found[c] for c in others if c in found])


def require_speciality(session: Session, cis: str) -> DrugHit:
    hits = describe(session, repository.specialities_by_cis(session, [cis]))
    if not hits:
        raise MaillageError("Ce médicament n'est pas dans la base des médicaments en service.", status_code=422)
    return hits[0]
