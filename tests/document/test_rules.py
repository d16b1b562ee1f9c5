"""Pure rules of documents: sniffing by content, claims, names, limits, PDF active-content names.

Source: issue 8 and docs/adr/0007-document-uploads.md. Signatures: JPEG (ITU T.81 SOI ``FFD8FF``),
PNG (ISO/IEC 15948 §5.2), RIFF/WebP (RFC 9649 §2), PDF (ISO 32000-1 §7.5.2), ISO-BMFF ``ftyp`` brands
(ISO/IEC 14496-12 §4.3; HEIF ISO/IEC 23008-12), DICOM Part 10 (PS3.10 §7.1: 128-byte preamble then ``DICM``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import ClassVar

import pytest

from maillage.document import rules
from maillage.document.rules import FileRefused, Reason
from maillage.exceptions import Conflict, PermissionDenied, ValidationFailed
from tests.document.conftest import corpus


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (len(body) + 4).to_bytes(4, "big") + body + b"\x00" * 32


class TestSniff:
    @pytest.mark.parametrize("head,kind", [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", rules.JPEG),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", rules.PNG),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", rules.WEBP),
        (b"%PDF-1.4\n", rules.PDF),
        (b"GIF89a\x01\x00", rules.GIF),
        (b"II*\x00\x08\x00", rules.TIFF),
        (b"MM\x00*\x00\x08", rules.TIFF),
        (b"BM" + b"\x00" * 12 + b"\x28\x00\x00\x00", rules.BMP),
        (ftyp(b"heic", b"mif1", b"heic"), rules.HEIC),
        (ftyp(b"mif1", b"heic"), rules.HEIC),
        (ftyp(b"avif", b"mif1", b"avif"), rules.AVIF),
        (ftyp(b"isom", b"iso2", b"mp41"), rules.MEDIA),
        (b"RIFF\x10\x00\x00\x00AVI LIST", rules.MEDIA),
        (b"\x00" * 128 + b"DICM\x02\x00", rules.DICOM),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + b"\x00" * 20 + b"photos/a.jpg", rules.ZIP),
        (b"PK\x03\x04" + b"\x00" * 26 + b"[Content_Types].xml", rules.OFFICE),
        (b"PK\x03\x04" + b"\x00" * 26 + b"mimetypeapplication/vnd.oasis.opendocument.text", rules.OPENDOCUMENT),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", rules.OFFICE),
        (b"\x1f\x8b\x08\x00", rules.ARCHIVE),
        (b"7z\xbc\xaf\x27\x1c", rules.ARCHIVE),
        (b"Rar!\x1a\x07\x01\x00", rules.ARCHIVE),
        (b"MZ\x90\x00", rules.EXECUTABLE),
        (b"\x7fELF\x02\x01", rules.EXECUTABLE),
        (b"\xcf\xfa\xed\xfe", rules.EXECUTABLE),
        (b"#!/usr/bin/env python\n", rules.SCRIPT),
        (b"<?php system($_GET['c']);", rules.SCRIPT),
        (b"%!PS-Adobe-3.0", rules.POSTSCRIPT),
        (b"{\\rtf1\\ansi", rules.RTF),
        (b"\xef\xbb\xbf  <?xml version='1.0'?>\n<!-- x -->\n<svg xmlns='http://www.w3.org/2000/svg'>", rules.SVG),
        ("<svg onload=alert(1)>".encode("utf-16-le").join([b"\xff\xfe", b""]), rules.SVG),
        (b"\n\n<!DOCTYPE html><html>", rules.HTML),
        (b"<div><script>alert(1)</script></div>", rules.HTML),
        (b"<?xml version='1.0'?><note/>", rules.XML),
        ("Résultats : glycémie 5,4 mmol/L\n".encode(), rules.TEXT),
        (b"\x00\x01\x02\x03\x04binary", rules.UNKNOWN),
    ])
    def test_the_kind_comes_from_the_bytes(self, head, kind):
        assert rules.sniff(head) == kind

    def test_only_pdf_jpeg_png_and_webp_are_allowed(self):
        assert {k.key for k in rules.ALLOWED_KINDS} == {"pdf", "jpeg", "png", "webp"}
        assert all(k.media_type for k in rules.ALLOWED_KINDS)

    def test_a_multibyte_character_cut_at_the_sniff_window_is_still_text(self):
        text = ("é" * (rules.SNIFF_BYTES // 2 + 10)).encode()
        assert rules.sniff(text) == rules.TEXT


class TestCheckClaims:
    def test_matching_and_absent_claims_pass(self):
        for name, declared in [("a.jpg", "image/jpeg"), ("a.JPEG", "image/jpg; q=1"), ("a", None),
                               ("a.scan2026", "application/octet-stream"), ("a.jpg", "")]:
            rules.check_claims("a", rules.JPEG, name, declared)

    def test_an_extension_that_names_another_kind_is_a_lie(self):
        with pytest.raises(FileRefused) as refused:
            rules.check_claims("photo.png", rules.JPEG, "photo.png", None)
        assert refused.value.reason == Reason.TYPE_MISMATCH
        assert "c'est en réalité une image JPEG" in refused.value.message and "« .jpg »" in refused.value.message

    def test_a_declared_type_that_names_another_kind_is_a_lie(self):
        with pytest.raises(FileRefused) as refused:
            rules.check_claims("a.pdf", rules.PDF, "a.pdf", "image/png")
        assert "déclaré comme « image/png » mais c'est en réalité un document PDF" in refused.value.message

    def test_an_unknown_declared_type_is_a_lie_too(self):
        with pytest.raises(FileRefused):
            rules.check_claims("a.pdf", rules.PDF, "a.pdf", "application/x-made-up")


class TestRefuseKind:
    def test_says_en_realite_only_when_a_claim_pointed_elsewhere(self):
        plain = rules.refuse_kind("a.svg", rules.SVG, "a.svg", "image/svg+xml")
        lie = rules.refuse_kind("a.png", rules.SVG, "a.png", None)
        assert "« a.svg » est une image SVG" in plain.message and "en réalité" not in plain.message
        assert "« a.png » est en réalité une image SVG" in lie.message
        assert plain.status_code == lie.status_code == 415


class TestCheckFilename:
    @pytest.mark.parametrize("raw,expected", [
        ("photo.jpg", "photo.jpg"),
        ("ordonnance scanne\u0301e.pdf", "ordonnance scannée.pdf"),   # NFD → NFC
        ("  compte   rendu .pdf  ", "compte rendu .pdf"),
        (".htaccess", "htaccess"),
        ("photo.jpg.", "photo.jpg"),
        ("zero\u200bwidth.png", "zerowidth.png"),
        ("soignant \U0001f9d1\u200d\u2695\ufe0f.png", "soignant \U0001f9d1\u200d\u2695\ufe0f.png"),
        (None, ""),
        ("", ""),
    ])
    def test_names_are_normalised_for_display(self, raw, expected):
        assert rules.check_filename(raw) == expected

    def test_long_names_are_cut_keeping_the_extension(self):
        name = rules.check_filename("a" * 400 + ".pdf")
        assert len(name) == rules.MAX_NAME_CHARS and name.endswith("a.pdf")

    @pytest.mark.parametrize("raw", ["../x.pdf", "a/b.pdf", "..\\x.pdf", "C:\\Users\\x.pdf", "..", "."])
    def test_paths_are_refused(self, raw):
        with pytest.raises(FileRefused) as refused:
            rules.check_filename(raw)
        assert refused.value.reason == Reason.BAD_NAME and "chemin" in refused.value.message

    @pytest.mark.parametrize("raw", ["a\x00.pdf", "a\r\n.pdf", "a\x1b[2J.pdf", "a\u202egpj.exe", "a\u2066.pdf",
                                     "a\u2028.pdf", "a\x7f.pdf", "a\ud800.pdf"])
    def test_control_and_bidirectional_characters_are_refused(self, raw):
        with pytest.raises(FileRefused) as refused:
            rules.check_filename(raw)
        assert "caractères de contrôle" in refused.value.message


class TestDisplayName:
    def test_the_real_extension_is_added_when_missing_or_foreign(self):
        assert rules.display_name("scan", rules.PDF) == "scan.pdf"
        assert rules.display_name("scan.2026", rules.PDF) == "scan.2026.pdf"
        assert rules.display_name("IMG.JPEG", rules.JPEG) == "IMG.JPEG"
        assert rules.display_name("", rules.PNG) == "document.png"


class TestContentDisposition:
    def test_an_ascii_fallback_and_the_exact_utf8_name(self):
        header = rules.content_disposition('ordonnance "scannée"; x.pdf')
        assert header == ("attachment; filename=\"ordonnance _scannee__ x.pdf\"; "
                          "filename*=UTF-8''ordonnance%20%22scann%C3%A9e%22%3B%20x.pdf")

    def test_a_name_with_nothing_ascii_falls_back_to_document(self):
        assert 'filename="document.pdf"' in rules.content_disposition("病歴.pdf")
        assert 'filename="document"' in rules.content_disposition("病歴")

    def test_the_header_is_pure_ascii(self):
        rules.content_disposition("\u202e\u00e9\u4e2d\r\n.pdf").encode("ascii")


class TestClean:
    def test_titles_are_trimmed_and_limited(self):
        assert rules.clean_title("  Bilan \n sanguin ") == "Bilan sanguin"
        assert rules.clean_title("   ") is None and rules.clean_title(None) is None
        with pytest.raises(ValidationFailed):
            rules.clean_title("x" * (rules.MAX_TITLE_CHARS + 1))


class TestLimits:
    def test_empty_and_oversized_files(self):
        with pytest.raises(FileRefused) as empty:
            rules.check_size("a.pdf", 0, 10)
        with pytest.raises(FileRefused) as large:
            rules.check_size("a.pdf", 3 * 1_048_576, 2 * 1_048_576)
        assert empty.value.reason == Reason.EMPTY
        assert large.value.status_code == 413 and "pèse 3 Mio" in large.value.message and "2 Mio" in large.value.message
        rules.check_size("a.pdf", 10, 10)

    def test_the_pixel_cap_is_inclusive_and_reads_in_french(self):
        rules.check_pixels("a.png", 5000, 10_000, 50_000_000)
        with pytest.raises(FileRefused) as refused:
            rules.check_pixels("a.png", 5001, 10_000, 50_000_000)
        assert "5\u202f001 × 10\u202f000, soit 50,0 millions de pixels ; 50,0 millions au plus" in refused.value.message

    def test_pages(self):
        rules.check_pages("a.pdf", 500, 500)
        with pytest.raises(FileRefused):
            rules.check_pages("a.pdf", 0, 500)
        with pytest.raises(FileRefused):
            rules.check_pages("a.pdf", 501, 500)

    def test_owner_count(self):
        rules.check_owner_count(1, 2)
        with pytest.raises(FileRefused) as refused:
            rules.check_owner_count(2, 2)
        assert refused.value.status_code == 409


class TestDeclaredDimensions:
    @pytest.mark.parametrize("name,expected", [
        ("bomb_dimensions.png", (100_000, 100_000)),
        ("bomb_dimensions.jpg", (65_500, 65_500)),
        ("huge.png", (10_000, 6_000)),
        ("ok_photo_gps_exif.jpg", (320, 240)),
        ("ok_photo_exif.webp", (160, 120)),
    ])
    def test_dimensions_are_read_from_the_header_without_decoding(self, name, expected):
        data = corpus(name)
        assert rules.declared_dimensions(rules.sniff(data), data) == expected

    def test_webp_lossless_and_extended_headers(self):
        lossless = b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f" + ((99) | (49 << 14)).to_bytes(4, "little")
        extended = b"RIFF\x00\x00\x00\x00WEBPVP8X" + b"\x00" * 8 + (639).to_bytes(3, "little") + (479).to_bytes(
            3, "little")
        assert rules.declared_dimensions(rules.WEBP, lossless) == (100, 50)
        assert rules.declared_dimensions(rules.WEBP, extended) == (640, 480)

    def test_a_jpeg_without_frame_header_has_none(self):
        assert rules.declared_dimensions(rules.JPEG, b"\xff\xd8\xff\xd9") is None


class TestRawPdfActiveContent:
    @pytest.mark.parametrize("raw,label", [
        (b"<< /S /JavaScript /JS (x) >>", "JavaScript"),
        (b"<< /S /J#61vaScript >>", "JavaScript"),
        (b"<</Type/Action/S/Launch/F(cmd)>>", "une action qui peut lancer un programme"),
        (b"<< /AcroForm << /XFA 9 0 R >> >>", "un formulaire XFA"),
        (b"<< /Names << /EmbeddedFiles 3 0 R >> >>", "un fichier incorporé"),
    ])
    def test_names_outside_streams_are_found(self, raw, label):
        assert rules.raw_pdf_active_content(b"%PDF-1.7\n" + raw) == label

    def test_names_inside_stream_bodies_are_not_active(self):
        data = b"%PDF-1.7\n1 0 obj << /Length 20 >>\nstream\n/JS /JavaScript x\nendstream\nendobj\n%%EOF"
        assert rules.raw_pdf_active_content(data) is None

    def test_a_clean_report_has_none(self):
        assert rules.raw_pdf_active_content(corpus("ok_report.pdf")) is None


class TestOwnersAndDeletion:
    def test_owner_formats(self):
        rules.check_owner("teleexpertise_request", str(uuid.uuid4()))
        for owner_type, owner_id in [("Patient", "1"), ("patient", "a b"), ("patient", "x" * 101)]:
            with pytest.raises(ValidationFailed):
                rules.check_owner(owner_type, owner_id)

    def test_only_the_uploader_deletes(self):
        me, other = uuid.uuid4(), uuid.uuid4()
        rules.check_may_delete(me, me)
        with pytest.raises(PermissionDenied):
            rules.check_may_delete(me, other)


# --- issue 20: types, statuses, confidentiality, retention ------------------------------------------------------------


class TestDocumentTypes:
    def test_the_table_holds_the_loinc_codes_of_the_issue_with_their_class(self):
        """LOINC document codes (loinc.org): consult note, summary, discharge summary, prescription, photograph, lab
        report."""
        expected = {"11488-4": "report", "34133-9": "summary", "18842-5": "summary", "57833-6": "prescription",
                    "72170-4": "image", "11502-2": "laboratory"}
        assert {c: rules.DOCUMENT_TYPES[c].document_class.value for c in expected} == expected

    def test_every_code_has_the_loinc_shape_and_a_french_label(self):
        for code, kind in rules.DOCUMENT_TYPES.items():
            digits, check = code.split("-")
            assert digits.isdigit() and check.isdigit() and len(check) == 1
            assert kind.code == code and kind.label and kind.display

    def test_every_code_passes_the_loinc_mod10_check_digit(self):
        """LOINC codes end with a Mod 10 check digit (LOINC Users' Guide, appendix on check digits)."""
        def mod10(digits: str) -> int:
            odd = digits[::-1][0::2]
            even = digits[::-1][1::2]
            doubled = "".join(str(int(d) * 2) for d in odd)
            total = sum(int(c) for c in doubled) + sum(int(c) for c in even)
            return (10 - total % 10) % 10

        for code in rules.DOCUMENT_TYPES:
            digits, check = code.split("-")
            assert mod10(digits) == int(check), code

    def test_an_unknown_code_is_refused_in_french(self):
        with pytest.raises(ValidationFailed, match="Type de document inconnu"):
            rules.document_type("12345-6")

    def test_an_untyped_image_is_a_photograph_and_a_pdf_a_summary(self):
        assert rules.default_type_for("image/png") == "72170-4"
        assert rules.default_type_for("application/pdf") == "34133-9"


class TestStatusTransitions:
    """Modelled on FHIR R4 DocumentReference.status: current | superseded | entered-in-error."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("current", "superseded"), ("current", "entered_in_error"), ("superseded", "entered_in_error")}

    @pytest.mark.parametrize("current", list(rules.Status))
    @pytest.mark.parametrize("target", list(rules.Status))
    def test_each_pair_is_allowed_exactly_when_listed(self, current, target):
        allowed = (current.value, target.value) in self.ALLOWED
        assert rules.can_transition(current, target) is allowed
        if allowed:
            assert rules.check_transition(current, target) is target
        else:
            with pytest.raises(Conflict):
                rules.check_transition(current, target)

    def test_only_the_current_version_gets_a_new_version(self):
        rules.check_new_version_of(rules.Status.CURRENT)
        for status in (rules.Status.SUPERSEDED, rules.Status.ENTERED_IN_ERROR):
            with pytest.raises(Conflict, match="version en vigueur"):
                rules.check_new_version_of(status)

    def test_fhir_statuses(self):
        assert [s.fhir for s in rules.Status] == ["current", "superseded", "entered-in-error"]

    def test_an_error_needs_a_reason_of_five_characters_at_least(self):
        with pytest.raises(ValidationFailed, match="pourquoi"):
            rules.clean_error_reason("  ab ")
        assert rules.clean_error_reason("  Mauvais   patient ") == "Mauvais patient"
        with pytest.raises(ValidationFailed, match="trop long"):
            rules.clean_error_reason("x" * 501)


class TestConfidentiality:
    def test_a_normal_document_is_seen_by_anyone_who_sees_the_patient(self):
        a, b = uuid.uuid4(), uuid.uuid4()
        assert rules.may_see(rules.Confidentiality.NORMAL, author_id=a, actor_id=b, same_team=False)

    def test_a_restricted_document_is_seen_by_its_author_and_their_team_only(self):
        a, b = uuid.uuid4(), uuid.uuid4()
        r = rules.Confidentiality.RESTRICTED
        assert rules.may_see(r, author_id=a, actor_id=a, same_team=False)
        assert rules.may_see(r, author_id=a, actor_id=b, same_team=True)
        assert not rules.may_see(r, author_id=a, actor_id=b, same_team=False)

    def test_hl7_confidentiality_codes(self):
        assert (rules.Confidentiality.NORMAL.hl7, rules.Confidentiality.RESTRICTED.hl7) == ("N", "R")


class TestActDate:
    def test_today_and_the_past_are_accepted_the_future_is_not(self):
        today = dt.date(2026, 12, 7)
        assert rules.check_act_date(today, today) == today
        assert rules.check_act_date(dt.date(2001, 1, 1), today) == dt.date(2001, 1, 1)
        with pytest.raises(ValidationFailed, match="futur"):
            rules.check_act_date(dt.date(2026, 12, 8), today)


class TestRetention:
    """CSP art. R1112-7: the medical record is kept twenty years from the last stay or consultation, and at least
    until the patient's 28th birthday."""

    RULE = rules.retention_rule(rules.DocumentClass.REPORT, dt.date(2026, 12, 7))

    def test_every_class_takes_the_medical_record_rule_with_its_source(self):
        for klass in rules.DocumentClass:
            rule = rules.retention_rule(klass, dt.date(2026, 12, 7))
            assert (rule.years_after_last_care, rule.until_age) == (20, 28)
            assert "R1112-7" in rule.source

    def test_no_rule_before_its_date_of_effect(self):
        with pytest.raises(ValueError):
            rules.retention_rule(rules.DocumentClass.REPORT, dt.date(2005, 12, 31))

    def test_the_latest_rule_in_force_on_the_day_wins(self):
        old = rules.RetentionRule(rules.DocumentClass.IMAGE, dt.date(2006, 1, 4), 20, 28, "ancienne")
        new = rules.RetentionRule(rules.DocumentClass.IMAGE, dt.date(2030, 1, 1), 10, None, "nouvelle")
        assert rules.retention_rule(rules.DocumentClass.IMAGE, dt.date(2029, 12, 31), (old, new)) is old
        assert rules.retention_rule(rules.DocumentClass.IMAGE, dt.date(2030, 1, 1), (old, new)) is new

    def test_twenty_years_after_the_last_care_for_an_adult(self):
        until = rules.retained_until(self.RULE, last_care=dt.date(2006, 3, 15), birth_date=dt.date(1950, 1, 1))
        assert until == dt.date(2026, 3, 15)

    def test_a_child_s_record_is_kept_until_the_28th_birthday(self):
        until = rules.retained_until(self.RULE, last_care=dt.date(2000, 6, 1), birth_date=dt.date(1995, 9, 10))
        assert until == dt.date(2023, 9, 10)

    def test_a_29_february_lands_on_1_march_in_a_common_year(self):
        assert rules.add_years(dt.date(2004, 2, 29), 20) == dt.date(2024, 2, 29)
        assert rules.add_years(dt.date(2004, 2, 29), 21) == dt.date(2025, 3, 1)
        until = rules.retained_until(self.RULE, last_care=dt.date(2008, 2, 29), birth_date=dt.date(1960, 5, 5))
        assert until == dt.date(2028, 2, 29)
        child = rules.retained_until(self.RULE, last_care=dt.date(1990, 1, 1), birth_date=dt.date(1996, 2, 29))
        assert child == dt.date(2024, 2, 29)

    def test_purge_only_the_day_after_the_last_day_kept_and_never_under_hold(self):
        last = dt.date(2026, 3, 15)
        assert not rules.may_purge(retained_until_day=last, today=last, legal_hold=False)
        assert rules.may_purge(retained_until_day=last, today=last + dt.timedelta(days=1), legal_hold=False)
        assert not rules.may_purge(retained_until_day=last, today=last + dt.timedelta(days=1), legal_hold=True)
