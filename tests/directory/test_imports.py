"""Parsers of the public directory extracts (directory/imports.py, rpps_extract.py, finess_extract.py), on small
files in the real formats.

The fixtures in tests/fixtures/data are written for these tests with fake people and fictional
establishments: ``PS_LibreAcces_Personne_activite_sample.txt`` (UTF-8 with BOM, 120 activities, one bad line,
one RPPS with a wrong Luhn key) and ``etalab-cs1100507-stock-sample.csv`` (Windows-1252, 13 establishment lines,
one bad line, two geolocation lines, one line of another type).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from maillage.directory import imports
from maillage.directory.finess_extract import parse_finess
from maillage.directory.imports import ImportReport, read_lines
from maillage.directory.rpps_extract import parse_rpps
from maillage.directory.rules import EstablishmentKind, ProfessionalIdType
from maillage.exceptions import ValidationFailed

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"
RPPS_FILE = DATA / "PS_LibreAcces_Personne_activite_sample.txt"
FINESS_FILE = DATA / "etalab-cs1100507-stock-sample.csv"


def rpps_text_lines() -> list[str]:
    return RPPS_FILE.read_text(encoding="utf-8-sig").splitlines()


def finess_text_lines() -> list[str]:
    return FINESS_FILE.read_bytes().decode("cp1252").splitlines()


class TestDecodeLines:
    def test_a_utf8_byte_order_mark_is_removed(self):
        """The extracts may start with a UTF-8 BOM; the header must still be read by name."""
        assert list(imports.decode_lines([b"\xef\xbb\xbfa|b|\n", b"c|d|\r\n"])) == ["a|b|", "c|d|"]

    def test_a_bom_in_a_text_line_is_removed(self):
        """Same, when the caller opened the file as text."""
        assert list(imports.decode_lines(["\ufeffa|b|\n"])) == ["a|b|"]

    def test_windows_1252_lines_are_decoded_once_utf8_fails(self):
        """The legacy FINESS extracts are Windows-1252 (notebook taniki/notebooks, R readers of the file)."""
        lines = [b"finess;etalab;1;2026-05-12\n", "structureet;Âgées\n".encode("cp1252"), "é\n".encode("cp1252")]
        assert list(imports.decode_lines(lines)) == ["finess;etalab;1;2026-05-12", "structureet;Âgées", "é"]

    def test_utf8_lines_stay_utf8(self):
        """The current RPPS extract is UTF-8."""
        assert list(imports.decode_lines(["Prénom|".encode()])) == ["Prénom|"]


class TestParseRpps:
    def test_the_sample_file_with_one_bad_line_is_read_and_accepted(self):
        """One invalid line out of 120 is 0.83 %, under the default 1 % threshold: the file may be imported."""
        report = parse_rpps(read_lines(RPPS_FILE))
        assert (report.lines_read, report.valid_count, report.invalid_count) == (121, 119, 1)
        assert len(report.rows) == 119
        assert report.error_share == pytest.approx(1 / 120)
        assert report.accept() is True

    def test_the_bad_line_is_reported_with_its_number_field_and_reason_in_french(self):
        """Errors per line, in French, with the line number and the column (issue 4)."""
        report = parse_rpps(read_lines(RPPS_FILE))
        assert [str(e) for e in report.errors] == [
            "ligne 90, Numéro FINESS site : FINESS : la clé de contrôle 1 ne correspond pas (attendue 8)."
        ]

    def test_an_rpps_with_a_wrong_luhn_key_is_kept_with_a_warning(self):
        """RPPS key: warn, don't reject (DOMAIN §1.3)."""
        report = parse_rpps(read_lines(RPPS_FILE))
        assert report.warning_count == 1
        warning = report.warnings[0]
        assert (warning.line, warning.field) == (59, "Identifiant PP")
        assert any(row.identifier == "17333371552" for row in report.rows)

    def test_rows_are_typed_and_carry_the_national_id(self):
        """IdNat_PS = type + identifier, checked against the extract's column (DOMAIN §1.3)."""
        report = parse_rpps(read_lines(RPPS_FILE))
        first = report.rows[0]
        assert first.id_type is ProfessionalIdType.RPPS
        assert first.national_id == "8" + first.identifier
        assert first.finess_site == "010910149" and first.commune_code == "01034"
        adeli = [row for row in report.rows if row.id_type is ProfessionalIdType.ADELI]
        assert len(adeli) == 12
        assert all(row.national_id == "0" + row.identifier for row in adeli)

    def test_text_lines_give_the_same_report_as_bytes(self):
        """The parser streams over a text file as well as over raw bytes."""
        from_text = parse_rpps(rpps_text_lines())
        from_bytes = parse_rpps(read_lines(RPPS_FILE))
        assert from_text.rows == from_bytes.rows
        assert from_text.errors == from_bytes.errors

    def test_a_small_file_with_one_bad_line_in_ten_is_refused(self):
        """Nothing from a file whose error share exceeds the threshold (issue 4)."""
        lines = rpps_text_lines()
        small = [lines[0], *lines[80:90]]  # line 90 of the file is the bad one
        report = parse_rpps(small)
        assert (report.valid_count, report.invalid_count) == (9, 1)
        assert report.accept() is False
        assert report.accept(threshold=0.10) is True
        with pytest.raises(ValidationFailed) as info:
            report.raise_unless_accepted()
        assert "1 ligne(s) invalide(s) sur 10 (10.00 %), au-delà du seuil de 1.00 %" in info.value.message
        assert info.value.details[0]["line"] == 11
        assert info.value.details[0]["field"] == "Numéro FINESS site"

    def test_a_bad_value_repeated_on_several_lines_is_reported_on_each(self):
        """Outcomes of the per-value checks are remembered within a parse, errors still land on every line."""
        lines = rpps_text_lines()
        report = parse_rpps([lines[0], lines[89], lines[1], lines[89]])
        assert [(e.line, e.field) for e in report.errors] == [(2, "Numéro FINESS site"), (4, "Numéro FINESS site")]
        assert report.valid_count == 1

    def test_a_mismatched_national_id_is_an_error(self):
        """The extract's "Identification nationale PP" must be 8 + RPPS / 0 + ADELI (DOMAIN §1.3)."""
        lines = rpps_text_lines()
        fields = lines[1].split("|")
        fields[2] = "0" + fields[1]
        report = parse_rpps([lines[0], "|".join(fields)])
        assert report.errors[0].field == "Identification nationale PP"
        assert "attendu 8" in report.errors[0].message

    def test_an_unknown_identifier_type_is_an_error(self):
        """Type d'identifiant PP: 0 (ADELI) or 8 (RPPS) (TRE_G08; DOMAIN §1.3)."""
        lines = rpps_text_lines()
        fields = lines[1].split("|")
        fields[0] = "5"
        report = parse_rpps([lines[0], "|".join(fields)])
        assert report.invalid_count == 1
        assert "« 5 » inconnu" in report.errors[0].message

    def test_a_line_with_a_missing_field_is_an_error(self):
        """Every line has as many fields as the header."""
        lines = rpps_text_lines()
        short = lines[1].rsplit("|", 3)[0]
        report = parse_rpps([lines[0], short])
        assert report.errors[0].field == "ligne"
        assert "52 attendus" in report.errors[0].message

    def test_a_missing_column_refuses_the_whole_file(self):
        """Columns are found by name; one the parser reads must be there."""
        lines = rpps_text_lines()
        header = lines[0].replace("Nom d'exercice", "Nom")
        report = parse_rpps([header, *lines[1:5]])
        assert report.file_errors and "Nom d'exercice" in report.file_errors[0].message
        assert report.rows == [] and report.accept(threshold=1.0) is False

    def test_columns_are_found_by_name_whatever_their_order(self):
        """An extract with reordered columns is read the same (columns looked up by header name)."""
        lines = rpps_text_lines()[:6]
        table = [line.split("|")[:-1] for line in lines]
        reordered = ["|".join([row[1], row[0], *row[2:]]) + "|" for row in table]
        assert parse_rpps(reordered).rows == parse_rpps(lines).rows

    def test_an_empty_file_is_refused(self):
        """No header, nothing to import."""
        report = parse_rpps([])
        assert report.file_errors[0].message == "le fichier est vide."
        assert report.accept() is False


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


