"""Parsers of the public directory extracts, with per-row validation and an import decision.

Two layouts are implemented, each streaming over the lines of a text file (``str`` or raw ``bytes`` lines;
UTF-8 with or without BOM, falling back to Windows-1252 for files in the legacy encoding):

**RPPS — ``PS_LibreAcces_Personne_activite``** (Annuaire Santé public extraction, one line per professional
activity). Pipe-separated, first line a header of French column names, every line closed by a trailing ``|``.
The column names implemented are those of the public file, 52 columns from ``Type d'identifiant PP`` to
``Libellé section tableau pharmaciens`` (header reproduced in the sample of the public extract kept in
github.com/cyrilvincent/skema ``data/ps_libreacces/PS_LibreAcces_Personne_activite_small.txt``, the source
DOMAIN §1.3 and §5.4 cite). Columns are found by name, so an added or moved column does not break the import;
the columns this module reads must be present. The current extract is UTF-8.

**FINESS — etalab "extraction du fichier des établissements"** (data.gouv.fr dataset
``finess-extraction-du-fichier-des-etablissements``, files ``etalab-cs1100507-stock-AAAAMMJJ-HHMM.csv`` with
geolocation and ``etalab-cs1100502-…`` without). Semicolon-separated, double-quoted when a value holds a quote,
no header of column names: the first line is ``finess;etalab;<version>;<AAAA-MM-JJ>``, then one
``structureet`` line per geographic establishment with 31 positional fields after the line type
(nofinesset, nofinessej, rs, rslongue, complrs, compldistrib, numvoie, typvoie, voie, compvoie, lieuditbp,
commune, departement, libdepartement, ligneacheminement, telephone, telecopie, categetab, libcategetab,
categagretab, libcategagretab, siret, codeape, codemft, libmft, codesph, libsph, dateouv, dateautor, maj,
numuai), then, in the geolocated file, one ``geolocalisation`` line per establishment (nofinesset, coordxet,
coordyet, sourcecoordet, datemaj; coordinates in the projection the source string names, Lambert 93 in
mainland France). The layout is the one the ANS publishes with the dataset as a PDF ("contenu et format"),
as reproduced column for column by public importers (e.g. the notebook github.com/taniki/notebooks "Production
d'un csv utilisable de la base FINESS", and the R reader at guillaumepressiat.github.io/finess_etalab). The
legacy files are Windows-1252 encoded. Other line types are counted as skipped.

Each parser returns an ``ImportReport``: the valid rows as typed dataclasses, French errors per line with the
line number and the field, warnings, counts, and ``accept(threshold)``, which refuses a file whose share of
invalid lines exceeds the threshold (1 % unless told otherwise): nothing from such a file may be imported.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from maillage.directory import rules
from maillage.exceptions import ValidationFailed

DEFAULT_ERROR_THRESHOLD = 0.01
DEFAULT_MAX_KEPT_ISSUES = 1000
LEGACY_ENCODING = "cp1252"

T = TypeVar("T")


# --- Reading lines ---------------------------------------------------------------------------------------


def decode_lines(lines: Iterable[str | bytes]) -> Iterator[str]:
    """Yield text lines without their line ending and without a leading byte-order mark.

    ``bytes`` lines are decoded as UTF-8; from the first line that is not valid UTF-8 on, the rest of the file
    is read as Windows-1252, the encoding of the legacy FINESS extracts (a legacy file's first lines are
    usually plain ASCII, identical in both encodings).
    """
    encoding = "utf-8"
    first = True
    for raw in lines:
        if isinstance(raw, bytes):
            if first and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                encoding = LEGACY_ENCODING
                text = raw.decode(encoding, errors="replace")
        else:
            text = raw
        if first and text.startswith("\ufeff"):
            text = text[1:]
        first = False
        yield text.rstrip("\r\n")


def read_lines(path: str | Path) -> Iterator[bytes]:
    """Stream a file's raw lines, to hand to ``parse_rpps`` or ``parse_finess``."""
    with open(path, "rb") as handle:
        yield from handle


