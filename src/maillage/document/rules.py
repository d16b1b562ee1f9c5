"""Pure rules of patient documents: what a file is (by its bytes), what may be stored, names, limits.

No I/O. The type of an upload is decided by its content (signatures below); the file name's extension
and the declared content type are claims that must agree with it. Accepted: PDF, JPEG, PNG, WebP.
Everything else gets a French message that names the file, says what it really is and what to do.
See docs/adr/0007-document-uploads.md for the reasons behind each choice.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import struct
import unicodedata
import urllib.parse
import uuid
from dataclasses import dataclass

from maillage.exceptions import Conflict, PermissionDenied, ValidationFailed
from maillage.kit.numbers import fr_number

MAX_NAME_CHARS = 150           # display names are cut (extension kept) beyond this
MAX_TITLE_CHARS = 200
MAX_PDF_OBJECTS = 100_000      # a 500-page scan has a few thousand; more is a denial-of-service attempt
SNIFF_BYTES = 4096             # how much of the start the signatures look at
PDF_EOF_WINDOW = 1024          # %%EOF must be this close to the end (PDF 32000-1, 7.5.5 and common practice)
OBJECT_TYPE = "document"       # the vault object type of a document's content

_OWNER_TYPE = re.compile(r"^[a-z][a-z0-9_.]{0,59}$")
_OWNER_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


class Reason(enum.StrEnum):
    """Why a file was refused (``details[0].reason`` of the error; the message says it in French)."""

    NO_FILE = "no_file"
    TOO_MANY_FILES = "too_many_files"
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    BAD_NAME = "bad_name"
    TYPE_REFUSED = "type_refused"
    TYPE_MISMATCH = "type_mismatch"
    UNREADABLE = "unreadable"
    TOO_MANY_PIXELS = "too_many_pixels"
    DECOMPRESSION_BOMB = "decompression_bomb"
    ANIMATED = "animated"
    TOO_MANY_PAGES = "too_many_pages"
    ACTIVE_CONTENT = "active_content"
    ENCRYPTED = "encrypted"
    TOO_MANY_DOCUMENTS = "too_many_documents"


class FileRefused(ValidationFailed):
    """A file that will not be stored, with the reason in ``details`` for programs and a French message."""

    code = "file_refused"

    def __init__(self, reason: Reason, message: str, *, status_code: int = 422):
        super().__init__(message, details=[{"field": "file", "reason": reason.value, "message": message}],
                         status_code=status_code)
        self.reason = reason


# -- kinds of files --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileKind:
    key: str
    label: str                       # French, with its article: "une image JPEG"
    media_type: str | None           # the type it is stored and served with (allowed kinds)
    extensions: tuple[str, ...] = ()
    declared_types: tuple[str, ...] = ()  # content types a client may declare for it
    allowed: bool = False
    advice: str = "Formats acceptés : PDF, JPEG, PNG et WebP."

    @property
    def extension(self) -> str:
        return self.extensions[0] if self.extensions else ""


_CONVERT_TO_PDF = "Convertissez-le en PDF avant de l'envoyer."
_SAVE_AS_IMAGE = "Enregistrez-la en JPEG ou en PNG, puis réessayez."

JPEG = FileKind("jpeg", "une image JPEG", "image/jpeg", ("jpg", "jpeg", "jpe", "jfif"),
                ("image/jpeg", "image/jpg", "image/pjpeg", "image/jpe"), allowed=True)
PNG = FileKind("png", "une image PNG", "image/png", ("png",), ("image/png", "image/x-png"), allowed=True)
WEBP = FileKind("webp", "une image WebP", "image/webp", ("webp",), ("image/webp", "image/x-webp"), allowed=True)
PDF = FileKind("pdf", "un document PDF", "application/pdf", ("pdf",),
               ("application/pdf", "application/x-pdf", "application/acrobat", "text/pdf", "text/x-pdf"),
               allowed=True)
GIF = FileKind("gif", "une image GIF", None, ("gif",), ("image/gif",), advice=_SAVE_AS_IMAGE)
TIFF = FileKind("tiff", "une image TIFF", None, ("tif", "tiff"), ("image/tiff",),
                advice="Enregistrez-la en PDF (document scanné) ou en PNG, puis réessayez.")
BMP = FileKind("bmp", "une image BMP", None, ("bmp", "dib"), ("image/bmp", "image/x-ms-bmp"), advice=_SAVE_AS_IMAGE)
HEIC = FileKind("heic", "une photo HEIC/HEIF", None, ("heic", "heif", "hif"),
                ("image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"),
                advice="Ce format n'est pas lisible ici : exportez-la en JPEG (sur iPhone : Réglages > Appareil "
                       "photo > Formats > « Le plus compatible »), puis réessayez.")
AVIF = FileKind("avif", "une image AVIF", None, ("avif",), ("image/avif",), advice=_SAVE_AS_IMAGE)
DICOM = FileKind("dicom", "un fichier DICOM", None, ("dcm", "dicom"), ("application/dicom",),
                 advice="L'imagerie DICOM se transmet par le PACS ; joignez ici le compte rendu en PDF.")
SVG = FileKind("svg", "une image SVG", None, ("svg", "svgz"), ("image/svg+xml",),
               advice="Une image SVG peut contenir des scripts : enregistrez-la en PNG, puis réessayez.")
HTML = FileKind("html", "une page HTML", None, ("html", "htm", "xhtml", "mht", "mhtml"),
                ("text/html", "application/xhtml+xml"), advice=_CONVERT_TO_PDF)
XML = FileKind("xml", "un document XML", None, ("xml",), ("application/xml", "text/xml"), advice=_CONVERT_TO_PDF)
ZIP = FileKind("zip", "une archive ZIP", None, ("zip", "jar", "apk"),
               ("application/zip", "application/x-zip-compressed"),
               advice="Les archives ne sont pas acceptées : envoyez les fichiers un par un.")
ARCHIVE = FileKind("archive", "une archive compressée", None, ("gz", "tgz", "bz2", "xz", "7z", "rar", "zst", "tar",
                                                                "cab"),
                   ("application/gzip", "application/x-7z-compressed", "application/vnd.rar",
                    "application/x-rar-compressed", "application/x-tar", "application/x-bzip2", "application/x-xz"),
                   advice="Les archives ne sont pas acceptées : envoyez les fichiers un par un.")
OFFICE = FileKind("office", "un document Word, Excel ou PowerPoint", None,
                  ("docx", "docm", "xlsx", "xlsm", "pptx", "pptm", "doc", "xls", "ppt", "msg"),
                  ("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                   "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                   "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint"),
                  advice=_CONVERT_TO_PDF)
OPENDOCUMENT = FileKind("opendocument", "un document OpenDocument (LibreOffice)", None, ("odt", "ods", "odp", "odg"),
                        ("application/vnd.oasis.opendocument.text",
                         "application/vnd.oasis.opendocument.spreadsheet"), advice=_CONVERT_TO_PDF)
RTF = FileKind("rtf", "un document RTF", None, ("rtf",), ("application/rtf", "text/rtf"), advice=_CONVERT_TO_PDF)
POSTSCRIPT = FileKind("postscript", "un document PostScript", None, ("ps", "eps"),
                      ("application/postscript",), advice=_CONVERT_TO_PDF)
EXECUTABLE = FileKind("executable", "un programme exécutable", None,
                      ("exe", "dll", "msi", "com", "scr", "elf", "so", "dylib", "bin", "class", "wasm"),
                      ("application/x-msdownload", "application/x-dosexec", "application/x-executable",
                       "application/x-msi", "application/java-vm", "application/wasm"),
                      advice="Les programmes ne sont jamais acceptés.")
SCRIPT = FileKind("script", "un script", None, ("sh", "bash", "bat", "cmd", "ps1", "vbs", "js", "py", "pl", "php"),
                  ("application/x-sh", "text/x-shellscript", "application/javascript", "text/javascript",
                   "application/x-python", "application/x-php"),
                  advice="Les scripts ne sont jamais acceptés.")
MEDIA = FileKind("media", "une vidéo ou un fichier audio", None,
                 ("mp4", "m4v", "mov", "3gp", "avi", "wav", "m4a", "mp3", "webm", "mkv"),
                 ("video/mp4", "video/quicktime", "video/3gpp", "video/x-msvideo", "audio/wav", "audio/mp4",
                  "audio/mpeg", "video/webm"),
                 advice="Les vidéos et sons ne sont pas acceptés ici ; envoyez une image ou un PDF.")
TEXT = FileKind("text", "un fichier texte", None, ("txt", "csv", "log", "md", "json"),
                ("text/plain", "text/csv", "application/json"), advice="Enregistrez-le en PDF avant de l'envoyer.")
UNKNOWN = FileKind("unknown", "un fichier de format non reconnu", None)

KINDS: tuple[FileKind, ...] = (JPEG, PNG, WEBP, PDF, GIF, TIFF, BMP, HEIC, AVIF, DICOM, SVG, HTML, XML, ZIP,
                               ARCHIVE, OFFICE, OPENDOCUMENT, RTF, POSTSCRIPT, EXECUTABLE, SCRIPT, MEDIA, TEXT)
ALLOWED_KINDS: tuple[FileKind, ...] = tuple(kind for kind in KINDS if kind.allowed)
_BY_EXTENSION: dict[str, FileKind] = {ext: kind for kind in KINDS for ext in kind.extensions}
_BY_DECLARED: dict[str, FileKind] = {t: kind for kind in KINDS for t in kind.declared_types}
# What clients send when they do not know: no claim at all.
GENERIC_DECLARED_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream",
                                    "application/x-download", "application/force-download", "application/unknown"})


# -- sniffing: what the bytes are ------------------------------------------------------------------

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1",
                          b"msf1", b"mif2", b"miaf"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_MACHO = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
_ARCHIVES = (b"\x1f\x8b", b"\xfd7zXZ\x00", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07", b"\x28\xb5\x2f\xfd", b"MSCF")
_HTML_MARKERS = ("<!doctype html", "<html", "<head", "<body", "<script", "<iframe", "<frameset", "<object",
                 "<embed", "<meta", "<a href", "<img")


def _iso_bmff_kind(head: bytes) -> FileKind:
    size = struct.unpack(">I", head[:4])[0]
    box = head[8:max(16, min(size, 256))]
    brands = {box[i:i + 4] for i in range(0, len(box) - 3, 4)} - {b"\x00\x00\x00\x00"}
    if brands & _AVIF_BRANDS:
        return AVIF
    if brands & _HEIF_BRANDS:
        return HEIC
    return MEDIA


def _zip_kind(head: bytes) -> FileKind:
    if b"[Content_Types].xml" in head or any(p in head for p in (b"word/", b"xl/", b"ppt/")):
        return OFFICE
    if head[30:38] == b"mimetype" and b"application/vnd.oasis.opendocument" in head[38:120]:
        return OPENDOCUMENT
    return ZIP


def _decode_text(head: bytes) -> str | None:
    """The start of the file as text, if it is text (UTF-8, or UTF-16 with a byte order mark)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16-le" if head[0] == 0xFF else "utf-16-be"
        candidates = [head[2:len(head) - (len(head) % 2) - cut] for cut in (0, 2)]
    else:
        body = head.removeprefix(b"\xef\xbb\xbf")
        encoding = "utf-8"
        candidates = [body[:len(body) - cut] for cut in range(4)]  # the cut may split the last character
    for candidate in candidates:
        try:
            text = candidate.decode(encoding)
        except UnicodeDecodeError:
            continue
        if text and not any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\t\n\r\f" for c in text):
            return text
        return None
    return None


