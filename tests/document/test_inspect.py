"""Content inspection with the libraries that own the formats: Pillow re-encodes images from their pixels,
pypdf parses PDFs and looks for active content.

Source: issue 8 and docs/adr/0007-document-uploads.md.
"""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from PIL import Image, ImageCms
from pypdf import PdfReader

from maillage.document import inspect, rules
from maillage.document.rules import FileRefused, Reason
from tests.document.conftest import corpus

MAX_PIXELS = 50_000_000


def check(data: bytes, name: str = "fichier", max_pixels: int = MAX_PIXELS, max_pages: int = 500):
    return inspect.check_content(rules.sniff(data), data, name, max_pixels=max_pixels, max_pages=max_pages)


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


class TestInspectImage:
    def test_a_cmyk_jpeg_with_a_profile_becomes_plain_rgb_without_profile(self):
        profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        data = encode(Image.new("CMYK", (40, 30), (0, 200, 200, 0)), "JPEG", icc_profile=profile)
        result = check(data)
        stored = Image.open(io.BytesIO(result.data))
        assert stored.mode == "RGB" and "icc_profile" not in stored.info
        red, green, blue = stored.getpixel((20, 15))
        assert red > 200 and green < 90 and blue < 90

    def test_an_srgb_profile_is_applied_then_dropped(self):
        profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        data = encode(Image.new("RGB", (20, 20), (10, 120, 240)), "PNG", icc_profile=profile)
        result = check(data)
        assert b"iCCP" not in result.data and Image.open(io.BytesIO(result.data)).getpixel((5, 5)) == (10, 120, 240)

    def test_a_16_bit_grey_png_keeps_its_depth(self):
        data = encode(Image.new("I;16", (10, 10), 40_000), "PNG")
        stored = Image.open(io.BytesIO(check(data).data))
        assert stored.mode.startswith("I") and stored.getpixel((1, 1)) == 40_000

    def test_a_lossless_webp_stays_lossless(self):
        data = encode(Image.new("RGB", (16, 16), (1, 2, 3)), "WEBP", lossless=True)
        result = check(data)
        assert result.data[12:16] == b"VP8L" and Image.open(io.BytesIO(result.data)).getpixel((3, 3)) == (1, 2, 3)

    def test_a_lossy_jpeg_is_re_encoded_at_quality_90(self):
        result = check(corpus("ok_polyglot_jpeg_zip.jpg"))
        assert result.media_type == "image/jpeg" and (result.width, result.height) == (64, 48)
        assert result.data != corpus("ok_polyglot_jpeg_zip.jpg")[: len(result.data)]

    def test_a_multi_picture_jpeg_keeps_its_primary_picture_only(self):
        """Cameras write MPO (a primary JPEG plus depth maps or previews): not an animation."""
        primary, extra = Image.new("RGB", (32, 24), (200, 0, 0)), Image.new("RGB", (32, 24), (0, 0, 200))
        data = encode(primary, "MPO", save_all=True, append_images=[extra])
        stored = Image.open(io.BytesIO(check(data, "photo.jpg").data))
        assert stored.format == "JPEG" and getattr(stored, "n_frames", 1) == 1
        assert stored.getpixel((5, 5))[0] > 150

    def test_a_damaged_exif_block_does_not_block_the_photo(self):
        data = encode(Image.new("RGB", (8, 8), "white"), "JPEG", exif=b"Exif\x00\x00MM\x00*\xff\xff\xff\xff")
        result = check(data)
        assert b"Exif" not in result.data

    def test_pillows_own_bomb_limit_follows_the_setting(self, monkeypatch):
        """When the header cannot be read ahead, Pillow's MAX_IMAGE_PIXELS (set to the setting) still refuses."""
        monkeypatch.setattr(rules, "declared_dimensions", lambda kind, data: None)
        for name in ("bomb_dimensions.png", "huge.png", "bomb_deflate.png"):
            with pytest.raises(FileRefused) as refused:
                check(corpus(name))
            assert refused.value.reason == Reason.TOO_MANY_PIXELS and refused.value.status_code == 413
        assert Image.MAX_IMAGE_PIXELS == MAX_PIXELS

    def test_a_smaller_pixel_cap_refuses_an_ordinary_photo(self):
        with pytest.raises(FileRefused) as refused:
            check(corpus("ok_photo_gps_exif.jpg"), max_pixels=10_000)
        assert "320 × 240" in refused.value.message

    def test_a_decompression_bomb_warning_is_an_error_for_the_whole_process(self):
        """Importing the module turns Pillow's warning into an error everywhere (checked in a fresh process,
        since pytest resets warning filters around each test)."""
        script = (
            "import io, maillage.document.inspect\n"
            "from PIL import Image\n"
            "buf = io.BytesIO(); Image.new('L', (12, 12)).save(buf, 'PNG'); Image.MAX_IMAGE_PIXELS = 100\n"
            "try:\n    Image.open(io.BytesIO(buf.getvalue()))\n"
            "except Image.DecompressionBombWarning:\n    print('refused')\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert done.stdout.strip() == "refused", done.stderr


def _pdf_with(extra_objects: list[bytes], catalog_extra: bytes = b"", unreferenced: bytes = b"") -> bytes:
    from tests.corpus.make_corpus import _pdf, _report_objects

    data = _pdf(_report_objects(catalog_extra=catalog_extra) + extra_objects)
    if unreferenced:
        head, _, tail = data.partition(b"xref\n")
        offset_shift = len(unreferenced)
        startxref = int(tail.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
        tail = tail.replace(b"startxref\n%d\n" % startxref, b"startxref\n%d\n" % (startxref + offset_shift))
        data = head + unreferenced + b"xref\n" + tail
    return data


class TestInspectPdf:
    def test_the_object_walk_finds_javascript_that_the_raw_scan_cannot_see(self):
        """A string holding ``stream``…``endstream`` hides the names from the raw scan, not from the parser."""
        action = b"<< /T (stream\n) /S /JavaScript /JS (app.alert\\(1\\)) /U (endstream) >>"
        data = _pdf_with([action], catalog_extra=b" /OpenAction 8 0 R")
        assert rules.raw_pdf_active_content(data) is None
        with pytest.raises(FileRefused) as refused:
            check(data)
        assert refused.value.reason == Reason.ACTIVE_CONTENT and "JavaScript" in refused.value.message

    def test_the_raw_scan_finds_an_object_the_cross_reference_table_leaves_out(self):
        hidden = b"99 0 obj\n<< /S /Launch /F (cmd.exe) >>\nendobj\n"
        data = _pdf_with([], unreferenced=hidden)
        reader = PdfReader(io.BytesIO(data))
        assert len(reader.pages) == 2 and inspect._active_content(reader) is None
        with pytest.raises(FileRefused) as refused:
            check(data)
        assert "lancer un programme" in refused.value.message

    @pytest.mark.parametrize("name", ["javascript_openaction.pdf", "javascript_escaped_names.pdf",
                                      "launch_action.pdf", "embedded_file.pdf", "xfa_form.pdf"])
    def test_the_object_walk_alone_refuses_every_active_corpus_pdf(self, monkeypatch, name):
        monkeypatch.setattr(rules, "raw_pdf_active_content", lambda data: None)
        with pytest.raises(FileRefused) as refused:
            check(corpus(name))
        assert refused.value.reason == Reason.ACTIVE_CONTENT

    def test_links_and_a_goto_open_action_are_not_active_content(self):
        link = b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << /S /URI /URI (https://has-sante.fr) >> >>"
        data = _pdf_with([link, b"[4 0 R /Fit]"], catalog_extra=b" /OpenAction 9 0 R")
        assert check(data).page_count == 2

    def test_a_pdf_with_too_many_objects_is_refused(self, monkeypatch):
        monkeypatch.setattr(rules, "MAX_PDF_OBJECTS", 5)
        with pytest.raises(FileRefused) as refused:
            check(corpus("ok_report.pdf"))
        assert "trop d'objets" in refused.value.message

    def test_a_pdf_without_pages_is_refused(self):
        from tests.corpus.make_corpus import _pdf

        data = _pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])
        with pytest.raises(FileRefused) as refused:
            check(data)
        assert "aucune page" in refused.value.message

    def test_trailing_bytes_after_eof_within_the_window_are_tolerated(self):
        assert check(corpus("ok_report.pdf") + b"\n" * 500).page_count == 2


def _name(value: str):
    from pypdf.generic import NameObject

    return NameObject(value)


def _action(kind: str):
    """One action of each kind, as a PDF writer would make it (finding 9 of issue 15)."""
    from pypdf.generic import ArrayObject, DictionaryObject, NumberObject, TextStringObject

    fields = {
        "uri": {"/S": _name("/URI"), "/URI": TextStringObject("https://collecte.example/pixel?dossier=42")},
        "gotor": {"/S": _name("/GoToR"), "/F": TextStringObject("\\\\serveur.example\\partage\\a.pdf"),
                  "/D": ArrayObject([NumberObject(0), _name("/Fit")])},
        "launch": {"/S": _name("/Launch"), "/F": TextStringObject("cmd.exe")},
        "javascript": {"/S": _name("/JavaScript"), "/JS": TextStringObject("app.alert(1)")},
        "goto": {"/S": _name("/GoTo"), "/D": ArrayObject([NumberObject(0), _name("/Fit")])},
    }[kind]
    return DictionaryObject({_name(k): v for k, v in fields.items()})


def _pypdf_with(kind: str, where: str) -> bytes:
    """A one-page PDF built by pypdf whose action ``kind`` is reached from ``where``."""
    from pypdf import PdfWriter
    from pypdf.generic import ArrayObject, DictionaryObject, FloatObject

    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    action = writer._add_object(_action(kind))
    page = writer.pages[0]
    if where == "open_action":
        writer._root_object[_name("/OpenAction")] = action
    elif where == "document_aa":   # WC: before the document closes
        writer._root_object[_name("/AA")] = DictionaryObject({_name("/WC"): action})
    elif where == "page_aa":       # O: when the page is opened
        page[_name("/AA")] = DictionaryObject({_name("/O"): action})
    elif where == "annotation_aa":  # E: when the pointer enters the zone
        annotation = DictionaryObject({
            _name("/Type"): _name("/Annot"), _name("/Subtype"): _name("/Link"),
            _name("/Rect"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(595), FloatObject(842)]),
            _name("/AA"): DictionaryObject({_name("/E"): action}),
        })
        page[_name("/Annots")] = ArrayObject([writer._add_object(annotation)])
    elif where == "next_of_open_action":  # a harmless GoTo first, the action in its /Next chain
        first = _action("goto")
        first[_name("/Next")] = ArrayObject([action])
        writer._root_object[_name("/OpenAction")] = writer._add_object(first)
    elif where == "clicked_link":
        annotation = DictionaryObject({
            _name("/Type"): _name("/Annot"), _name("/Subtype"): _name("/Link"),
            _name("/Rect"): ArrayObject([FloatObject(0), FloatObject(0), FloatObject(10), FloatObject(10)]),
            _name("/A"): action,
        })
        page[_name("/Annots")] = ArrayObject([writer._add_object(annotation)])
    else:
        raise AssertionError(where)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


