"""PDF documents in French with an embedded Unicode font (DejaVu Sans, shipped in ``kit/fonts`` with its licence).

The standard PDF fonts cover Latin-1 only ("€" and "œ" are outside it). ``UnicodePDF`` embeds DejaVu Sans (regular,
bold, oblique; fpdf2 writes only the glyphs used) and replaces any character the font lacks by "?" before it
reaches fpdf2, which would otherwise log the missing characters, and logs must never carry document text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FAMILY = "DejaVu"
_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
REPLACEMENT = "?"


class UnicodePDF(FPDF):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for style, filename in _FILES.items():
            self.add_font(FAMILY, style, str(FONT_DIR / filename))
        self.set_font(FAMILY, "", 10)

    def normalize_text(self, text: str) -> str:
        font = self.current_font
        cmap = getattr(font, "cmap", None)
        if self.is_ttf_font and cmap:
            text = "".join(c if ord(c) in cmap or c in "\n\r\t" else REPLACEMENT for c in text)
        return super().normalize_text(text)