def _text_kind(text: str) -> FileKind:
    lower = text.lstrip().lower()
    if lower.startswith("#!") or lower.startswith(("<?php", "@echo", "<%@")):
        return SCRIPT
    if lower.startswith("%!ps"):
        return POSTSCRIPT
    if lower.startswith("{\\rtf"):
        return RTF
    if "<svg" in lower:
        return SVG
    if any(marker in lower for marker in _HTML_MARKERS):
        return HTML
    if lower.startswith("<?xml") or lower.startswith("<"):
        return XML
    return TEXT


def sniff(data: bytes) -> FileKind:
    """What the content is, from its first bytes alone. Never trusts the name or the declared type."""
    head = bytes(data[:SNIFF_BYTES])
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    if head[:2] == b"BM" and len(head) >= 18 and struct.unpack("<I", head[14:18])[0] in (12, 40, 52, 56, 64, 108, 124):
        return BMP
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _iso_bmff_kind(head)
    if head[:4] == b"RIFF" or head.startswith((b"\x1aE\xdf\xa3", b"ID3", b"OggS", b"fLaC")):
        return MEDIA
    if len(head) >= 132 and head[128:132] == b"DICM":
        return DICOM
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _zip_kind(head)
    if head.startswith(_ARCHIVES) or (head[:3] == b"BZh" and head[3:4].isdigit()) or head[257:262] == b"ustar":
        return ARCHIVE
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return OFFICE
    if head.startswith((b"MZ", b"\x7fELF", b"\x00asm")) or head.startswith(_MACHO):
        return EXECUTABLE
    if head.startswith(b"\xc5\xd0\xd3\xc6"):
        return POSTSCRIPT
    text = _decode_text(head)
    if text is not None:
        return _text_kind(text)
    return UNKNOWN


