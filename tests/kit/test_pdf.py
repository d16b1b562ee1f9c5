"""PDFs with the embedded Unicode font: French text and the euro sign as typed, unknown characters replaced."""

from __future__ import annotations

import datetime as dt
import io
import logging
from concurrent.futures import ThreadPoolExecutor

from fpdf import FPDF
from pypdf import PdfReader

from maillage.kit.pdf import _FILES, FAMILY, FONT_DIR, UnicodePDF

WHEN = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)
LINES = ("Compte rendu de téléexpertise", "Reste à payer : 23,00 € — « œuvre » l’été", "Mme Zoé Ærø, née le 02/03/1950")


def render(*lines: str, style: str = "") -> str:
    pdf = UnicodePDF(format="A4")
    pdf.add_page()
    pdf.set_font(FAMILY, style, 10)
    for line in lines:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    return " ".join(p.extract_text() for p in PdfReader(io.BytesIO(bytes(pdf.output()))).pages)


def write(pdf: FPDF, lines: tuple[str, ...] = LINES) -> bytes:
    pdf.set_creation_date(WHEN)
    pdf.add_page()
    for style in ("B", "", "I"):
        pdf.set_font(FAMILY, style, 10)
        for line in lines:
            pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


class PlainUnicodePDF(UnicodePDF):
    """The same document with fpdf2's own ``add_font`` for each, parsing the files again (what the cache replaces)."""

    def __init__(self) -> None:
        FPDF.__init__(self, format="A4")
        for style, filename in _FILES.items():
            self.add_font(FAMILY, style, str(FONT_DIR / filename))
        self.set_font(FAMILY, "", 10)


class TestParsedFontsShared:
    def test_a_document_is_byte_for_byte_the_one_fpdf2s_add_font_makes(self):
        assert write(UnicodePDF(format="A4")) == write(PlainUnicodePDF())

    def test_each_document_embeds_the_glyphs_it_uses_whatever_the_one_before_used(self):
        first = write(UnicodePDF(format="A4"), ("Ωmega ÿ",))  # the first document's subset must not leak
        second = write(UnicodePDF(format="A4"))
        assert second == write(PlainUnicodePDF())
        assert first == write(PlainUnicodePDF(), ("Ωmega ÿ",))

    def test_documents_written_at_once_in_several_threads_are_each_complete(self):
        texts = [f"Patient n° {i} — {chr(0x3A9 + i % 5)} {'é' * i}" for i in range(12)]
        with ThreadPoolExecutor(4) as pool:
            made = list(pool.map(lambda t: write(UnicodePDF(format="A4"), (t,)), texts))
        for text, data in zip(texts, made, strict=True):
            assert data == write(PlainUnicodePDF(), (text,))
            assert text in PdfReader(io.BytesIO(data)).pages[0].extract_text()


class TestUnicodePDF:
    def test_french_text_and_the_euro_sign_print_in_every_style(self):
        for style in ("", "B", "I"):
            assert "Reste à payer : 23,00 € — « œuvre » l’été" in render("Reste à payer : 23,00 € — « œuvre » l’été",
                                                                        style=style)

    def test_a_character_the_font_lacks_becomes_a_question_mark_and_is_not_logged(self, caplog):
        with caplog.at_level(logging.DEBUG):
            text = render("Patient 漢字 vu")
        assert "Patient ?? vu" in text
        assert "漢" not in caplog.text

    def test_the_font_files_ship_with_their_licence(self):
        assert (FONT_DIR / "LICENSE-DejaVu.txt").read_text().count("Bitstream") > 0
        assert all((FONT_DIR / name).stat().st_size > 50_000 for name in
                   ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf"))