class TestImportReport:
    def report(self, valid: int, invalid: int) -> ImportReport[int]:
        report: ImportReport[int] = ImportReport(source="TEST")
        report.valid_count, report.invalid_count = valid, invalid
        return report

    def test_an_error_share_at_the_threshold_is_accepted(self):
        """Refused only when the share *exceeds* the threshold (issue 4)."""
        assert self.report(99, 1).accept(0.01) is True

    def test_an_error_share_above_the_threshold_is_refused(self):
        """Same rule."""
        assert self.report(98, 2).accept(0.01) is False

    def test_a_file_with_no_valid_row_is_refused(self):
        """Nothing to import."""
        assert self.report(0, 0).accept() is False

    @pytest.mark.parametrize("threshold", [-0.1, 1.5])
    def test_a_threshold_outside_zero_and_one_is_refused(self, threshold):
        """The threshold is a share."""
        with pytest.raises(ValidationFailed, match="Seuil d'erreurs"):
            self.report(10, 0).accept(threshold)

    def test_kept_issues_are_capped_but_all_are_counted(self):
        """A huge bad file does not fill memory with messages."""
        report: ImportReport[int] = ImportReport(source="TEST", max_kept_issues=2)
        for line in range(5):
            report.add_error(line, "x", "y")
        assert report.error_count == 5 and len(report.errors) == 2

    def test_the_summary_is_french(self):
        """French for what people read."""
        assert self.report(9, 1).summary().startswith("TEST : 0 ligne(s) lue(s), 9 valide(s), 1 invalide(s)")