# -- claims: the name's extension and the declared type --------------------------------------------


def extension_of(name: str) -> str:
    """The lower-case extension of a name ("" when there is none)."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or not ext.isalnum() or len(ext) > 10:
        return ""
    return ext.lower()


def normalise_declared_type(declared: str | None) -> str:
    """``image/JPEG; charset=x`` → ``image/jpeg``; nothing → ``""``."""
    if not declared:
        return ""
    return declared.split(";", 1)[0].strip().lower()[:127]


def claimed_kinds(name: str, declared: str | None) -> tuple[FileKind | None, FileKind | None]:
    """The kinds the extension and the declared type point to (None: no claim, or an unknown one)."""
    by_ext = _BY_EXTENSION.get(extension_of(name))
    by_type = _BY_DECLARED.get(normalise_declared_type(declared))
    return by_ext, by_type


def refuse_kind(display: str, actual: FileKind, name: str, declared: str | None) -> FileRefused:
    """The error for a kind that is never stored, saying what it really is if the claims said otherwise."""
    by_ext, by_type = claimed_kinds(name, declared)
    claimed_other = (by_ext is not None and by_ext != actual) or (by_type is not None and by_type != actual)
    verb = "est en réalité" if claimed_other else "est"
    return FileRefused(
        Reason.TYPE_REFUSED,
        f"« {display} » {verb} {actual.label} : ce format n'est pas accepté. {actual.advice}",
        status_code=415,
    )


def check_claims(display: str, actual: FileKind, name: str, declared: str | None) -> None:
    """An accepted kind must match the name's extension and the declared type, when they make a claim."""
    ext = extension_of(name)
    by_ext, _ = claimed_kinds(name, declared)
    if by_ext is not None and by_ext != actual:
        raise FileRefused(
            Reason.TYPE_MISMATCH,
            f"« {display} » : l'extension « .{ext} » ne correspond pas : c'est en réalité {actual.label}. "
            f"Renommez le fichier en « .{actual.extension} » s'il s'agit bien du bon document.",
        )
    declared_type = normalise_declared_type(declared)
    if declared_type not in GENERIC_DECLARED_TYPES and declared_type not in actual.declared_types:
        raise FileRefused(
            Reason.TYPE_MISMATCH,
            f"« {display} » est déclaré comme « {declared_type} » mais c'est en réalité {actual.label} : "
            "le type annoncé ne correspond pas au contenu.",
        )


