"""The RPPS extract parser (directory/rpps_extract.py), on a small file in the real format.

``tests/fixtures/data/PS_LibreAcces_Personne_activite_sample.txt`` is written for these tests with fake people
(UTF-8 with BOM, 120 activities, one bad line, one RPPS with a wrong Luhn key).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from maillage.directory.imports import read_lines
from maillage.directory.rpps_extract import parse_rpps
from maillage.directory.rules import ProfessionalIdType
from maillage.exceptions import ValidationFailed

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "data"
RPPS_FILE = DATA / "PS_LibreAcces_Personne_activite_sample.txt"


def rpps_text_lines() -> list[str]:
    return RPPS_FILE.read_text(encoding="utf-8-sig").splitlines()


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
