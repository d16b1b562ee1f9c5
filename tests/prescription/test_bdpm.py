"""The BDPM files read in their published format: encodings, codes, bad lines (maillage.prescription.bdpm)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from maillage.prescription import bdpm

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "bdpm"


class TestDetectEncoding:
    def test_utf8_text_is_read_as_utf8(self):
        assert bdpm.detect_encoding("PARACÉTAMOL".encode()) == "utf-8"

    def test_latin1_text_with_accents_is_read_as_windows_1252(self):
        assert bdpm.detect_encoding("PARACÉTAMOL".encode("latin-1")) == "cp1252"

    def test_bytes_windows_1252_leaves_undefined_fall_back_to_latin1(self):
        assert bdpm.detect_encoding(b"abc\x81def\xe9") == "latin-1"

    def test_plain_ascii_is_utf8(self):
        assert bdpm.detect_encoding(b"60000011\tDOLIPRANE") == "utf-8"

    def test_a_byte_order_mark_is_dropped(self):
        assert bdpm.decode("\ufeff6000".encode())[0] == "6000"


class TestCodes:
    @pytest.mark.parametrize("value", ["60000011", "69170898"])
    def test_eight_digits_are_a_cis(self, value):
        assert bdpm.is_cis(value)

    @pytest.mark.parametrize("value", ["6000001", "600000111", "6000001A", ""])
    def test_anything_else_is_not_a_cis(self, value):
        assert not bdpm.is_cis(value)

    def test_a_cip13_is_an_ean13_starting_3400(self):
        assert bdpm.is_cip13("3400930001073")

    def test_a_cip13_with_a_wrong_check_digit_is_refused(self):
        assert not bdpm.is_cip13("3400930001074")

    def test_an_ean13_outside_the_drug_range_is_refused(self):
        assert not bdpm.is_cip13("4006381333931")


class TestValues:
    def test_search_keys_are_upper_case_without_accents(self):
        assert bdpm.search_key("  Isotrétinoïne   20 mg") == "ISOTRETINOINE 20 MG"

    @pytest.mark.parametrize(("text", "expected"), [
        ("12/03/1998", dt.date(1998, 3, 12)), ("2024-01-15", dt.date(2024, 1, 15)), ("20240115", dt.date(2024, 1, 15)),
        ("", None)])
    def test_dates_in_the_three_published_forms(self, text, expected):
        assert bdpm.parse_date(text) == expected

    def test_a_date_in_no_known_form_is_an_error(self):
        with pytest.raises(ValueError):
            bdpm.parse_date("31/02/2020")

    @pytest.mark.parametrize(("text", "expected"), [
        ("2,18", Decimal("2.18")), ("1 234,56", Decimal("1234.56")), ("1,234,56", Decimal("1234.56")), ("", None)])
    def test_prices_in_french_form(self, text, expected):
        assert bdpm.parse_price(text) == expected


class TestReadRelease:
    def test_the_utf8_release_is_read_whole(self):
        release = bdpm.read_release(FIXTURES / "utf8")
        assert release.encoding == "utf-8"
        assert release.issues == []
        assert len(release.specialities) == 14
        assert len(release.presentations) == 16
        assert len(release.generics) == 8 and len(release.notices) == 3
        names = {row["cis"]: row["name"] for row in release.specialities}
        assert names["60000097"] == "CURACNÉ 20 mg, capsule molle"

    def test_the_latin1_release_gives_the_same_text_and_reports_its_bad_lines_by_file_line_and_field(self):
        utf8 = bdpm.read_release(FIXTURES / "utf8")
        latin1 = bdpm.read_release(FIXTURES / "latin1")
        assert latin1.encoding == "cp1252"
        assert latin1.specialities == utf8.specialities
        assert latin1.presentations == utf8.presentations
        assert [str(issue) for issue in latin1.issues] == [
            "CIS_bdpm.txt:2 : code CIS : « 6000015 » n'a pas 8 chiffres",
            "CIS_CIP_bdpm.txt:2 : code CIP13 : « 3400930009990 » n'est pas un EAN-13 valide commençant par 3400",
            "CIS_COMPO_bdpm.txt:2 : code CIS : « 69999999 » inconnu ou mal formé",
        ]
        assert latin1.checksum != utf8.checksum

    def test_a_notice_keeps_its_text_and_its_link(self):
        release = bdpm.read_release(FIXTURES / "utf8")
        notice = release.notices[0]
        assert notice["text"].startswith("Isotrétinoïne : rappel")
        assert notice["link"].startswith("https://ansm.sante.fr/")
        assert notice["starts_on"] == dt.date(2024, 1, 15)

    def test_a_missing_required_file_is_named(self, tmp_path):
        (tmp_path / "CIS_bdpm.txt").write_text("")
        with pytest.raises(FileNotFoundError, match=r"CIS_CIP_bdpm\.txt"):
            bdpm.read_release(tmp_path)

    def test_short_lines_and_unknown_references_are_skipped(self, tmp_path):
        (tmp_path / "CIS_bdpm.txt").write_text("60000011\tA\tcomprimé\torale\tx\ty\tCommercialisée\t01/01/2000\n"
                                               "60000011\tA bis\tcomprimé\torale\tx\ty\tCommercialisée\t01/01/2000\n"
                                               "60000028\tB\n")
        (tmp_path / "CIS_CIP_bdpm.txt").write_text("60000099\t3000107\tboîte\tx\ty\t\t3400930001073\n")
        (tmp_path / "CIS_COMPO_bdpm.txt").write_text("60000011\tcomprimé\t1\tX\t1 mg\tun\tZZ\t1\n")
        release = bdpm.read_release(tmp_path)
        assert [(i.line, i.field) for i in release.issues] == [
            (2, "code CIS"), (3, "colonnes"), (1, "code CIS"), (1, "nature")]
        assert len(release.specialities) == 1