# -- names and titles ------------------------------------------------------------------------------

# Bidirectional controls can make "photo\u202egpj.exe" display as "photoexe.jpg".
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_KEPT_FORMAT_CHARS = frozenset("\u200d")  # zero-width joiner, inside emoji sequences


def _is_control(c: str) -> bool:
    return unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in _BIDI_CONTROLS


def _hostile_name_problem(raw: str) -> str | None:
    if any(_is_control(c) for c in raw):
        return ("le nom du fichier contient des caractères de contrôle ou d'inversion du sens d'écriture. "
                "Renommez le fichier, puis réessayez.")
    if "/" in raw or "\\" in raw or raw.strip() in (".", ".."):
        return ("le nom du fichier contient un chemin (« / », « \\ » ou « .. »). Envoyez le fichier sous son "
                "seul nom, puis réessayez.")
    return None


def check_filename(raw: str | None) -> str:
    """The display name of an upload: NFC, no invisible format characters, trimmed, at most MAX_NAME_CHARS.

    Names carrying a path or control characters are refused rather than repaired: they are not what a
    person's file manager sends, and the person should see what was refused. The name is only ever
    displayed; the vault stores content by id.
    """
    if raw is None:
        return ""
    problem = _hostile_name_problem(raw)
    if problem:
        raise FileRefused(Reason.BAD_NAME, f"Fichier refusé : {problem}")
    name = unicodedata.normalize("NFC", raw)
    name = "".join(c for c in name if unicodedata.category(c) != "Cf" or c in _KEPT_FORMAT_CHARS)
    name = " ".join(name.split()).strip(" .")
    if len(name) > MAX_NAME_CHARS:
        ext = extension_of(name)
        keep = MAX_NAME_CHARS - (len(ext) + 1 if ext else 0)
        name = name[:keep].rstrip(" .") + (f".{ext}" if ext else "")
    return name


def display_name(name: str, kind: FileKind) -> str:
    """The stored name: the checked name, with the kind's extension added when it has none of its own."""
    base = name or "document"
    if extension_of(base) in kind.extensions:
        return base
    return f"{base}.{kind.extension}"


def clean_title(title: str | None) -> str | None:
    if title is None:
        return None
    if any(_is_control(c) for c in title.replace("\n", " ").replace("\t", " ")):
        raise ValidationFailed("Le titre contient des caractères de contrôle.",
                               details=[{"field": "title", "message": "Caractères de contrôle."}])
    text = " ".join(unicodedata.normalize("NFC", title).split())
    if len(text) > MAX_TITLE_CHARS:
        raise ValidationFailed(f"Le titre dépasse {MAX_TITLE_CHARS} caractères.",
                               details=[{"field": "title", "message": "Trop long."}])
    return text or None


