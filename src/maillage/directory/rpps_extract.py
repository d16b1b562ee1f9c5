"""Parser of the RPPS extract ``PS_LibreAcces_Personne_activite``, with per-row validation.

**RPPS — ``PS_LibreAcces_Personne_activite``** (Annuaire Santé public extraction, one line per professional
activity). Pipe-separated, first line a header of French column names, every line closed by a trailing ``|``.
The column names implemented are those of the public file, 52 columns from ``Type d'identifiant PP`` to
``Libellé section tableau pharmaciens`` (header reproduced in the sample of the public extract kept in
github.com/cyrilvincent/skema ``data/ps_libreacces/PS_LibreAcces_Personne_activite_small.txt``, the source
DOMAIN §1.3 and §5.4 cite). Columns are found by name, so an added or moved column does not break the import;
the columns this module reads must be present. The current extract is UTF-8.

The parser returns an ``ImportReport`` of ``RppsActivity`` rows (``imports``: the report and the import decision).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from maillage.directory import rules
from maillage.directory.imports import (
    DEFAULT_MAX_KEPT_ISSUES,
    ImportReport,
    RowErrors,
    ValueCache,
    decode_lines,
    optional,
    settle,
)

RPPS_COLUMNS = {
    "id_type": "Type d'identifiant PP",
    "identifier": "Identifiant PP",
    "national_id": "Identification nationale PP",
    "exercise_civility_code": "Code civilité d'exercice",
    "civility_code": "Code civilité",
    "last_name": "Nom d'exercice",
    "first_name": "Prénom d'exercice",
    "profession_code": "Code profession",
    "profession_label": "Libellé profession",
    "category_code": "Code catégorie professionnelle",
    "skill_type_code": "Code type savoir-faire",
    "skill_code": "Code savoir-faire",
    "skill_label": "Libellé savoir-faire",
    "practice_mode_code": "Code mode exercice",
    "practice_mode_label": "Libellé mode exercice",
    "siret": "Numéro SIRET site",
    "siren": "Numéro SIREN site",
    "finess_site": "Numéro FINESS site",
    "finess_legal": "Numéro FINESS établissement juridique",
    "structure_id": "Identifiant technique de la structure",
    "site_name": "Raison sociale site",
    "brand": "Enseigne commerciale site",
    "street_number": "Numéro Voie (coord. structure)",
    "street_type": "Libellé type de voie (coord. structure)",
    "street": "Libellé Voie (coord. structure)",
    "postcode": "Code postal (coord. structure)",
    "commune_code": "Code commune (coord. structure)",
    "commune_label": "Libellé commune (coord. structure)",
    "phone": "Téléphone (coord. structure)",
    "email": "Adresse e-mail (coord. structure)",
    "department_code": "Code Département (structure)",
    "sector_code": "Code secteur d'activité",
    "sector_label": "Libellé secteur d'activité",
}


@dataclass(frozen=True, slots=True)
class RppsActivity:
    """One line of the RPPS extract: a professional and one of their activities (a site where they work)."""

    id_type: rules.ProfessionalIdType
    identifier: str
    national_id: str
    last_name: str
    first_name: str | None
    civility_code: str | None
    exercise_civility_code: str | None
    profession_code: str
    profession_label: str | None
    category_code: str | None
    skill_type_code: str | None
    skill_code: str | None
    skill_label: str | None
    practice_mode_code: str | None
    practice_mode_label: str | None
    siret: str | None
    siren: str | None
    finess_site: str | None
    finess_legal: str | None
    structure_id: str | None
    site_name: str | None
    brand: str | None
    street_number: str | None
    street_type: str | None
    street: str | None
    postcode: str | None
    commune_code: str | None
    commune_label: str | None
    phone: str | None
    email: str | None
    department_code: str | None
    sector_code: str | None
    sector_label: str | None


def parse_rpps(
    lines: Iterable[str | bytes], *, max_kept_issues: int = DEFAULT_MAX_KEPT_ISSUES
) -> ImportReport[RppsActivity]:
    """Parse and validate a ``PS_LibreAcces_Personne_activite`` extract (layout in the module docstring)."""
    report: ImportReport[RppsActivity] = ImportReport(source="RPPS", max_kept_issues=max_kept_issues)
    stream = decode_lines(lines)
    header_line = next(stream, None)
    if header_line is None:
        report.add_file_error(1, "en-tête", "le fichier est vide.")
        return report
    report.lines_read = 1
    header = header_line.split("|")
    if header and header[-1] == "":
        header = header[:-1]
    index = {name.strip(): position for position, name in enumerate(header)}
    missing = [name for name in RPPS_COLUMNS.values() if name not in index]
    if missing:
        report.add_file_error(
            1, "en-tête", f"colonne(s) absente(s) de l'en-tête : {', '.join(missing)} (extrait PS_LibreAcces attendu)."
        )
        return report
    positions = {key: index[name] for key, name in RPPS_COLUMNS.items()}
    width = len(header)
    cache: ValueCache = {}

    for line_no, text in enumerate(stream, start=2):
        report.lines_read = line_no
        if not text.strip():
            report.skipped_count += 1
            continue
        values = text.split("|")
        if len(values) == width + 1 and values[-1] == "":
            values = values[:-1]
        if len(values) != width:
            report.invalid_count += 1
            report.add_error(line_no, "ligne", f"la ligne compte {len(values)} champ(s), {width} attendus.")
            continue
        _validate_rpps_row(report, line_no, {key: values[pos].strip() for key, pos in positions.items()}, cache)
    return report


def _validate_rpps_row(
    report: ImportReport[RppsActivity], line_no: int, row: dict[str, str], cache: ValueCache
) -> None:
    col = RPPS_COLUMNS
    problems = RowErrors()
    professional = problems.check(
        col["identifier"],
        lambda: rules.validate_professional_id(row["id_type"], row["identifier"], field=col["identifier"]),
    )
    if professional is not None:
        for message in professional.warnings:
            problems.warn(col["identifier"], message)
        problems.check(
            col["national_id"],
            lambda: rules.check_national_id(professional, row["national_id"], field=col["national_id"]),
        )
    if not row["last_name"]:
        problems.error(col["last_name"], "Nom d'exercice : valeur absente.")
    if not row["profession_code"].isdigit():
        problems.error(
            col["profession_code"], f"Code profession : « {row['profession_code']} » n'est pas un code numérique."
        )
    finess_site = finess_legal = siret = siren = commune = postcode = None
    if row["finess_site"]:
        finess_site = problems.check_cached(col["finess_site"], cache, rules.validate_finess, row["finess_site"])
    if row["finess_legal"]:
        finess_legal = problems.check_cached(col["finess_legal"], cache, rules.validate_finess, row["finess_legal"])
    if row["siret"]:
        siret = problems.check_cached(col["siret"], cache, rules.validate_siret, row["siret"])
    if row["siren"]:
        siren = problems.check_cached(col["siren"], cache, rules.validate_siren, row["siren"])
    if row["commune_code"]:
        commune = problems.check_cached(
            col["commune_code"], cache, rules.validate_insee_commune_code, row["commune_code"]
        )
    if row["postcode"]:
        postcode = problems.check_cached(col["postcode"], cache, rules.validate_postcode, row["postcode"])

    def build() -> RppsActivity:
        assert professional is not None
        return RppsActivity(
            id_type=professional.type,
            identifier=professional.value,
            national_id=professional.national_id,
            last_name=row["last_name"],
            first_name=optional(row["first_name"]),
            civility_code=optional(row["civility_code"]),
            exercise_civility_code=optional(row["exercise_civility_code"]),
            profession_code=row["profession_code"],
            profession_label=optional(row["profession_label"]),
            category_code=optional(row["category_code"]),
            skill_type_code=optional(row["skill_type_code"]),
            skill_code=optional(row["skill_code"]),
            skill_label=optional(row["skill_label"]),
            practice_mode_code=optional(row["practice_mode_code"]),
            practice_mode_label=optional(row["practice_mode_label"]),
            siret=siret,
            siren=siren,
            finess_site=finess_site,
            finess_legal=finess_legal,
            structure_id=optional(row["structure_id"]),
            site_name=optional(row["site_name"]),
            brand=optional(row["brand"]),
            street_number=optional(row["street_number"]),
            street_type=optional(row["street_type"]),
            street=optional(row["street"]),
            postcode=postcode,
            commune_code=commune,
            commune_label=optional(row["commune_label"]),
            phone=optional(row["phone"]),
            email=optional(row["email"]),
            department_code=optional(row["department_code"]),
            sector_code=optional(row["sector_code"]),
            sector_label=optional(row["sector_label"]),
        )

    settle(report, line_no, problems, build)
