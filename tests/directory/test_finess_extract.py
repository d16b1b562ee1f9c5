"""The FINESS extract parser (directory/finess_extract.py), on a small file in the real format.

``tests/fixtures/data/etalab-cs1100507-stock-sample.csv`` is written for these tests with fictional
establishments (Windows-1252, 13 establishment lines, one bad line, two geolocation lines, one line of another
type).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from maillage.directory.finess_extract import parse_finess
from maillage.directory.imports import read_lines
from maillage.directory.rules import EstablishmentKind

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"
FINESS_FILE = DATA / "etalab-cs1100507-stock-sample.csv"


def finess_text_lines() -> list[str]:
    return FINESS_FILE.read_bytes().decode("cp1252").splitlines()


class TestParseFiness:
    def test_the_windows_1252_sample_is_read(self):
        """etalab extract: header line, structureet lines, geolocalisation lines; Windows-1252 encoding."""
        report = parse_finess(read_lines(FINESS_FILE))
        assert (report.valid_count, report.invalid_count, report.skipped_count) == (13, 1, 1)
        assert len(report.rows) == 11 and len(report.geolocations) == 2
        assert report.extract_version == "111" and report.extract_date == dt.date(2026, 5, 12)
        ehpad = next(row for row in report.rows if row.short_name == "EHPAD LES TILLEULS FICTIFS")
        assert ehpad.category_label == "Etablissement d'hébergement pour personnes âgées dépendantes"

    def test_one_bad_line_in_fourteen_refuses_the_file_at_the_default_threshold(self):
        """1/14 = 7.1 % > 1 %: nothing may be imported (issue 4); a 10 % threshold lets it through."""
        report = parse_finess(read_lines(FINESS_FILE))
        assert report.accept() is False
        assert report.accept(threshold=0.10) is True
        assert [str(e) for e in report.errors] == [
            "ligne 13, nofinesset : FINESS ET : la clé de contrôle 1 ne correspond pas (attendue 7)."
        ]

    def test_establishments_are_typed_with_kind_public_status_and_insee_code(self):
        """categetab → kind; codesph 1 = public health establishment; INSEE code = département + commune,
        overseas 97 + commune (lines of the real extract: 9D + 411 is Saint-Denis 97411)."""
        rows = {row.short_name: row for row in parse_finess(read_lines(FINESS_FILE)).rows}
        hospital = rows["CH DU VAL FICTIF"]
        assert hospital.kind is EstablishmentKind.HOSPITAL and hospital.public_health_establishment
        assert (hospital.commune_insee, hospital.postcode, hospital.siret) == ("01053", "01000", "26019000400010")
        assert hospital.opened_on == dt.date(1979, 2, 13)
        assert rows["CHU SITE DES ESSAIS (ST DENIS)"].commune_insee == "97411"
        assert rows["CENTRE HOSPITALIER D'AJACCIO FICTIF"].finess_et == "2A0093003"
        assert rows["CENTRE HOSPITALIER D'AJACCIO FICTIF"].commune_insee == "2A004"
        assert rows["PHARMACIE DES ESSAIS"].kind is EstablishmentKind.PHARMACY
        assert rows["MAISON DE SANTE DU BOCAGE"].kind is EstablishmentKind.CITY_PRACTICE
        assert rows["CMP ENFANTS DU VAL"].kind is None

    def test_quoted_values_with_doubled_quotes_are_unquoted(self):
        """The extract quotes a value holding a quote and doubles the quote (lines of the real file)."""
        rows = parse_finess(read_lines(FINESS_FILE)).rows
        assert any(row.short_name == 'LIEU DE VIE "LES ESSAIS"' for row in rows)

    def test_geolocations_keep_the_projected_coordinates_and_their_source(self):
        """geolocalisation: nofinesset, coordxet, coordyet, sourcecoordet, datemaj (Lambert 93 in mainland)."""
        geo = parse_finess(read_lines(FINESS_FILE)).geolocations[0]
        assert (geo.finess_et, geo.x, geo.y) == ("010910008", 870012.3, 6571234.5)
        assert geo.source is not None and geo.source.endswith("LAMBERT_93")

    def test_a_file_without_the_etalab_first_line_is_refused(self):
        """The first line of the extract is finess;etalab;<version>;<date>."""
        report = parse_finess(finess_text_lines()[1:])
        assert report.file_errors[0].field == "en-tête"
        assert report.accept(threshold=1.0) is False

    def test_a_short_structure_line_is_an_error(self):
        """A structureet line has 31 fields after its type (30 in older files, without numuai)."""
        lines = finess_text_lines()
        report = parse_finess([lines[0], "structureet;010000024;010780054;CH"])
        assert report.invalid_count == 1 and "31 attendus" in report.errors[0].message

    def test_an_older_line_without_numuai_is_read(self):
        """Older extracts stop at the update date (no numuai field)."""
        lines = finess_text_lines()
        older = lines[1].rsplit(";", 1)[0]
        report = parse_finess([lines[0], older])
        assert report.valid_count == 1 and report.rows[0].uai is None

    def test_dates_in_the_older_day_first_format_are_read(self):
        """Older files wrote JJ/MM/AAAA."""
        lines = finess_text_lines()
        older = lines[1].replace("1979-02-13;1979-02-13", "13/02/1979;13/02/1979")
        report = parse_finess([lines[0], older])
        assert report.rows[0].opened_on == dt.date(1979, 2, 13)

    @pytest.mark.parametrize(
        ("position", "value", "field"),
        [(18, "35", "categetab"), (13, "X1", "departement"), (12, "45", "commune"), (28, "2020-13-01", "dateouv"),
         (22, "26019000400011", "siret"), (3, "", "rs"), (2, "017910002", "nofinessej")],
    )  # fmt: skip
    def test_each_checked_field_reports_its_own_error(self, position, value, field):
        """Each column the parser checks names itself in the error."""
        lines = finess_text_lines()
        fields = lines[1].split(";")
        fields[position] = value
        report = parse_finess([lines[0], ";".join(fields)])
        assert report.invalid_count == 1
        assert report.errors[0].field == field