def _ascii_fallback(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9._ ()+-]", "_", plain).strip(" ._")


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the exact UTF-8 name (RFC 6266 and RFC 8187)."""
    ext = extension_of(name)
    stem = name[: -(len(ext) + 1)] if ext else name
    fallback = (_ascii_fallback(stem) or "document") + (f".{_ascii_fallback(ext)}" if _ascii_fallback(ext) else "")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


# -- sizes, pixels, pages --------------------------------------------------------------------------


def _mebibytes(n: int) -> str:
    return fr_number(n / 1_048_576, 1).removesuffix(",0")


def check_size(display: str, size: int, max_bytes: int) -> None:
    if size == 0:
        raise FileRefused(Reason.EMPTY, f"« {display} » est vide (0 octet) : vérifiez le fichier, puis réessayez.")
    if size > max_bytes:
        raise FileRefused(
            Reason.TOO_LARGE,
            f"« {display} » pèse {_mebibytes(size)} Mio : la taille maximale d'un document est de "
            f"{_mebibytes(max_bytes)} Mio.",
            status_code=413,
        )


def check_pixels(display: str, width: int, height: int, max_pixels: int) -> None:
    """The pixel count is checked from the header, before any decoding (a decompression bomb is refused here)."""
    if width <= 0 or height <= 0:
        raise FileRefused(Reason.UNREADABLE, f"« {display} » est une image illisible : dimensions nulles.")
    if width * height > max_pixels:
        raise FileRefused(
            Reason.TOO_MANY_PIXELS,
            f"« {display} » a une définition trop grande ({fr_number(width, 0)} × {fr_number(height, 0)}, soit "
            f"{fr_number(width * height / 1_000_000)} millions de pixels ; "
            f"{fr_number(max_pixels / 1_000_000)} millions au plus). "
            "Réduisez sa définition, puis réessayez.",
            status_code=413,
        )


def check_pages(display: str, pages: int, max_pages: int) -> None:
    if pages < 1:
        raise FileRefused(Reason.UNREADABLE, f"« {display} » est un PDF illisible : il ne contient aucune page.")
    if pages > max_pages:
        raise FileRefused(
            Reason.TOO_MANY_PAGES,
            f"« {display} » compte {pages} pages ({max_pages} au plus) : découpez-le en plusieurs documents.",
            status_code=413,
        )


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    i = 2
    end = len(data)
    while i + 4 <= end:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return None
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if i + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    return None


def _webp_dimensions(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and len(data) >= 30:
        return (struct.unpack("<H", data[26:28])[0] & 0x3FFF, struct.unpack("<H", data[28:30])[0] & 0x3FFF)
    return None


def declared_dimensions(kind: FileKind, data: bytes) -> tuple[int, int] | None:
    """Width and height as the image's header declares them, read without decoding (None if not found)."""
    if kind == PNG and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if kind == JPEG:
        return _jpeg_dimensions(data)
    if kind == WEBP:
        return _webp_dimensions(data)
    return None


# -- PDF active content ----------------------------------------------------------------------------

_JAVASCRIPT = "JavaScript"
_LAUNCH = "une action qui peut lancer un programme"
_EMBEDDED = "un fichier incorporé"
_XFA = "un formulaire XFA"
_SUBMIT = "un envoi ou une importation de données"
_RICH_MEDIA = "du contenu multimédia actif"
_REMOTE_FILE = "un renvoi vers un autre fichier"
_AUTOMATIC_LINK = "un lien qui s'ouvre tout seul"

