"""PDFs with the embedded Unicode font: French text and the euro sign as typed, unknown characters replaced."""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader

from maillage.kit.pdf import FAMILY, FONT_DIR, UnicodePDF


def render(*lines: str, style: str = "") -> str:
    pdf = UnicodePDF(format="A4")
    pdf.add_page()
    pdf.set_font(FAMILY, style, 10)
    for line in lines:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    return " ".join(p.extract_text() for p in PdfReader(io.BytesIO(bytes(pdf.output()))).pages)


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
