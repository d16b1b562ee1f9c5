"""PDFs with the embedded Unicode font: French text and the euro sign as typed, unknown characters replaced."""

from __future__ import annotations

import datetime as dt
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from fpdf import FPDF
from pypdf import PdfReader

from maillage.kit.pdf import _FILES, FAMILY, FONT_DIR, RenderedDocuments, UnicodePDF

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


@dataclass(frozen=True)
class Source:
    name: str
    born: dt.date
    at: dt.datetime
    acts: list[str]


class TestRenderedDocuments:
    def source(self, **changes: Any) -> Source:
        return Source(**({"name": "Mme Zoé Ærø", "born": dt.date(1950, 3, 2), "at": WHEN, "acts": []} | changes))

    def test_an_equal_source_is_written_once_and_any_difference_writes_again(self):
        cache = RenderedDocuments()
        calls: list[str] = []
        later = WHEN + dt.timedelta(seconds=1)
        for source in (self.source(), self.source(), self.source(name="Mme Zoé Aero"), self.source(acts=["TE2"]),
                       self.source(at=later)):
            cache.get_or_render(source, lambda s=source: calls.append(repr(s)) or repr(s).encode())
        assert len(calls) == 4

    def test_the_least_recently_read_go_first_past_the_count_or_the_size(self):
        cache = RenderedDocuments(max_entries=2, max_bytes=10)
        writes: list[str] = []

        def get(name: str, size: int = 4) -> bytes:
            return cache.get_or_render(name, lambda: writes.append(name) or name.encode()[:1] * size)

        get("a"), get("b"), get("a"), get("c")  # "b" is the least recently read when "c" arrives
        get("a")
        assert writes == ["a", "b", "c"]
        get("b")
        assert writes == ["a", "b", "c", "b"]
        get("d", size=8)  # 4 + 8 > 10: only "d" stays
        get("b")
        assert writes == ["a", "b", "c", "b", "d", "b"]
        assert get("e", size=11) == b"e" * 11 and get("e", size=11) and writes[-2:] == ["e", "e"], "too big: not kept"