# Dictionary keys that are active content wherever they appear.
PDF_ACTIVE_KEYS: dict[str, str] = {
    "/JS": _JAVASCRIPT, "/JavaScript": _JAVASCRIPT, "/XFA": _XFA, "/EmbeddedFiles": _EMBEDDED, "/EF": _EMBEDDED,
    "/RichMediaContent": _RICH_MEDIA,
}
# Values of /S (action type), /Type or /Subtype that are active content.
PDF_ACTIVE_NAMES: dict[str, str] = {
    "/JavaScript": _JAVASCRIPT, "/Launch": _LAUNCH, "/ImportData": _SUBMIT, "/SubmitForm": _SUBMIT,
    "/GoToE": _EMBEDDED, "/EmbeddedFile": _EMBEDDED, "/FileAttachment": _EMBEDDED, "/RichMedia": _RICH_MEDIA,
    "/RichMediaExecute": _RICH_MEDIA, "/GoToR": _REMOTE_FILE,
}
# Action types (``/S``) refused only when a viewer runs them by itself: from the document's ``/OpenAction`` or
# from an additional-actions dictionary ``/AA`` (document, page, annotation or form field: opening, closing,
# printing, the pointer entering a zone...), following their ``/Next`` chains. A link the reader clicks may be a
# ``/URI``; a link that opens an address as soon as the document is shown reports its reading to a server.
PDF_AUTOMATIC_NAMES: dict[str, str] = {"/URI": _AUTOMATIC_LINK}
# Keys whose value a viewer runs by itself: an action (``/OpenAction``) or a dictionary of actions (``/AA``).
PDF_AUTOMATIC_TRIGGERS = ("/OpenAction", "/AA")
# Names looked for in the raw bytes outside streams, in case an object hides from the parser.
_RAW_ACTIVE = {"/JS": _JAVASCRIPT, "/JavaScript": _JAVASCRIPT, "/Launch": _LAUNCH, "/XFA": _XFA,
               "/EmbeddedFile": _EMBEDDED, "/EmbeddedFiles": _EMBEDDED, "/RichMedia": _RICH_MEDIA,
               "/ImportData": _SUBMIT, "/SubmitForm": _SUBMIT, "/GoToE": _EMBEDDED, "/GoToR": _REMOTE_FILE}
_STREAM_BODY = re.compile(rb"stream\r?\n.*?endstream", re.DOTALL)
_NAME_TOKEN = re.compile(rb"/[^\x00\t\n\x0c\r ()<>\[\]{}/%]+")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")


def raw_pdf_active_content(data: bytes) -> str | None:
    """Active-content names written anywhere outside stream bodies, with ``#xx`` escapes decoded."""
    outside = _STREAM_BODY.sub(b" ", data)
    for match in _NAME_TOKEN.finditer(outside):
        token = match.group(0)
        if b"#" in token:
            token = _NAME_ESCAPE.sub(lambda m: bytes((int(m.group(1), 16),)), token)
        label = _RAW_ACTIVE.get(token.decode("latin-1"))
        if label:
            return label
    return None


def active_content_message(display: str, label: str) -> str:
    return (f"« {display} » contient {label if label != _JAVASCRIPT else 'du JavaScript'} : un PDF à contenu "
            "actif est refusé. Réimprimez-le en PDF (Imprimer > Enregistrer au format PDF) pour n'en garder "
            "que les pages, puis réessayez.")


# -- owners and deletion ---------------------------------------------------------------------------


def check_owner(owner_type: str, owner_id: str) -> None:
    """What a document is attached to: ``patient`` + its id, ``teleexpertise_request`` + its id, …"""
    if not isinstance(owner_type, str) or not _OWNER_TYPE.match(owner_type):
        raise ValidationFailed("Type de rattachement invalide : minuscules, chiffres, « _ » et « . ».")
    if not isinstance(owner_id, str) or not _OWNER_ID.match(owner_id):
        raise ValidationFailed("Identifiant de rattachement invalide : lettres, chiffres et « _ . : - ».")


def check_owner_count(count: int, max_per_owner: int) -> None:
    if count >= max_per_owner:
        raise FileRefused(
            Reason.TOO_MANY_DOCUMENTS,
            f"Ce dossier compte déjà {count} documents ({max_per_owner} au plus) : supprimez ceux qui n'ont plus "
            "lieu d'être avant d'en ajouter.",
            status_code=409,
        )


def check_may_delete(uploaded_by: uuid.UUID | None, actor_id: uuid.UUID) -> None:
    """Only the professional who uploaded a document may delete it (others keep it in the record)."""
    if uploaded_by != actor_id:
        raise PermissionDenied("Seul le professionnel qui a déposé ce document peut le supprimer.")


# -- what a document is: type, class, source, status, confidentiality (issue 20) -------------------------------------


class DocumentClass(enum.StrEnum):
    """The coarse class of a document, for filters and for retention (each LOINC type below belongs to one)."""

    REPORT = "report"
    SUMMARY = "summary"
    PRESCRIPTION = "prescription"
    IMAGE = "image"
    LABORATORY = "laboratory"
    ADMINISTRATIVE = "administrative"

    @property
    def label(self) -> str:
        return {"report": "Compte rendu", "summary": "Synthèse", "prescription": "Prescription",
                "image": "Image", "laboratory": "Biologie", "administrative": "Administratif"}[self.value]


@dataclass(frozen=True)
class DocumentType:
    code: str               # LOINC code
    display: str            # LOINC long common name (English, as LOINC publishes it)
    label: str              # French, for people
    document_class: DocumentClass


