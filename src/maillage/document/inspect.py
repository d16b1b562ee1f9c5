"""Content inspection: open each accepted file with the library that owns its format.

- Images (Pillow): the pixel count is checked from the header before decoding, Pillow's own bomb limit
  (``Image.MAX_IMAGE_PIXELS``) is set to the same value and its warning is an error; the whole image is
  then decoded (a truncated or corrupt file fails here), turned upright from its EXIF orientation,
  converted to sRGB, and re-encoded from its pixels alone into a fresh image: no EXIF, GPS, XMP, ICC,
  comment or text chunk survives, nor anything appended after the image (polyglots).
- PDF (pypdf): must end with ``%%EOF``, parse, not be encrypted, have 1 to ``max_pages`` pages, and carry
  no active content (JavaScript, launch, remote go-to and submit actions, embedded files, XFA, rich media)
  anywhere in its objects or in its raw bytes, and no link a viewer opens by itself (``/URI`` reached from
  ``/OpenAction`` or ``/AA``). Accepted PDFs are stored as sent: refusing is simpler, and honest, than
  stripping active content (stripping means rewriting the file, and a rewritten file is no longer the
  document the sender signed or printed; the sender can reprint it, we cannot know what else to drop).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageCms, ImageOps
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, NameObject

from maillage.document import rules
from maillage.document.rules import FileKind, FileRefused, Reason

# A decompression bomb warning is an error, for every Pillow call of the process (set once, deliberately).
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

JPEG_QUALITY = 90
WEBP_QUALITY = 90
_PIL_FORMATS = {rules.JPEG.key: "JPEG", rules.PNG.key: "PNG", rules.WEBP.key: "WEBP"}
_PNG_MODES = frozenset({"1", "L", "LA", "RGB", "RGBA", "I;16"})
_MAX_PDF_NODES = 2_000_000


@dataclass(frozen=True)
class Inspected:
    """What is stored: the bytes (re-encoded for images), their media type and what was measured."""

    data: bytes
    media_type: str
    width: int | None = None
    height: int | None = None
    page_count: int | None = None


def check_content(kind: FileKind, data: bytes, display: str, *, max_pixels: int, max_pages: int) -> Inspected:
    """Check an accepted kind deeply; return what to store, or raise ``FileRefused``."""
    if kind == rules.PDF:
        return inspect_pdf(data, display, max_pages=max_pages)
    if kind.key in _PIL_FORMATS:
        return inspect_image(kind, data, display, max_pixels=max_pixels)
    raise rules.refuse_kind(display, kind, display, None)


# -- images ----------------------------------------------------------------------------------------


def _unreadable(display: str, kind: FileKind, exc: BaseException | None = None) -> FileRefused:
    if exc is not None and "truncated" in str(exc).lower():
        return FileRefused(Reason.UNREADABLE, f"« {display} » est incomplet : le fichier a été tronqué (envoi "
                                              "interrompu ?). Renvoyez-le en entier.")
    return FileRefused(Reason.UNREADABLE, f"« {display} » est illisible : le fichier est endommagé ou n'est pas "
                                          f"{kind.label} valide.")


def _bomb(display: str) -> FileRefused:
    return FileRefused(Reason.DECOMPRESSION_BOMB,
                       f"« {display} » contient des données qui se décompressent démesurément (bombe de "
                       "décompression) : fichier refusé.", status_code=413)


def _to_srgb(img: Image.Image) -> Image.Image:
    """Colour-manage an embedded ICC profile into sRGB; an unusable profile is simply dropped."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "RGBA", "CMYK"):
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        target = ImageCms.createProfile("sRGB")
        mode = "RGBA" if img.mode == "RGBA" else "RGB"
        converted = ImageCms.profileToProfile(img, source, target, outputMode=mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return img
    return converted if converted is not None else img


def _target_mode(img: Image.Image, pil_format: str) -> str:
    has_alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    if pil_format == "JPEG":
        return "L" if img.mode == "L" else "RGB"
    if pil_format == "WEBP":
        return "RGBA" if has_alpha else "RGB"
    if img.mode in _PNG_MODES and "transparency" not in img.info:
        return img.mode
    if img.mode in ("L", "1") and has_alpha:
        return "LA"
    return "RGBA" if has_alpha else "RGB"


def _pixels_only(img: Image.Image, mode: str) -> Image.Image:
    """A new image holding only the pixels: no ``info``, no EXIF, no profile, no palette metadata."""
    source = img if img.mode == mode else img.convert(mode)
    clean = Image.new(mode, source.size)
    clean.paste(source)
    return clean


def _encode(clean: Image.Image, pil_format: str, lossless: bool) -> bytes:
    out = io.BytesIO()
    if pil_format == "JPEG":
        clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    elif pil_format == "PNG":
        clean.save(out, "PNG", optimize=False, compress_level=6)
    else:
        clean.save(out, "WEBP", lossless=lossless, quality=100 if lossless else WEBP_QUALITY, method=4)
    return out.getvalue()


def inspect_image(kind: FileKind, data: bytes, display: str, *, max_pixels: int) -> Inspected:
    pil_format = _PIL_FORMATS[kind.key]
    declared = rules.declared_dimensions(kind, data)
    if declared is not None:
        rules.check_pixels(display, declared[0], declared[1], max_pixels)
    # Pillow's own limit follows the setting (every call of a process uses the same value).
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with Image.open(io.BytesIO(data), formats=[pil_format]) as img:
            rules.check_pixels(display, img.size[0], img.size[1], max_pixels)
            # A JPEG with several pictures (MPO: depth map, preview) keeps its first, primary one.
            if kind != rules.JPEG and (getattr(img, "is_animated", False) or getattr(img, "n_frames", 1) > 1):
                raise FileRefused(Reason.ANIMATED, f"« {display} » est une image animée : envoyez une image "
                                                   "fixe (une capture de l'image utile).")
            img.load()
            # A damaged EXIF block only loses its orientation.
            with contextlib.suppress(Exception):
                ImageOps.exif_transpose(img, in_place=True)
            upright = _to_srgb(img)
            clean = _pixels_only(upright, _target_mode(upright, pil_format))
    except FileRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise FileRefused(Reason.TOO_MANY_PIXELS,
                          f"« {display} » a une définition trop grande (plus de {max_pixels // 1_000_000} millions "
                          "de pixels). Réduisez sa définition, puis réessayez.", status_code=413) from None
    except ValueError as exc:
        if "decompressed data too large" in str(exc).lower():
            raise _bomb(display) from None
        raise _unreadable(display, kind, exc) from None
    except Exception as exc:  # whatever the decoder raises, the file is not readable
        raise _unreadable(display, kind, exc) from None
    lossless = kind == rules.WEBP and data[12:16] == b"VP8L"
    encoded = _encode(clean, pil_format, lossless)
    return Inspected(encoded, kind.media_type or "", width=clean.size[0], height=clean.size[1])


# -- PDF -------------------------------------------------------------------------------------------


def _children(value: Any) -> Iterator[Any]:
    if isinstance(value, DictionaryObject):
        yield from value.values()
    elif isinstance(value, ArrayObject):
        yield from value


def _active_in_object(root: Any, budget: list[int]) -> str | None:
    """Look through one object and its direct (not indirect) children for active content."""
    stack = [root]
    while stack:
        value = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            raise _too_complex()
        if isinstance(value, IndirectObject):
            continue  # visited on its own
        if isinstance(value, DictionaryObject):
            for key, item in value.items():
                label = rules.PDF_ACTIVE_KEYS.get(str(key))
                if label:
                    return label
                if key in ("/S", "/Type", "/Subtype") and isinstance(item, NameObject):
                    label = rules.PDF_ACTIVE_NAMES.get(str(item))
                    if label:
                        return label
                if key in rules.PDF_AUTOMATIC_TRIGGERS:
                    label = _automatic_action(str(key), item, budget)
                    if label:
                        return label
        stack.extend(_children(value))
    return None


def _resolved(value: Any) -> Any:
    return value.get_object() if isinstance(value, IndirectObject) else value


def _automatic_action(trigger: str, value: Any, budget: list[int]) -> str | None:
    """An action a viewer runs by itself, reached from ``/OpenAction`` (one action; an array there is a
    destination, not an action) or ``/AA`` (a dictionary of actions), with their ``/Next`` chains."""
    value = _resolved(value)
    if trigger == "/AA":
        pending = list(value.values()) if isinstance(value, DictionaryObject) else []
    else:
        pending = [value] if isinstance(value, DictionaryObject) else []
    seen: set[int] = set()
    while pending:
        budget[0] -= 1
        if budget[0] < 0:
            raise _too_complex()
        action = _resolved(pending.pop())
        if not isinstance(action, DictionaryObject) or id(action) in seen:
            continue
        seen.add(id(action))
        label = rules.PDF_AUTOMATIC_NAMES.get(str(action.get("/S", "")))
        if label:
            return label
        following = _resolved(action.get("/Next"))
        if isinstance(following, ArrayObject):
            pending.extend(following)
        elif following is not None:
            pending.append(following)
    return None


def _too_complex() -> FileRefused:
    return FileRefused(Reason.UNREADABLE, "Ce PDF compte trop d'objets pour être vérifié : réimprimez-le en PDF, "
                                          "puis réessayez.", status_code=413)


def _object_numbers(reader: PdfReader) -> Iterator[tuple[int, int]]:
    for generation, numbers in reader.xref.items():
        for number in numbers:
            yield number, generation
    for number in reader.xref_objStm:
        yield number, 0


def _active_content(reader: PdfReader) -> str | None:
    numbers = list(_object_numbers(reader))
    if len(numbers) > rules.MAX_PDF_OBJECTS:
        raise _too_complex()
    budget = [_MAX_PDF_NODES]
    found = _active_in_object(reader.trailer, budget)
    if found:
        return found
    for number, generation in numbers:
        obj = reader.get_object(IndirectObject(number, generation, reader))
        if obj is None:
            continue
        found = _active_in_object(obj, budget)
        if found:
            return found
    return None


def inspect_pdf(data: bytes, display: str, *, max_pages: int) -> Inspected:
    if b"%%EOF" not in data[-rules.PDF_EOF_WINDOW:]:
        raise _unreadable(display, rules.PDF, ValueError("truncated: no %%EOF at the end"))
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise FileRefused(Reason.ENCRYPTED, f"« {display} » est protégé par un mot de passe (PDF chiffré) : "
                                                "enregistrez-le sans protection, puis réessayez.")
        pages = len(reader.pages)
        rules.check_pages(display, pages, max_pages)
        label = _active_content(reader) or rules.raw_pdf_active_content(data)
        if label:
            raise FileRefused(Reason.ACTIVE_CONTENT, rules.active_content_message(display, label))
        for page in reader.pages:
            _ = page.mediabox
    except FileRefused:
        raise
    except Exception as exc:  # whatever the parser raises: not a readable PDF
        raise _unreadable(display, rules.PDF, exc) from None
    return Inspected(data, rules.PDF.media_type or "", page_count=pages)
