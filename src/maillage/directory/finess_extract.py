"""Parser of the FINESS etalab establishments extract, with per-row validation.

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

The parser returns a ``FinessImportReport`` of ``FinessEstablishment`` rows and the geolocations (``imports``: the
report and the import decision).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from maillage.directory import rules
from maillage.directory.imports import (
    DEFAULT_MAX_KEPT_ISSUES,
    ImportReport,
    RowErrors,
    decode_lines,
    optional,
    settle,
)
from maillage.exceptions import ValidationFailed

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
            long_name=optional(row["rslongue"]),
            name_complement=optional(row["complrs"]),
            distribution_complement=optional(row["compldistrib"]),
            street_number=optional(row["numvoie"]),
            street_type=optional(row["typvoie"]),
            street=optional(row["voie"]),
            street_complement=optional(row["compvoie"]),
            locality_or_po_box=optional(row["lieuditbp"]),
            commune=row["commune"],
            departement=departement,
            departement_label=optional(row["libdepartement"]),
            routing_line=optional(routing),
            postcode=postcode_match.group(1) if postcode_match else None,
            commune_insee=finess_commune_insee(departement, row["commune"]),
            phone=optional(row["telephone"]),
            fax=optional(row["telecopie"]),
            category_code=row["categetab"],
            category_label=optional(row["libcategetab"]),
            category_group_code=optional(row["categagretab"]),
            category_group_label=optional(row["libcategagretab"]),
            siret=siret,
            ape_code=optional(row["codeape"]),
            pricing_code=optional(row["codemft"]),
            pricing_label=optional(row["libmft"]),
            sph_code=optional(row["codesph"]),
            sph_label=optional(row["libsph"]),
            opened_on=opened,
            authorised_on=authorised,
            updated_on=updated,
            uai=optional(row["numuai"]),
        )

    settle(report, line_no, problems, build)


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
        FinessGeolocation(finess_et, coordinates[0], coordinates[1], optional(row["sourcecoordet"]), updated)
    )
    report.valid_count += 1