_AUTOMATIC = ["open_action", "document_aa", "page_aa", "annotation_aa", "next_of_open_action"]


class TestActivePdfActions:
    """Finding 9 of issue 15: PDFs carrying a remote go-to, a link opened by itself, a launch or JavaScript
    action were to be refused (refused rather than stripped: see the module docstring and ADR 0007)."""

    @pytest.mark.parametrize("where", _AUTOMATIC)
    def test_a_link_the_viewer_opens_by_itself_is_refused(self, where):
        with pytest.raises(FileRefused) as refused:
            check(_pypdf_with("uri", where), "compte-rendu.pdf")
        assert refused.value.reason == Reason.ACTIVE_CONTENT
        assert refused.value.message.startswith("« compte-rendu.pdf » contient un lien qui s'ouvre tout seul")

    @pytest.mark.parametrize("where", [*_AUTOMATIC, "clicked_link"])
    def test_a_remote_go_to_is_refused_wherever_it_is(self, where):
        with pytest.raises(FileRefused) as refused:
            check(_pypdf_with("gotor", where))
        assert "un renvoi vers un autre fichier" in refused.value.message

    @pytest.mark.parametrize("where", [*_AUTOMATIC, "clicked_link"])
    def test_a_launch_action_is_refused_wherever_it_is(self, where):
        with pytest.raises(FileRefused) as refused:
            check(_pypdf_with("launch", where))
        assert "lancer un programme" in refused.value.message

    @pytest.mark.parametrize("where", [*_AUTOMATIC, "clicked_link"])
    def test_a_javascript_action_is_refused_wherever_it_is(self, where):
        with pytest.raises(FileRefused) as refused:
            check(_pypdf_with("javascript", where))
        assert "du JavaScript" in refused.value.message

    def test_the_object_walk_alone_refuses_a_remote_go_to_and_an_automatic_link(self, monkeypatch):
        monkeypatch.setattr(rules, "raw_pdf_active_content", lambda data: None)
        for kind in ("uri", "gotor"):
            with pytest.raises(FileRefused):
                check(_pypdf_with(kind, "page_aa"))

    def test_the_raw_scan_alone_finds_a_remote_go_to(self):
        assert rules.raw_pdf_active_content(_pypdf_with("gotor", "clicked_link")) == "un renvoi vers un autre fichier"

    def test_a_link_the_reader_clicks_is_kept(self):
        assert check(_pypdf_with("uri", "clicked_link")).page_count == 1

    @pytest.mark.parametrize("where", _AUTOMATIC)
    def test_a_go_to_inside_the_document_is_kept_even_when_automatic(self, where):
        assert check(_pypdf_with("goto", where)).page_count == 1

    def test_a_next_chain_that_loops_is_walked_once(self):
        from pypdf import PdfWriter
        from pypdf.generic import ArrayObject

        writer = PdfWriter()
        writer.add_blank_page(595, 842)
        first = writer._add_object(_action("goto"))
        first.get_object()[_name("/Next")] = ArrayObject([first])
        writer._root_object[_name("/OpenAction")] = first
        out = io.BytesIO()
        writer.write(out)
        assert check(out.getvalue()).page_count == 1