# --- The report ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportIssue:
    """One problem found in a file: line number (1 = first line of the file), column, French message."""

    line: int
    field: str
    message: str

    def as_detail(self) -> dict[str, str | int]:
        return {"line": self.line, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        return f"ligne {self.line}, {self.field} : {self.message}"


@dataclass
class ImportReport(Generic[T]):
    """What a parser found: valid rows, problems, counts, and whether the file may be imported."""

    source: str
    rows: list[T] = field(default_factory=list)
    errors: list[ImportIssue] = field(default_factory=list)
    warnings: list[ImportIssue] = field(default_factory=list)
    file_errors: list[ImportIssue] = field(default_factory=list)
    lines_read: int = 0
    valid_count: int = 0
    invalid_count: int = 0
    skipped_count: int = 0
    error_count: int = 0
    warning_count: int = 0
    max_kept_issues: int = DEFAULT_MAX_KEPT_ISSUES

    @property
    def data_line_count(self) -> int:
        return self.valid_count + self.invalid_count

    @property
    def error_share(self) -> float:
        total = self.data_line_count
        return self.invalid_count / total if total else 0.0

    def add_error(self, line: int, field_name: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < self.max_kept_issues:
            self.errors.append(ImportIssue(line, field_name, message))

    def add_warning(self, line: int, field_name: str, message: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < self.max_kept_issues:
            self.warnings.append(ImportIssue(line, field_name, message))

    def add_file_error(self, line: int, field_name: str, message: str) -> None:
        self.file_errors.append(ImportIssue(line, field_name, message))

    def accept(self, threshold: float = DEFAULT_ERROR_THRESHOLD) -> bool:
        """May this file be imported? Not when the file itself is malformed, when it holds no valid row, or when
        the share of invalid data lines exceeds ``threshold`` (0.01 = 1 %)."""
        check_threshold(threshold)
        if self.file_errors or self.valid_count == 0:
            return False
        return self.error_share <= threshold

    def raise_unless_accepted(self, threshold: float = DEFAULT_ERROR_THRESHOLD) -> None:
        """Raise ``ValidationFailed`` listing the problems when ``accept(threshold)`` is false."""
        if self.accept(threshold):
            return
        issues = self.file_errors + self.errors
        details = [issue.as_detail() for issue in issues[: self.max_kept_issues]]
        if self.file_errors:
            message = f"Fichier {self.source} refusé : {self.file_errors[0].message}"
        elif self.valid_count == 0:
            message = f"Fichier {self.source} refusé : aucune ligne valide."
        else:
            message = (
                f"Fichier {self.source} refusé : {self.invalid_count} ligne(s) invalide(s) sur {self.data_line_count} "
                f"({100 * self.error_share:.2f} %), au-delà du seuil de {100 * threshold:.2f} %."
            )
        raise ValidationFailed(message, details=details)

    def summary(self) -> str:
        """One French sentence for a person reading the outcome of an import."""
        return (
            f"{self.source} : {self.lines_read} ligne(s) lue(s), {self.valid_count} valide(s), "
            f"{self.invalid_count} invalide(s) ({100 * self.error_share:.2f} %), {self.skipped_count} ignorée(s), "
            f"{self.warning_count} avertissement(s)."
        )


def check_threshold(threshold: float) -> float:
    if not 0.0 <= threshold <= 1.0:
        raise rules.fail("threshold", f"Seuil d'erreurs : {threshold} doit être compris entre 0 et 1.")
    return threshold


# Outcomes of pure one-value validators, per parse: (validator, value) -> (valid value, error message).
ValueCache = dict[tuple[Callable[[str], str], str], tuple[str | None, str | None]]
VALUE_CACHE_SIZE = 200_000


class RowErrors:
    """Collects the problems of one line before deciding whether the line is valid."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []

    def check(self, field_name: str, validator: Callable[[], T]) -> T | None:
        try:
            return validator()
        except ValidationFailed as exc:
            self.errors.append((field_name, exc.message))
            return None

    def check_cached(
        self, field_name: str, cache: ValueCache, validator: Callable[[str], str], value: str
    ) -> str | None:
        """Like ``check`` for a pure validator of one value, remembering its outcome: in an extract the same
        sites (FINESS, SIRET) come back on thousands of lines."""
        key = (validator, value)
        outcome = cache.get(key)
        if outcome is None:
            try:
                outcome = (validator(value), None)
            except ValidationFailed as exc:
                outcome = (None, exc.message)
            if len(cache) < VALUE_CACHE_SIZE:
                cache[key] = outcome
        result, message = outcome
        if message is not None:
            self.errors.append((field_name, message))
        return result

    def error(self, field_name: str, message: str) -> None:
        self.errors.append((field_name, message))

    def warn(self, field_name: str, message: str) -> None:
        self.warnings.append((field_name, message))


def _settle(report: ImportReport[T], line_no: int, problems: RowErrors, build: Callable[[], T]) -> None:
    for field_name, message in problems.warnings:
        report.add_warning(line_no, field_name, message)
    if problems.errors:
        report.invalid_count += 1
        for field_name, message in problems.errors:
            report.add_error(line_no, field_name, message)
        return
    report.rows.append(build())
    report.valid_count += 1


def _optional(value: str) -> str | None:
    value = value.strip()
    return value or None


# --- RPPS: PS_LibreAcces_Personne_activite ---------------------------------------------------------------

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
RPPS_FIELD_COUNT = 52


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
            first_name=_optional(row["first_name"]),
            civility_code=_optional(row["civility_code"]),
            exercise_civility_code=_optional(row["exercise_civility_code"]),
            profession_code=row["profession_code"],
            profession_label=_optional(row["profession_label"]),
            category_code=_optional(row["category_code"]),
            skill_type_code=_optional(row["skill_type_code"]),
            skill_code=_optional(row["skill_code"]),
            skill_label=_optional(row["skill_label"]),
            practice_mode_code=_optional(row["practice_mode_code"]),
            practice_mode_label=_optional(row["practice_mode_label"]),
            siret=siret,
            siren=siren,
            finess_site=finess_site,
            finess_legal=finess_legal,
            structure_id=_optional(row["structure_id"]),
            site_name=_optional(row["site_name"]),
            brand=_optional(row["brand"]),
            street_number=_optional(row["street_number"]),
            street_type=_optional(row["street_type"]),
            street=_optional(row["street"]),
            postcode=postcode,
            commune_code=commune,
            commune_label=_optional(row["commune_label"]),
            phone=_optional(row["phone"]),
            email=_optional(row["email"]),
            department_code=_optional(row["department_code"]),
            sector_code=_optional(row["sector_code"]),
            sector_label=_optional(row["sector_label"]),
        )

    _settle(report, line_no, problems, build)


# --- FINESS: etalab establishments extract ---------------------------------------------------------------

FINESS_HEADER_TAG = "finess"
FINESS_STRUCTURE_TAG = "structureet"
FINESS_GEOLOCATION_TAG = "geolocalisation"
FINESS_STRUCTURE_FIELDS = (
    "nofinesset", "nofinessej", "rs", "rslongue", "complrs", "compldistrib", "numvoie", "typvoie", "voie",
    "compvoie", "lieuditbp", "commune", "departement", "libdepartement", "ligneacheminement", "telephone",
    "telecopie", "categetab", "libcategetab", "categagretab", "libcategagretab", "siret", "codeape", "codemft",
    "libmft", "codesph", "libsph", "dateouv", "dateautor", "maj", "numuai",
)  # fmt: skip
# Older extracts stop at "maj": numuai is optional.
FINESS_STRUCTURE_MIN_FIELDS = len(FINESS_STRUCTURE_FIELDS) - 1
FINESS_GEOLOCATION_FIELDS = ("nofinesset", "coordxet", "coordyet", "sourcecoordet", "datemaj")

# FINESS département codes: 2 digits, 2A/2B, and 9A… for overseas; the overseas commune field then carries the
# third digit of the INSEE département (e.g. 9A + 101 = 97101 Les Abymes, 9F + 606 = 97606, 9J + 613 = 98613),
# as the extract lines of overseas establishments show.
FINESS_DEPARTEMENT_RE = re.compile(r"^(?:\d{2}|2A|2B|9[A-Z])$")
FINESS_OVERSEAS_INSEE_PREFIX = {"9A": "97", "9B": "97", "9C": "97", "9D": "97", "9E": "97", "9F": "97", "9J": "98"}


@dataclass(frozen=True, slots=True)
class FinessEstablishment:
    """One ``structureet`` line: a geographic establishment (ET) and its legal entity (EJ)."""

    finess_et: str
    finess_ej: str
    short_name: str
    long_name: str | None
    name_complement: str | None
    distribution_complement: str | None
    street_number: str | None
    street_type: str | None
    street: str | None
    street_complement: str | None
    locality_or_po_box: str | None
    commune: str
    departement: str
    departement_label: str | None
    routing_line: str | None
    postcode: str | None
    commune_insee: str | None
    phone: str | None
    fax: str | None
    category_code: str
    category_label: str | None
    category_group_code: str | None
    category_group_label: str | None
    siret: str | None
    ape_code: str | None
    pricing_code: str | None
    pricing_label: str | None
    sph_code: str | None
    sph_label: str | None
    opened_on: dt.date | None
    authorised_on: dt.date | None
    updated_on: dt.date | None
    uai: str | None

    @property
    def kind(self) -> rules.EstablishmentKind | None:
        return rules.kind_for_finess_category(self.category_code)

    @property
    def public_health_establishment(self) -> bool:
        return self.sph_code == rules.FINESS_SPH_PUBLIC_HEALTH_ESTABLISHMENT


@dataclass(frozen=True, slots=True)
class FinessGeolocation:
    """One ``geolocalisation`` line: projected coordinates of an establishment, with the source string that
    names the projection (e.g. ``…,LAMBERT_93``). Kept as published: no reprojection here."""

    finess_et: str
    x: float
    y: float
    source: str | None
    updated_on: dt.date | None


@dataclass
class FinessImportReport(ImportReport[FinessEstablishment]):
    geolocations: list[FinessGeolocation] = field(default_factory=list)
    extract_version: str | None = None
    extract_date: dt.date | None = None


DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")


def parse_date(value: str, *, field: str, label: str) -> dt.date | None:
    """An extract date, ``AAAA-MM-JJ`` (current files) or ``JJ/MM/AAAA`` (older ones); empty is None."""
    value = value.strip()
    if not value:
        return None
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise rules.fail(field, f"{label} : « {value} » n'est pas une date (AAAA-MM-JJ attendu).")


def parse_finess(lines: Iterable[str | bytes], *, max_kept_issues: int = DEFAULT_MAX_KEPT_ISSUES) -> FinessImportReport:
    """Parse and validate an etalab FINESS establishments extract (layout in the module docstring)."""
    report = FinessImportReport(source="FINESS", max_kept_issues=max_kept_issues)
    numbered = _LineCounter(decode_lines(lines), report)
    reader = csv.reader((text for _, text in numbered), delimiter=";", quotechar='"')
    header_seen = False
    for values in reader:
        line_no = numbered.current
        if not values or not any(v.strip() for v in values):
            report.skipped_count += 1
            continue
        tag = values[0].strip().lower()
        if not header_seen:
            header_seen = True
            if tag != FINESS_HEADER_TAG:
                report.add_file_error(
                    line_no,
                    "en-tête",
                    "la première ligne doit être « finess;etalab;<version>;<date> » (extrait etalab).",
                )
                return report
            report.extract_version = values[2].strip() if len(values) > 2 else None
            if len(values) > 3:
                try:
                    report.extract_date = parse_date(values[3], field="en-tête", label="Date de l'extraction")
                except ValidationFailed as exc:
                    report.add_file_error(line_no, "en-tête", exc.message)
                    return report
            continue
        if tag == FINESS_STRUCTURE_TAG:
            _validate_structure(report, line_no, values[1:])
        elif tag == FINESS_GEOLOCATION_TAG:
            _validate_geolocation(report, line_no, values[1:])
        else:
            report.skipped_count += 1
    if not header_seen:
        report.add_file_error(1, "en-tête", "le fichier est vide.")
    return report


class _LineCounter:
    """Iterate text lines while remembering the number of the last line handed out."""

    def __init__(self, lines: Iterator[str], report: ImportReport) -> None:
        self.lines = lines
        self.report = report
        self.current = 0

    def __iter__(self) -> Iterator[tuple[int, str]]:
        for text in self.lines:
            self.current += 1
            self.report.lines_read = self.current
            yield self.current, text


def _validate_structure(report: FinessImportReport, line_no: int, values: list[str]) -> None:
    if not FINESS_STRUCTURE_MIN_FIELDS <= len(values) <= len(FINESS_STRUCTURE_FIELDS):
        report.invalid_count += 1
        report.add_error(
            line_no,
            "ligne",
            f"la ligne structureet compte {len(values)} champ(s) après le type, "
            f"{FINESS_STRUCTURE_MIN_FIELDS} ou {len(FINESS_STRUCTURE_FIELDS)} attendus.",
        )
        return
    row = dict.fromkeys(FINESS_STRUCTURE_FIELDS, "")
    row.update({name: value.strip() for name, value in zip(FINESS_STRUCTURE_FIELDS, values, strict=False)})
    problems = RowErrors()
    finess_et = problems.check(
        "nofinesset", lambda: rules.validate_finess(row["nofinesset"], field="nofinesset", label="FINESS ET")
    )
    finess_ej = problems.check(
        "nofinessej", lambda: rules.validate_finess(row["nofinessej"], field="nofinessej", label="FINESS EJ")
    )
    if not row["rs"]:
        problems.error("rs", "Raison sociale : valeur absente.")
    if not re.fullmatch(r"\d{3}", row["categetab"]):
        problems.error(
            "categetab", f"Catégorie d'établissement : « {row['categetab']} » n'est pas un code à 3 chiffres."
        )
    departement = row["departement"].upper()
    if not FINESS_DEPARTEMENT_RE.match(departement):
        problems.error(
            "departement", f"Département : « {row['departement']} » n'est pas un code FINESS de département."
        )
    if not re.fullmatch(r"\d{3}", row["commune"]):
        problems.error("commune", f"Commune : « {row['commune']} » n'est pas un code à 3 chiffres.")
    siret = None
    if row["siret"]:
        siret = problems.check("siret", lambda: rules.validate_siret(row["siret"], field="siret"))
    opened = problems.check("dateouv", lambda: parse_date(row["dateouv"], field="dateouv", label="Date d'ouverture"))
    authorised = problems.check(
        "dateautor", lambda: parse_date(row["dateautor"], field="dateautor", label="Date d'autorisation")
    )
    updated = problems.check("maj", lambda: parse_date(row["maj"], field="maj", label="Date de mise à jour"))
    routing = row["ligneacheminement"]
    postcode_match = re.match(r"^(\d{5})\b", routing)

    def build() -> FinessEstablishment:
        assert finess_et is not None and finess_ej is not None
        return FinessEstablishment(
            finess_et=finess_et,
            finess_ej=finess_ej,
            short_name=row["rs"],
            long_name=_optional(row["rslongue"]),
            name_complement=_optional(row["complrs"]),
            distribution_complement=_optional(row["compldistrib"]),
            street_number=_optional(row["numvoie"]),
            street_type=_optional(row["typvoie"]),
            street=_optional(row["voie"]),
            street_complement=_optional(row["compvoie"]),
            locality_or_po_box=_optional(row["lieuditbp"]),
            commune=row["commune"],
            departement=departement,
            departement_label=_optional(row["libdepartement"]),
            routing_line=_optional(routing),
            postcode=postcode_match.group(1) if postcode_match else None,
            commune_insee=finess_commune_insee(departement, row["commune"]),
            phone=_optional(row["telephone"]),
            fax=_optional(row["telecopie"]),
            category_code=row["categetab"],
            category_label=_optional(row["libcategetab"]),
            category_group_code=_optional(row["categagretab"]),
            category_group_label=_optional(row["libcategagretab"]),
            siret=siret,
            ape_code=_optional(row["codeape"]),
            pricing_code=_optional(row["codemft"]),
            pricing_label=_optional(row["libmft"]),
            sph_code=_optional(row["codesph"]),
            sph_label=_optional(row["libsph"]),
            opened_on=opened,
            authorised_on=authorised,
            updated_on=updated,
            uai=_optional(row["numuai"]),
        )

    _settle(report, line_no, problems, build)


def finess_commune_insee(departement: str, commune: str) -> str | None:
    """The INSEE (COG) code of an establishment's commune from the extract's two fields, when it can be told.

    Mainland and Corsica: département + commune (``01`` + ``451`` = ``01451``). Overseas: the extract codes the
    département ``9A``…``9J`` and puts the last digit of the INSEE département in front of the commune number,
    so the INSEE code is ``97``/``98`` + commune. Other overseas letters are not mapped (None).
    """
    if not re.fullmatch(r"\d{3}", commune):
        return None
    if re.fullmatch(r"\d{2}|2A|2B", departement):
        return departement + commune
    prefix = FINESS_OVERSEAS_INSEE_PREFIX.get(departement)
    return prefix + commune if prefix else None


def _validate_geolocation(report: FinessImportReport, line_no: int, values: list[str]) -> None:
    problems = RowErrors()
    if len(values) < 3:
        report.invalid_count += 1
        report.add_error(line_no, "ligne", f"la ligne geolocalisation compte {len(values)} champ(s), 5 attendus.")
        return
    padded = [*values, "", ""][: len(FINESS_GEOLOCATION_FIELDS)]
    row = {name: value.strip() for name, value in zip(FINESS_GEOLOCATION_FIELDS, padded, strict=True)}
    finess_et = problems.check(
        "nofinesset", lambda: rules.validate_finess(row["nofinesset"], field="nofinesset", label="FINESS ET")
    )
    coordinates: list[float] = []
    for name in ("coordxet", "coordyet"):
        try:
            coordinates.append(float(row[name].replace(",", ".")))
        except ValueError:
            problems.error(name, f"Coordonnée : « {row[name]} » n'est pas un nombre.")
    updated = problems.check(
        "datemaj", lambda: parse_date(row["datemaj"], field="datemaj", label="Date de mise à jour")
    )
    if problems.errors:
        report.invalid_count += 1
        for field_name, message in problems.errors:
            report.add_error(line_no, field_name, message)
        return
    assert finess_et is not None
    report.geolocations.append(
        FinessGeolocation(finess_et, coordinates[0], coordinates[1], _optional(row["sourcecoordet"]), updated)
    )
    report.valid_count += 1