LOINC_SYSTEM = "http://loinc.org"
LOINC_OID = "2.16.840.1.113883.6.1"

# Document types, by LOINC code. Source: LOINC (Regenstrief Institute), Document Ontology; these are the codes the
# IHE XDS / FHIR DocumentReference ``type`` carries (HL7 FHIR R4 value set "FHIR Document Type Codes", the LOINC
# codes with scale DOC). The French labels are ours.
DOCUMENT_TYPES: dict[str, DocumentType] = {t.code: t for t in (
    DocumentType("11488-4", "Consult note", "Compte rendu de consultation", DocumentClass.REPORT),
    DocumentType("11506-3", "Progress note", "Note d'évolution", DocumentClass.REPORT),
    DocumentType("34117-2", "History and physical note", "Observation médicale", DocumentClass.REPORT),
    DocumentType("18842-5", "Discharge summary", "Compte rendu d'hospitalisation", DocumentClass.SUMMARY),
    DocumentType("34133-9", "Summary of episode note", "Synthèse", DocumentClass.SUMMARY),
    DocumentType("57833-6", "Prescription for medication", "Ordonnance", DocumentClass.PRESCRIPTION),
    DocumentType("72170-4", "Photographic image", "Photographie", DocumentClass.IMAGE),
    DocumentType("18748-4", "Diagnostic imaging study", "Compte rendu d'imagerie", DocumentClass.IMAGE),
    DocumentType("11502-2", "Laboratory report", "Compte rendu de biologie", DocumentClass.LABORATORY),
    DocumentType("51851-4", "Administrative note", "Document administratif", DocumentClass.ADMINISTRATIVE),
)}
CONSULT_NOTE = "11488-4"
PHOTOGRAPH = "72170-4"
SUMMARY_NOTE = "34133-9"


def document_type(code: str | None) -> DocumentType:
    """The type of a LOINC code of the table; ``ValidationFailed`` (French) otherwise."""
    found = DOCUMENT_TYPES.get(code or "")
    if found is None:
        raise ValidationFailed("Type de document inconnu : choisissez-en un dans la liste.",
                               details=[{"field": "type_code", "message": "Type de document inconnu."}])
    return found


def default_type_for(media_type: str) -> str:
    """The type an untyped file gets: a photograph for an image, a summary otherwise (the author can change it)."""
    return PHOTOGRAPH if media_type.startswith("image/") else SUMMARY_NOTE


class Source(enum.StrEnum):
    UPLOAD = "upload"
    REPORT = "report"
    MAIL = "mail"
    MESSAGE = "message"

    @property
    def label(self) -> str:
        return {"upload": "Déposé", "report": "Compte rendu généré", "mail": "Reçu par messagerie sécurisée",
                "message": "Classé depuis un message"}[self.value]


class Status(enum.StrEnum):
    CURRENT = "current"
    SUPERSEDED = "superseded"
    ENTERED_IN_ERROR = "entered_in_error"

    @property
    def label(self) -> str:
        return {"current": "En vigueur", "superseded": "Remplacé par une version plus récente",
                "entered_in_error": "Saisi par erreur"}[self.value]

    @property
    def fhir(self) -> str:
        """``DocumentReference.status`` (FHIR R4 value set document-reference-status)."""
        return {"current": "current", "superseded": "superseded", "entered_in_error": "entered-in-error"}[self.value]


# Allowed status changes. A new version supersedes the current one; any version that is not already in error may be
# marked entered in error (with a reason). Nothing comes back: entering the newest version in error does not revive
# the one it replaced (a person uploads the right version instead), and an error is never undone (the trace stays).
# Modelled on FHIR R4 DocumentReference.status (current | superseded | entered-in-error).
ALLOWED_STATUS_TRANSITIONS: frozenset[tuple[Status, Status]] = frozenset({
    (Status.CURRENT, Status.SUPERSEDED),
    (Status.CURRENT, Status.ENTERED_IN_ERROR),
    (Status.SUPERSEDED, Status.ENTERED_IN_ERROR),
})
MIN_ERROR_REASON_CHARS = 5
MAX_ERROR_REASON_CHARS = 500


def can_transition(current: Status, target: Status) -> bool:
    return (current, target) in ALLOWED_STATUS_TRANSITIONS


def check_transition(current: Status, target: Status) -> Status:
    if not can_transition(current, target):
        raise Conflict(f"Document « {current.label} » : il ne peut pas passer à « {target.label} ».")
    return target


def check_new_version_of(status: Status) -> None:
    """Only the version in force gets a new version (a superseded one already has its successor)."""
    if status is not Status.CURRENT:
        raise Conflict("Seule la version en vigueur d'un document peut recevoir une nouvelle version.")


