"""PDF documents in French with an embedded Unicode font (DejaVu Sans, shipped in ``kit/fonts`` with its licence).

The standard PDF fonts cover Latin-1 only ("€" and "œ" are outside it). ``UnicodePDF`` embeds DejaVu Sans (regular,
bold, oblique; fpdf2 writes only the glyphs used) and replaces any character the font lacks by "?" before it
reaches fpdf2, which would otherwise log the missing characters, and logs must never carry document text.

Each font is read once per process. fpdf2's ``add_font`` parses the whole file for every document (the character
map and the width of each of its ~6,000 glyphs: about half of a short report's CPU), and the document's output
then cuts the parsed font down to the glyphs used, in place, so a parsed font cannot serve two documents as it is.
``_ParsedFont`` keeps what does not change from one document to the next (the character map, the widths, the
glyph ids, the descriptor: what fpdf2's own ``TTFFont.__deepcopy__`` shares between copies) and gives each
document a font of its own over a fresh, lazily read ``fontTools`` font opened on the file's bytes held in memory,
which is the font the subsetting then cuts down (with the glyph names already derived, which fontTools would
otherwise derive again from the character map for each document). The PDF is byte for byte the one ``add_font``
would have made (``tests/kit/test_pdf.py``).
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

from fontTools import ttLib
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FAMILY = "DejaVu"
_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
REPLACEMENT = "?"


class _ParsedFont:
    """One font file, parsed once: what every document's copy of it shares, and the bytes to reopen it from."""

    def __init__(self, template: TTFFont) -> None:
        self.template = template
        path = Path(str(template.ttffile))
        self.data = path.read_bytes()
        # A font fpdf2 altered while parsing it (a drawn .notdef, a variable font instanced, a WOFF unpacked) is not
        # the file reopened: such fonts are not shared (DejaVu Sans is none of them).
        self.shareable = (not template.is_compressed and "glyf" in template.ttfont
                          and ".notdef" in template.ttfont.getGlyphOrder())
        # DejaVu's 'post' table names no glyphs: fontTools derives the names from the character map, in each
        # document's font again unless it is given them.
        self.glyph_order = tuple(template.ttfont.getGlyphOrder())
        template.ttfont.close()  # every document reopens its own from ``data``

    def for_document(self, pdf: FPDF) -> TTFFont:
        """A copy for one document: shared read-only parts, its own widths table, subset and fontTools font."""
        template = self.template
        font: TTFFont = copy.copy(template)  # slots copied one by one: the same shared attributes
        font.i = len(pdf.fonts) + 1
        font.cw = copy.copy(template.cw)  # a defaultdict: reading an unknown character inserts its width
        font.glyph_ids = dict(template.glyph_ids)
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font.ttfont = ttLib.TTFont(BytesIO(self.data), recalcTimestamp=False, lazy=True)
        font.ttfont.setGlyphOrder(list(self.glyph_order))  # the subsetting replaces it, never edits it
        font.subset = SubsetMap(font)
        font.color_font = None  # DejaVu Sans has no colour glyphs (checked when the template is parsed)
        return font


_parsed: dict[str, _ParsedFont] = {}
_parsing = threading.Lock()


def _parsed_font(style: str) -> _ParsedFont:
    found = _parsed.get(style)
    if found is None:
        with _parsing:
            found = _parsed.get(style)
            if found is None:
                scratch = FPDF()
                scratch.add_font(FAMILY, style, str(FONT_DIR / _FILES[style]))
                template = scratch.fonts[f"{FAMILY.lower()}{style}"]
                if not isinstance(template, TTFFont) or template.color_font is not None:
                    raise RuntimeError(f"police {_FILES[style]} inattendue")
                found = _parsed[style] = _ParsedFont(template)
    return found


class UnicodePDF(FPDF):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for style, filename in _FILES.items():
            parsed = _parsed_font(style)
            if parsed.shareable:
                self.fonts[f"{FAMILY.lower()}{style}"] = parsed.for_document(self)
            else:
                self.add_font(FAMILY, style, str(FONT_DIR / filename))
        self.set_font(FAMILY, "", 10)

    def normalize_text(self, text: str) -> str:
        font = self.current_font
        cmap = getattr(font, "cmap", None)
        if self.is_ttf_font and cmap:
            text = "".join(c if ord(c) in cmap or c in "\n\r\t" else REPLACEMENT for c in text)
        return super().normalize_text(text)


class RenderedDocuments:
    """The bytes of documents already written, by a digest of everything each was written from (per process).

    A document written twice from the same data is the same document: ``get_or_render(source, render)`` returns the
    bytes written the first time from an equal ``source`` (compared by the SHA-256 of its ``repr``, so ``source``
    must be a value whose ``repr`` shows all it holds, such as a dataclass of strings, numbers and dates), and
    otherwise calls ``render``. Any change in the data (a name corrected, an admission followed up, an age that
    turns) is another ``source`` and another document: nothing here can be stale. The caller checks who may read
    the document and records the access *before* asking, each time. The bytes stay in the process's memory only,
    like a response being sent: never on disk, gone at restart; the least recently used go first past
    ``max_entries`` or ``max_bytes``.
    """

    def __init__(self, max_entries: int = 64, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._documents: OrderedDict[bytes, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get_or_render(self, source: object, render: Callable[[], bytes]) -> bytes:
        key = hashlib.sha256(repr(source).encode("utf-8", "surrogatepass")).digest()
        with self._lock:
            found = self._documents.get(key)
            if found is not None:
                self._documents.move_to_end(key)
                return found
        document = render()  # outside the lock: two first readers may both write it, with the same result
        if len(document) <= self.max_bytes:
            with self._lock:
                if key not in self._documents:
                    self._documents[key] = document
                    self._size += len(document)
                    while len(self._documents) > self.max_entries or self._size > self.max_bytes:
                        _, dropped = self._documents.popitem(last=False)
                        self._size -= len(dropped)
        return document

    def clear(self) -> None:
        with self._lock:
            self._documents.clear()
            self._size = 0
