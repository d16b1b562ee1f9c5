"""What the parsers of the public directory extracts share (directory/imports.py): decoding lines, the report and
its import decision."""

from __future__ import annotations

import pytest

from maillage.directory import imports
from maillage.directory.imports import ImportReport
from maillage.exceptions import ValidationFailed


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
