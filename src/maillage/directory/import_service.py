"""Importing the national extracts (RPPS ``PS_LibreAcces``, FINESS etalab) into the directory.

The parsers (``rpps_extract``, ``finess_extract``) check every line; here the accepted rows are upserted by
their national identifier. Importing needs ``directory.admin`` and is audited. An import is one unit of work,
committed (or not) by its caller: services flush and never commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from maillage.audit.service import record
from maillage.directory import communes, finess_extract, imports, rpps_extract, rules
from maillage.directory import repository as repo
from maillage.directory.admin_service import audit_fields, require_admin
from maillage.directory.service import establishment_search_text, professional_search_text
from maillage.directory.specialties import profession_label, specialty_label
from maillage.exceptions import ValidationFailed
from maillage.kit.clock import now
from maillage.kit.logging import get_logger
from maillage.models.directory import Establishment, Professional, ProfessionalRole
from maillage.security.actor import Actor
from maillage.security.context import AuditContext

log = get_logger("maillage.directory")
Progress = Callable[[int, int], None]  # (rows just written, rows to write)


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
    require_admin(actor)
    report = rpps_extract.parse_rpps(lines)
    report.raise_unless_accepted(threshold)
    outcome = ImportOutcome(report)
    by_person: dict[str, list[rpps_extract.RppsActivity]] = {}
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
        pending_roles: list[tuple[Professional, list[rpps_extract.RppsActivity]]] = []
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
                    "updated": outcome.updated, "unchanged": outcome.unchanged}, **audit_fields(actor))
    log.info("directory.import_rpps", valid=report.valid_count, invalid=report.invalid_count,
             created=outcome.created, updated=outcome.updated)
    return outcome


def _activity_key(row: rpps_extract.RppsActivity) -> str:
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
    require_admin(actor)
    report = finess_extract.parse_finess(lines)
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
           **audit_fields(actor))
    log.info("directory.import_finess", valid=report.valid_count, invalid=report.invalid_count,
             created=outcome.created, updated=outcome.updated, ignored=outcome.ignored)
    return outcome


IMPORTERS: dict[str, Callable[..., ImportOutcome]] = {"rpps": import_rpps, "finess": import_finess}


def run_import(session: Session, kind: str, lines: Iterable[str | bytes], **kwargs: Any) -> ImportOutcome:
    rules.check_choice(kind, list(IMPORTERS), "kind", "Type de fichier")
    return IMPORTERS[kind](session, lines, **kwargs)