def clean_error_reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if len(text) < MIN_ERROR_REASON_CHARS:
        raise ValidationFailed(f"Dites pourquoi ce document est saisi par erreur ({MIN_ERROR_REASON_CHARS} "
                               "caractères au moins).", details=[{"field": "reason", "message": "Motif requis."}])
    if len(text) > MAX_ERROR_REASON_CHARS:
        raise ValidationFailed(f"Motif trop long ({MAX_ERROR_REASON_CHARS} caractères au plus).",
                               details=[{"field": "reason", "message": "Motif trop long."}])
    return text


class Confidentiality(enum.StrEnum):
    NORMAL = "normal"
    RESTRICTED = "restricted"

    @property
    def label(self) -> str:
        return {"normal": "Normale", "restricted": "Réservée à l'équipe de l'auteur"}[self.value]

    @property
    def hl7(self) -> str:
        """HL7 v3 Confidentiality code (N normal, R restricted), for FHIR ``securityLabel`` and CDA."""
        return {"normal": "N", "restricted": "R"}[self.value]


def may_see(confidentiality: Confidentiality, *, author_id: uuid.UUID, actor_id: uuid.UUID,
            same_team: bool) -> bool:
    """A normal document is seen by whoever may see the patient; a restricted one by its author and the people who
    share a team with the author (a specialty line or a care unit), and no one else (to them it does not exist)."""
    if confidentiality is Confidentiality.NORMAL:
        return True
    return actor_id == author_id or same_team


def check_act_date(act_date: dt.date, today: dt.date) -> dt.date:
    if act_date > today:
        raise ValidationFailed("La date de l'acte ne peut pas être dans le futur.",
                               details=[{"field": "act_date", "message": "Date dans le futur."}])
    if act_date.year < 1900:
        raise ValidationFailed("Date de l'acte invalide.", details=[{"field": "act_date", "message": "Date invalide."}])
    return act_date


# -- retention ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionRule:
    """How long one class of document is kept, from a date of effect."""

    document_class: DocumentClass
    valid_from: dt.date          # the rule applies to evaluations on or after this date
    years_after_last_care: int   # from the patient's last stay or consultation
    until_age: int | None        # and at least until this birthday of the patient
    source: str


_R1112_7 = ("Code de la santé publique, art. R1112-7 (décret n° 2006-6 du 4 janvier 2006) : dossier médical conservé "
            "vingt ans à compter du dernier séjour ou de la dernière consultation externe, prorogé jusqu'au "
            "vingt-huitième anniversaire du patient le cas échéant")
MEDICAL_RECORD_YEARS = 20
MEDICAL_RECORD_UNTIL_AGE = 28

# Dated rule table. Every class is part of the medical record (CSP R1112-2 lists consultation reports, discharge
# summaries, prescriptions, imaging and laboratory results among its contents), so each takes the record's rule;
# a class that gets a different rule later gets a new row with its date of effect, the old row stays for history.
RETENTION_RULES: tuple[RetentionRule, ...] = tuple(
    RetentionRule(c, dt.date(2006, 1, 4), MEDICAL_RECORD_YEARS, MEDICAL_RECORD_UNTIL_AGE, _R1112_7)
    for c in DocumentClass
)


def retention_rule(document_class: DocumentClass, on: dt.date,
                   rules: tuple[RetentionRule, ...] = RETENTION_RULES) -> RetentionRule:
    """The rule in force on ``on`` for this class: the latest one whose date of effect is not after ``on``."""
    candidates = [r for r in rules if r.document_class is document_class and r.valid_from <= on]
    if not candidates:
        raise ValueError(f"no retention rule for {document_class} on {on}")
    return max(candidates, key=lambda r: r.valid_from)


def add_years(day: dt.date, years: int) -> dt.date:
    """``day`` plus whole years; 29 February lands on 1 March in a common year (keeping a day longer, never less)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return dt.date(day.year + years, 3, 1)


def retained_until(rule: RetentionRule, *, last_care: dt.date, birth_date: dt.date) -> dt.date:
    """The last day the document must be kept: ``years`` after the last care, and not before the patient's
    ``until_age`` birthday."""
    end = add_years(last_care, rule.years_after_last_care)
    if rule.until_age is not None:
        end = max(end, add_years(birth_date, rule.until_age))
    return end


def may_purge(*, retained_until_day: dt.date, today: dt.date, legal_hold: bool) -> bool:
    """Past its retention (the day after the last day kept) and not under legal hold."""
    return not legal_hold and today > retained_until_day
